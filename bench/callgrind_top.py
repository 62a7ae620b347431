#!/usr/bin/env python3
"""Per-request instructions by function, from two callgrind runs that differ only in request count.

    bench/callgrind_top.py OUT_N OUT_2N N [TOP]

Self cost per function (inlined code counted where callgrind puts it: under the function it was
inlined into), the N-request run subtracted from the 2N one and divided by N, so start-up and the
keyspace fill cancel out. Called by `bench/instructions --top K`.
"""
import re
import subprocess
import sys


def function_name(field):
    """`file:function [object]` -> `function` (function names hold `::`, file names no lone `:`)."""
    field = re.sub(r"\s*\[[^\]]*\]$", "", field)
    for i, c in enumerate(field):
        if c == ":" and field[i + 1 : i + 2] != ":" and field[i - 1 : i] != ":":
            return field[i + 1 :]
    return field


def self_costs(path):
    out = subprocess.run(
        ["callgrind_annotate", "--threshold=100", "--inclusive=no", "--auto=no", path],
        capture_output=True, text=True, check=True,
    ).stdout
    costs = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(.*)", line)
        if m and "PROGRAM TOTALS" not in line:
            name = function_name(m.group(2).strip())
            costs[name] = costs.get(name, 0) + int(m.group(1).replace(",", ""))
    return costs


def main():
    one, two, n = self_costs(sys.argv[1]), self_costs(sys.argv[2]), int(sys.argv[3])
    top = int(sys.argv[4]) if len(sys.argv) > 4 else 30
    per_request = {name: (two.get(name, 0) - one.get(name, 0)) / n for name in set(one) | set(two)}
    print(f"{sum(per_request.values()):8.0f}  total")
    for name, cost in sorted(per_request.items(), key=lambda item: -item[1])[:top]:
        print(f"{cost:8.1f}  {name[:140]}")


if __name__ == "__main__":
    main()
