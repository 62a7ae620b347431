#!/usr/bin/env python3
"""RSS growth per key or per field, the numbers in README.md (Memory): load through redis-cli --pipe into a
fresh server and read VmRSS before and after.

Usage: bench/types-memory.py strings|hashes|hashes10 tinykv|redis [path/to/tinykv-server]
  strings   1,000,000 SETs, 16-byte keys and values
  hashes    1,000 hashes of 100 fields (9-byte fields, 8-byte values)
  hashes10  100,000 hashes of 10 fields
  list      one list of 10,000,000 16-byte elements (RPUSH, 100 a command)
  zset      one sorted set of 1,000,000 members (`member:N`, scores N * 1.5), in ZADDs of 1,000
"""
import os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverlib import enc, load, rss, start
mode, kind = sys.argv[1], sys.argv[2]
binary = sys.argv[3] if len(sys.argv) > 3 else None
if mode == "strings":
    n = 1_000_000
    data = b"".join(enc(["SET", "key:%012d" % i, "v" * 16]) for i in range(n)); unit = n; what = "key"
elif mode == "hashes":
    n = 1000
    data = b"".join(enc(["HSET", "hash:%06d" % i] + sum([["field:%03d" % f, "value:%02d" % (f % 100)] for f in range(100)], [])) for i in range(n)); unit = n * 100; what = "field"
elif mode == "hashes10":
    n = 100_000
    data = b"".join(enc(["HSET", "hash:%09d" % i] + sum([["field:%02d" % f, "value:%02d" % f] for f in range(10)], [])) for i in range(n)); unit = n * 10; what = "field"
elif mode == "list":
    n = 10_000_000
    data = b"".join(enc(["RPUSH", "list"] + ["e:%014d" % (i * 100 + j) for j in range(100)]) for i in range(n // 100)); unit = n; what = "element"
elif mode == "zset":
    n = 1_000_000
    data = b"".join(enc(["ZADD", "big"] + sum([[str(i * 1.5), "member:%d" % i] for i in range(b * 1000, b * 1000 + 1000)], [])) for b in range(n // 1000)); unit = n; what = "member"
p, port = start(kind, binary)
time.sleep(0.3)
before = rss(p.pid)
res = load(port, data)
time.sleep(0.5)
after = rss(p.pid)
print(f"{mode} {kind}: RSS {before} -> {after} kB; {(after-before)*1024/unit:.1f} B/{what}; {res}")
p.kill(); p.wait()
