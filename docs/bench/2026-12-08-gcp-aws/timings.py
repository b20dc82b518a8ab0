#!/usr/bin/env python3
"""Per-feature build cost from one `cargo build --timings` report.

usage: timings.py cargo-timing.html crates-only-aws.txt crates-only-gcp.txt

For each crate list ("name vX.Y.Z" lines: the crates only that feature brings, from a cargo tree
diff): the summed wall durations of those crates' units (libraries, build scripts and their
runs), that sum scaled to CPU seconds by the build's CPU / summed durations (units overlap and
share the cores with other processes), and when the units ran. Then what the gateway's own crate
waited for. All from one build on a shared machine: an estimate, not a build without the feature.
"""
import json
import re
import sys

html = open(sys.argv[1], encoding="utf-8").read()
us = json.loads(re.search(r"const UNIT_DATA = (\[.*?\]);\n", html, re.S).group(1))
cpu = float(sys.argv[4]) if len(sys.argv) > 4 else None
total = sum(u["duration"] for u in us)
end = max(u["start"] + u["duration"] for u in us)
print(f"units {len(us)}, summed durations {total:.1f} s, build end {end:.1f} s")
scale = cpu / total if cpu else None
for path in sys.argv[2:4]:
    crates = {tuple(l.split()[:2]) for l in open(path, encoding="utf-8") if l.strip()}
    crates = {(n.replace("_", "-"), v.lstrip("v")) for n, v in crates}
    mine = [u for u in us if (u["name"].replace("_", "-"), u["version"]) in crates]
    s = sum(u["duration"] for u in mine)
    print(f"\n{path}: {len(crates)} crates, {len(mine)} units, summed durations {s:.1f} s "
          f"({100 * s / total:.1f}% of all units)"
          + (f", ~{s * scale:.0f} CPU s at this build's {scale:.3f} CPU s per unit-second" if scale else ""))
    for u in sorted(mine, key=lambda u: -u["duration"])[:8]:
        print(f"  {u['name']} {u['target'].strip() or 'lib'}: {u['start']:.1f} -> {u['start'] + u['duration']:.1f} s ({u['duration']:.1f} s)")
    print(f"  first start {min(u['start'] for u in mine):.1f} s, last end {max(u['start'] + u['duration'] for u in mine):.1f} s")
for u in us:
    if u["name"] == "pubsub-gateway" and u["target"].strip() == "":
        print(f"\npubsub-gateway lib: {u['start']:.1f} -> {u['start'] + u['duration']:.1f} s ({u['duration']:.1f} s)")
