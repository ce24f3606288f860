"""Flyte LiteralMaps on the protobuf wire (flyteidl.core), the subset a task's inputs and outputs use.

A hand-written codec so the pyflyte-execute stand-in needs no protobuf package; the tests decode
what it writes with Flyte's own generated code, so a mistake here fails them.
  LiteralMap{1: map<string, Literal>}  Literal{1: Scalar, 2: LiteralCollection, 3: LiteralMap}
  Scalar{1: Primitive, 2: Blob}  Primitive{1: int64, 2: double, 3: string, 4: bool}
  Blob{1: BlobMetadata{1: BlobType{1: format, 2: dimensionality}}, 3: uri}
"""
import struct


def _varint(value):
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number, wire, payload):
    key = _varint(number << 3 | wire)
    if wire == 2:
        return key + _varint(len(payload)) + payload
    return key + payload


def _fields(data):
    """Yields (number, wire type, value) of a message; unknown fields are skipped by the callers."""
    at = 0
    while at < len(data):
        key, at = _read_varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _read_varint(data, at)
        elif wire == 1:
            value, at = data[at:at + 8], at + 8
        elif wire == 2:
            size, at = _read_varint(data, at)
            value, at = data[at:at + size], at + size
        elif wire == 5:
            value, at = data[at:at + 4], at + 4
        else:
            raise ValueError(f"protobuf wire type {wire} is not supported")
        yield number, wire, value


def _read_varint(data, at):
    shift = value = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def decode_literal_map(data):
    """{name: literal}; a literal is {"blob": {"uri", "format"}}, {"primitive": value}, {"collection": [..]} or {"map": {..}}."""
    result = {}
    for number, _, entry in _fields(data):
        if number != 1:
            continue
        key, literal = "", {}
        for n, _, v in _fields(entry):
            if n == 1:
                key = v.decode("utf-8")
            elif n == 2:
                literal = decode_literal(v)
        result[key] = literal
    return result


def decode_literal(data):
    for number, _, value in _fields(data):
        if number == 1:
            return _decode_scalar(value)
        if number == 2:
            return {"collection": [decode_literal(v) for n, _, v in _fields(value) if n == 1]}
        if number == 3:
            return {"map": decode_literal_map(value)}
    return {}


def _decode_scalar(data):
    for number, _, value in _fields(data):
        if number == 1:
            for n, wire, v in _fields(value):
                if n == 1:
                    return {"primitive": v - (1 << 64) if v >= 1 << 63 else v}
                if n == 2:
                    return {"primitive": struct.unpack("<d", v)[0]}
                if n == 3:
                    return {"primitive": v.decode("utf-8")}
                if n == 4:
                    return {"primitive": bool(v)}
            return {"primitive": None}
        if number == 2:
            blob = {"uri": "", "format": "", "dimensionality": 0}
            for n, _, v in _fields(value):
                if n == 3:
                    blob["uri"] = v.decode("utf-8")
                elif n == 1:
                    for m, _, t in _fields(v):
                        if m == 1:
                            for k, _, x in _fields(t):
                                if k == 1:
                                    blob["format"] = x.decode("utf-8")
                                elif k == 2:
                                    blob["dimensionality"] = x
            return {"blob": blob}
    return {}


def encode_literal_map(literals):
    out = b""
    for key in sorted(literals):
        entry = _field(1, 2, key.encode("utf-8")) + _field(2, 2, encode_literal(literals[key]))
        out += _field(1, 2, entry)
    return out


def encode_literal(literal):
    if "blob" in literal:
        blob = literal["blob"]
        blob_type = _field(1, 2, blob["format"].encode("utf-8"))
        if blob.get("dimensionality"):
            blob_type += _field(2, 0, _varint(blob["dimensionality"]))
        payload = _field(1, 2, _field(1, 2, blob_type)) + _field(3, 2, blob["uri"].encode("utf-8"))
        return _field(1, 2, _field(2, 2, payload))
    if "primitive" in literal:
        value = literal["primitive"]
        if isinstance(value, bool):
            primitive = _field(4, 0, _varint(int(value)))
        elif isinstance(value, int):
            primitive = _field(1, 0, _varint(value))
        elif isinstance(value, float):
            primitive = _field(2, 1, struct.pack("<d", value))
        else:
            primitive = _field(3, 2, str(value).encode("utf-8"))
        return _field(1, 2, _field(1, 2, primitive))
    if "collection" in literal:
        return _field(2, 2, b"".join(_field(1, 2, encode_literal(item)) for item in literal["collection"]))
    if "map" in literal:
        return _field(3, 2, encode_literal_map(literal["map"]))
    raise ValueError(f"cannot encode literal {literal!r}")
