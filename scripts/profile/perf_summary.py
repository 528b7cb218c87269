#!/usr/bin/env python3
"""Summarises the samples of one process in a perf recording: top symbols by self samples, and
the shares of generic metadata lookups, reference counting and allocation (docs/profiles/README.md).

Usage: perf_summary.py PERF_DATA PID|COMMAND [TOP] | swift demangle --simplified

With a command name (e.g. click-count-job) it takes the process of that name with the most samples
(the bench starts the job twice: the throughput run, then the short latency run).
Counts the samples from `perf script`: `perf report --pid` (perf 6.1) counted fewer samples for the
process than it has when recorded under `perf record -- sluice-bench ...`."""
import collections, re, subprocess, sys

data, pid = sys.argv[1], sys.argv[2]
top = int(sys.argv[3]) if len(sys.argv) > 3 else 25
script = subprocess.run(["perf", "script", "-i", data, "-G", "-F", "pid,ip,sym,dso"], capture_output=True, text=True).stdout
if not pid.isdigit():
    names = subprocess.run(["perf", "script", "-i", data, "-G", "-F", "pid,comm"], capture_output=True, text=True).stdout
    named = {fields[1] for fields in (line.split() for line in names.splitlines()) if len(fields) == 2 and fields[0] == pid}
    per_pid = collections.Counter(line.split()[0] for line in script.splitlines() if line.split())
    if not named:
        sys.exit(f"no process named {pid} in {data}")
    pid = max(named, key=lambda p: per_pid[p])
counts = collections.Counter()
for line in script.splitlines():
    m = re.match(r"\s*(\d+)\s+[0-9a-f]+\s+(.*?)\s+\(([^()]*)\)\s*$", line)
    if not m or m.group(1) != pid:
        continue
    counts[m.group(2) or "[unknown]"] += 1
total = sum(counts.values())
categories = [
    ("generic metadata (swift_getGenericMetadata and its caches)",
     r"GenericMetadata|GenericCacheEntry|MetadataCacheKey|MetadataCacheEntryBase|^getCache$|swift_checkMetadataState|MetadataWaitQueue"),
    ("retain/release (swift_retain/release, bridgeObject)",
     r"^swift_(retain|release|bridgeObjectRetain|bridgeObjectRelease|retain_n|release_n|unknownObjectRetain|unknownObjectRelease)$"),
    ("malloc/free (libc, swift_allocObject/deallocObject)",
     r"^(malloc|free|cfree@GLIBC_2.2.5|cfree|_int_malloc|_int_free|malloc_consolidate|swift_allocObject|swift_deallocObject|swift_slowAlloc|swift_slowDealloc|_int_free_merge_chunk|_int_free_create_chunk|unlink_chunk\.\w+)$"),
]
print(f"samples of pid {pid}: {total}")
print(f"top {top} symbols (self samples):")
for sym, n in counts.most_common(top):
    print(f"  {100.0 * n / total:5.1f}%  {sym}")
for name, pattern in categories:
    n = sum(c for s, c in counts.items() if re.search(pattern, s))
    print(f"{name}: {100.0 * n / total:.1f}% ({n} samples)")
