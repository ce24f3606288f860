"""Puts one section of docs/benchmarks.md in place: replaces the section whose heading starts with
the same text, or appends it. Each bench script writes only its own section.

    section.py SECTION_FILE BENCHMARKS_MD      (as a command)
    replace_section(target, section)           (from a report script)
"""
import os
import re
import sys

HEADER = "# Benchmarks\n\nEach section is written by its script under `bench/`; rerun it to refresh the numbers.\n\n"


def replace_section(target, section):
    heading = section.splitlines()[0].split(":")[0]
    text = open(target).read() if os.path.exists(target) else HEADER
    pattern = re.compile(re.escape(heading) + r":.*?(?=\n## |\Z)", re.S)
    body = section.rstrip("\n") + "\n"
    text = pattern.sub(lambda _: body, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + body
    with open(target, "w") as f:
        f.write(text)


if __name__ == "__main__":
    replace_section(sys.argv[2], open(sys.argv[1]).read())
