"""Turns bench/convert/run.sh's raw results into the Convert section of docs/benchmarks.md.

    report.py RESULTS RUNS BENCHMARKS_MD
"""
import datetime
import os
import platform
import statistics
import sys

results, runs, target = sys.argv[1], int(sys.argv[2]), sys.argv[3]
TOOLS = ("cp", "cp+sync", "torchferry", "torchferry--no-verify--no-fsync", "peer")
rows, sizes, verified = {}, {}, {}
for line in open(results):
    parts = line.split()
    if parts[1] == "bytes":
        sizes[parts[0]] = int(parts[2])
        verified[parts[0]] = " ".join(parts[3:])
        continue
    size, tool, wall, rss = parts[0], parts[1], float(parts[2]), int(parts[3])
    rows.setdefault((size, tool), []).append((wall, rss))

lines = [
    "## Convert: GPU checkpoint to CPU (issue: the artifact engine)",
    "",
    "`bench/convert/run.sh` on %s, %d cores, %s; median of %d runs, page cache warm; "
    "run %s UTC." % (platform.platform(), os.cpu_count(), "PyTorch from Debian", runs, datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")),
    "The checkpoint is flytekit-style (module and Adam state dicts, 64 MiB tensors), every storage on `cuda:0`.",
    "`peer` is what users do today: `torch.save(torch.load(src, map_location='cpu'), dst)`.",
    "",
    "| size | tool | wall (s) | peak RSS (MiB) | vs cp | peer / tool |",
    "| --- | --- | ---: | ---: | ---: | ---: |",
]
for size in sizes:
    median = {tool: (statistics.median(w for w, _ in rows[(size, tool)]), max(r for _, r in rows[(size, tool)]) / 1024)
              for tool in TOOLS}
    for tool in TOOLS:
        wall, rss = median[tool]
        lines.append("| %.2f GiB | %s | %.2f | %.0f | %.2fx | %s |" % (
            sizes[size] / 2**30, "`" + tool.replace("--", " --") + "`", wall, rss, wall / median["cp"][0],
            "%.1fx" % (median["peer"][0] / wall) if tool != "peer" else "1.0x"))
lines.append("")
for size in sizes:
    lines.append("- %.2f GiB: torchferry's output loaded by PyTorch without map_location and equal to the peer's (%s)." % (sizes[size] / 2**30, verified[size]))
lines.append("- Peak RSS is the maximum over runs.")
lines.append("")
lines.append("`torchferry` checks every record's CRC-32 after a kernel-side copy (`copy_file_range`, as `cp` uses) and fsyncs before renaming into place. `--no-verify --no-fsync` does what `cp` does: copy, no CRC pass, no fsync. `cp + sync` is the durable baseline for the default mode. The disk of these machines varies run to run (the same `cp` took 0.3 s to 1.9 s for 1 GiB within minutes), hence the median.")
lines.append("Goals: torchferry within 1.5x of `cp`, at least 4x faster than the peer, peak RSS under 100 MiB at 1 GiB and at 4 GiB.")
section = "\n".join(lines) + "\n"

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from section import replace_section  # noqa: E402

replace_section(target, section)
