"""Zip archives written by CPython's zipfile in the layouts a reader meets, listed by zipfile itself.

Usage: zip_layouts.py FOLDER. Writes FOLDER/<layout>.zip and prints a JSON object mapping each layout to its
records as zipfile reads them: name, method, crc, compressed and uncompressed size, the local header's
offset and where the record's data starts (after the local header's own name and extra field).
"""
import io
import json
import os
import struct
import sys
import zipfile


def records(path):
    out = []
    with open(path, "rb") as raw, zipfile.ZipFile(path) as z:
        for info in z.infolist():
            raw.seek(info.header_offset)
            header = raw.read(30)
            name_length, extra_length = struct.unpack("<HH", header[26:30])
            out.append({
                "name": info.filename,
                "method": info.compress_type,
                "flags": info.flag_bits,
                "crc": info.CRC,
                "compressed": info.compress_size,
                "uncompressed": info.file_size,
                "local": info.header_offset,
                "data": info.header_offset + 30 + name_length + extra_length,
            })
    return out


def stored_and_deflated(z):
    z.writestr("m/data.pkl", b"\x80\x02}q\x00.")
    z.writestr(zipfile.ZipInfo("m/data/0"), bytes(range(256)) * 8)
    z.writestr("m/deflated", b"abc" * 1000, compress_type=zipfile.ZIP_DEFLATED)
    z.writestr("m/empty", b"")


def forced_zip64(z):
    for i in range(3):
        with z.open(f"m/data/{i}", "w", force_zip64=True) as record:
            record.write(bytes([i]) * (1000 + i))


def long_comment(z):
    z.writestr("m/data.pkl", b"\x80\x02N.")
    # The end record is searched for backwards through up to 64 KiB of comment.
    z.comment = b"x" * 65000


def more_than_65535_records(z):
    for i in range(70_000):
        z.writestr(zipfile.ZipInfo(f"m/data/{i}"), b"")


def utf8_names(z):
    z.writestr("m/d\u00e9j\u00e0/\u65e5\u672c", b"1")
    z.writestr("m/plain", b"2")


LAYOUTS = {
    "stored_and_deflated": stored_and_deflated,
    "forced_zip64": forced_zip64,
    "long_comment": long_comment,
    "more_than_65535_records": more_than_65535_records,
    "utf8_names": utf8_names,
}


def streamed(path):
    # Written to a pipe-like stream zipfile cannot seek: sizes follow each record in a data descriptor.
    class Unseekable(io.RawIOBase):
        def __init__(self, target):
            self.target = target

        def writable(self):
            return True

        def write(self, data):
            return self.target.write(data)

    with open(path, "wb") as target, zipfile.ZipFile(Unseekable(target), "w") as z:
        with z.open("m/data.pkl", "w") as record:
            record.write(b"\x80\x02K\x01.")
        with z.open("m/data/0", "w") as record:
            record.write(b"\x00" * 4096)


def main():
    folder = sys.argv[1]
    listing = {}
    for name, write in LAYOUTS.items():
        path = os.path.join(folder, name + ".zip")
        with zipfile.ZipFile(path, "w") as z:
            write(z)
        listing[name] = records(path)
    path = os.path.join(folder, "data_descriptors.zip")
    streamed(path)
    listing["data_descriptors"] = records(path)
    json.dump(listing, sys.stdout)


main()
