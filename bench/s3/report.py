"""Writes the S3 section of docs/benchmarks.md from bench/s3/run.sh's results.

    report.py RESULTS SIZE_BYTES RUNS VERIFIED BENCHMARKS_MD
"""
import datetime
import os
import statistics
import sys

results, size, runs, verified, target = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
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
section = "\n".join(lines) + "\n"
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from section import replace_section  # noqa: E402

replace_section(target, section)
