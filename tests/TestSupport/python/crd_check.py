"""Checks CRD manifests with Python's YAML parser and JSON Schema validator (Debian packages).

    crd_check.py roundtrip YAML_FILE JSON_FILE   -> {"equal": bool}
    crd_check.py validate CRD_DIR SAMPLE_FILE     -> {"errors": [...]}  (every document in the sample)
"""
import glob
import json
import os
import sys

import jsonschema
import yaml


def roundtrip(yaml_file, json_file):
    with open(yaml_file) as f:
        parsed = yaml.safe_load(f)
    with open(json_file) as f:
        expected = json.load(f)
    return {"equal": parsed == expected}


def validate(crd_dir, sample_file):
    schemas = {}
    for path in glob.glob(os.path.join(crd_dir, "*.yaml")):
        with open(path) as f:
            crd = yaml.safe_load(f)
        for version in crd["spec"]["versions"]:
            key = (crd["spec"]["group"] + "/" + version["name"], crd["spec"]["names"]["kind"])
            schemas[key] = version["schema"]["openAPIV3Schema"]
    errors = []
    with open(sample_file) as f:
        for document in yaml.safe_load_all(f):
            key = (document.get("apiVersion"), document.get("kind"))
            if key not in schemas:
                errors.append("%s/%s: no CRD for this kind" % key)
                continue
            validator = jsonschema.Draft7Validator(schemas[key])
            for error in validator.iter_errors(document):
                errors.append("%s: %s" % ("/".join(str(p) for p in error.absolute_path), error.message))
    return {"errors": errors}


if __name__ == "__main__":
    mode = sys.argv[1]
    result = roundtrip(*sys.argv[2:4]) if mode == "roundtrip" else validate(*sys.argv[2:4])
    print(json.dumps(result))
