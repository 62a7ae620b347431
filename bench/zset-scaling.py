#!/usr/bin/env python3
"""ZADD, ZRANK and ZRANGE cost as one sorted set grows: 10k, 100k and 1M members, TinyKV and Redis side by side.

Usage: bench/zset-scaling.py [path/to/tinykv-server]   (default target/release/tinykv-server)

For each size the set is loaded through redis-cli --pipe, the command statistics are reset, then 20,000 of each
are sent pipelined (ZADD of a new member at a random score, ZRANK of a random member, ZRANGE of 10 members from a
random rank WITHSCORES), and the server's own time per call is read from INFO commandstats (usec_per_call): the
cost inside the server, without the client or the network. O(log n) shows as a slow growth from row to row.

Then redis-benchmark's zadd and zpopmin rows (-c 50 -P 16, 1,000,000 requests each) against a fresh server of each
kind, with the server's CPU time per request (utime+stime from /proc/PID/stat, before and after).
"""
import os, random, subprocess, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverlib import enc, load, start

def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port)] + list(args), capture_output=True, text=True).stdout

def usec_per_call(port):
    stats = {}
    for line in cli(port, "INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_"):
            name, fields = line[len("cmdstat_"):].split(":", 1)
            values = dict(f.split("=") for f in fields.split(","))
            stats[name] = float(values["usec_per_call"])
    return stats

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/tinykv-server"
rows = []
for kind in ["redis", "tinykv"]:
    p, port = start(kind, binary)
    loaded = 0
    for size in [10_000, 100_000, 1_000_000]:
        data = b"".join(enc(["ZADD", "z"] + sum([[str(i * 1.5), "member:%d" % i] for i in range(b, min(b + 1000, size))], []))
                        for b in range(loaded, size, 1000))
        load(port, data)
        loaded = size
        rng = random.Random(size)
        ops = 20_000
        batch = [enc(["ZADD", "z", str(rng.random() * size * 1.5), "new:%d:%d" % (size, i)]) for i in range(ops)]
        batch += [enc(["ZRANK", "z", "member:%d" % rng.randrange(size)]) for _ in range(ops)]
        batch += [enc(["ZRANGE", "z", str(r), str(r + 9), "WITHSCORES"]) for r in (rng.randrange(size - 10) for _ in range(ops))]
        cli(port, "CONFIG", "RESETSTAT")
        load(port, b"".join(batch))
        stats = usec_per_call(port)
        rows.append((kind, size, stats.get("zadd"), stats.get("zrank"), stats.get("zrange")))
        loaded += ops
    p.kill(); p.wait()

def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

bench_rows = []
for kind in ["redis", "tinykv"]:
    p, port = start(kind, binary)
    for test in ["zadd", "zpopmin"]:
        requests = 1_000_000
        before = cpu_seconds(p.pid)
        out = subprocess.run(["redis-benchmark", "-p", str(port), "-t", test, "-c", "50", "-P", "16", "-n", str(requests),
                              "-r", "100000", "--csv"], capture_output=True, text=True).stdout
        used = cpu_seconds(p.pid) - before
        rps = next((line.split(",")[1].strip('"') for line in out.splitlines() if line.lower().startswith('"' + test)), "?")
        bench_rows.append((kind, test, rps, used * 1e6 / requests))
    p.kill(); p.wait()

print("| server | members | ZADD µs/call | ZRANK µs/call | ZRANGE (10, WITHSCORES) µs/call |")
print("|---|---:|---:|---:|---:|")
for kind, size, zadd, zrank, zrange in rows:
    print(f"| {kind} | {size:,} | {zadd:.2f} | {zrank:.2f} | {zrange:.2f} |")
print()
print("| server | test (-c 50 -P 16) | requests/s | server CPU µs/request |")
print("|---|---|---:|---:|")
for kind, test, rps, cpu in bench_rows:
    print(f"| {kind} | {test} | {rps} | {cpu:.3f} |")
