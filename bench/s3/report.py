"""Writes the S3 section of docs/benchmarks.md from bench/s3/run.sh's results.

    report.py RESULTS SIZE_BYTES RUNS VERIFIED BENCHMARKS_MD [REQUESTS]
"""
import datetime
import os
import statistics
import sys

results, size, runs, verified, target = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
counted = sys.argv[6] if len(sys.argv) > 6 else None


def kind(request):
    method, rest = request.split(" ", 1)
    if "copy-probe" in rest:
        return "probe"
    if method == "HEAD":
        return "HEAD (stat)"
    if method == "GET":
        return "ListParts" if "uploadId=" in rest else "GET (ranged read)"
    if method == "POST":
        return "CreateMultipartUpload" if "?uploads" in rest else "CompleteMultipartUpload"
    if method == "PUT":
        return "UploadPartCopy" if rest.endswith("[copy]") else "UploadPart" if "partNumber=" in rest else "PutObject"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId=" in rest else "DeleteObject"
    return method
rows = {}
for line in open(results):
    label, timing, through = line.rstrip("\n").split("|")
    wall, rss = timing.split()
    rows.setdefault(label, []).append((float(wall), int(rss), through))

lines = [
    "## S3 to S3: GPU checkpoint converted on an S3 server (issue: object storage)",
    "",
    "`bench/s3/run.sh`: a %.2f GiB flytekit-style checkpoint (every storage on `cuda:0`) on s3rver 3.7.1 at 127.0.0.1, "
    "8 MiB parts, %d cores; median wall time of %d runs, peak RSS the maximum; run %s UTC." % (
        size / 2**30, os.cpu_count(), runs, datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")),
    "s3rver has no UploadPartCopy, so the server-side copy row runs against s3rver behind the test proxy that answers "
    "UploadPartCopy itself (reading and writing the range in its own process, as S3 does inside the store).",
    "",
    "| contender | wall (s) | peak RSS (MiB) | bytes through the process |",
    "| --- | ---: | ---: | --- |",
]
base = None
for label, values in rows.items():
    wall = statistics.median(v[0] for v in values)
    rss = max(v[1] for v in values) / 1024
    through = values[0][2].replace(" through this process", "") or "?"
    lines.append("| %s | %.2f | %.0f | %s |" % (label, wall, rss, through))
lines += [
    "",
    "- Both converted objects loaded by PyTorch without map_location and equal to a local conversion (%s)." % verified,
    "- Goal: bytes through the process at most 16 MiB plus the pickle where server-side copy works; otherwise no slower than the plain copy and peak RSS under 128 MiB.",
]
if counted:
    lines += [
        "",
        "### Requests of one conversion with server-side copy (issue 15)",
        "",
        "Counted by the proxy in front of s3rver, for one `torchferry convert` S3 to S3 (copy parts as large as S3 allows, 5 GiB, "
        "issued together). The result was read back: every storage on the CPU, every record's CRC intact. "
        "\"After the pickle\" is every request from the first part written: what the operator, which probes UploadPartCopy once in its life, pays per conversion; "
        "a fresh CLI process also probes once (3 requests: create, copy 64 KiB, abort).",
        "",
        "| object | requests in all | reads before writing (HEAD, GET) | probe | after the pickle | of which UploadPartCopy | bytes through the process | goal: at most 8 after the pickle, under 16 MiB plus the pickle through the process |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for line in open(counted):
        mib, nbytes, through, path = line.rstrip("\n").split("|")
        kinds = [kind(r) for r in open(path).read().splitlines() if r]
        writing = [k for k in kinds if k in ("CreateMultipartUpload", "UploadPart", "UploadPartCopy", "ListParts", "CompleteMultipartUpload", "PutObject", "AbortMultipartUpload")]
        reads = [k for k in kinds if k in ("HEAD (stat)", "GET (ranged read)")]
        amount, unit = through.split()[0:2] if through else ("?", "")
        mib_through = float(amount) * {"B": 1 / 2**20, "KiB": 1 / 1024, "MiB": 1, "GiB": 1024}.get(unit, float("nan")) if through else float("nan")
        met = len(writing) <= 8 and mib_through < 17
        lines.append("| %.2f GiB | %d | %d | %d | %d (%s) | %d | %s | %s |" % (
            int(nbytes) / 2**30, len(kinds), len(reads), kinds.count("probe"), len(writing),
            ", ".join("%s %d" % (k, writing.count(k)) for k in dict.fromkeys(writing)), writing.count("UploadPartCopy"),
            through.replace(" through this process", ""), "met" if met else "**missed**"))
section = "\n".join(lines) + "\n"
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from section import replace_section  # noqa: E402

replace_section(target, section)
