#!/usr/bin/env python3
"""Per-step latency and server CPU of SSCAN and SCAN (COUNT 10) walking a big set and a big keyspace
to the end, for one server at a time.

Usage: bench/scan-steps.py NAME BINARY PORT N [COUNT]
  NAME redis starts BINARY as redis-server (no persistence); any other NAME starts it as tinykv-server.
  N members go into one set and N keys into the keyspace; both are walked with SCAN's COUNT (default 10),
  then every other member and key is removed (leaving the tables' tombstones) and both are walked again.
Example: bench/scan-steps.py tinykv target/release/tinykv-server 17912 1000000
         bench/scan-steps.py redis "$(command -v redis-server)" 17913 1000000
"""
import os
import socket
import subprocess
import sys
import time


def command(*args):
    out = b"*%d\r\n" % len(args)
    for arg in args:
        arg = arg if isinstance(arg, bytes) else str(arg).encode()
        out += b"$%d\r\n%s\r\n" % (len(arg), arg)
    return out


class Replies:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def _line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(1 << 20)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self):
        line = self._line()
        kind = line[:1]
        if kind == b"-":
            raise RuntimeError(line.decode())
        if kind in b"+:":
            return line[1:]
        if kind == b"$":
            n = int(line[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(1 << 20)
            value, self.buf = self.buf[:n], self.buf[n + 2:]
            return value
        if kind in b"*>":
            return [self.read() for _ in range(int(line[1:]))]
        raise RuntimeError("unexpected reply %r" % line)


def cpu_seconds(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def walk(server, sock, replies, name, n, count, state):
    for scan in (("SSCAN", "big"), ("SCAN",)):
        cursor, latencies, returned, cpu_before = b"0", [], 0, cpu_seconds(server.pid)
        while True:
            started = time.perf_counter()
            sock.sendall(command(*scan, cursor, "COUNT", count))
            reply = replies.read()
            latencies.append(time.perf_counter() - started)
            cursor, returned = reply[0], returned + len(reply[1])
            if cursor == b"0":
                break
        cpu = cpu_seconds(server.pid) - cpu_before
        latencies.sort()
        steps = len(latencies)
        print("%-7s %-5s N=%d %-12s COUNT=%d steps=%d returned=%d server_cpu_s=%.2f cpu_us_per_step=%.1f "
              "p50_us=%.0f p99_us=%.0f max_ms=%.1f" % (name, scan[0], n, state, count, steps, returned, cpu,
                                                        cpu / steps * 1e6, latencies[steps // 2] * 1e6,
                                                        latencies[int(steps * 0.99)] * 1e6, latencies[-1] * 1e3),
              flush=True)


def main():
    name, binary, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    count = int(sys.argv[5]) if len(sys.argv) > 5 else 10
    if name == "redis":
        args = [binary, "--port", str(port), "--save", "", "--appendonly", "no"]
    else:
        args = [binary, "--port", str(port), "--no-greeting"]
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            try:
                sock = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.1)
        replies = Replies(sock)
        for base in range(0, n, 10000):
            upto = min(n, base + 10000)
            members = ["m:%d" % i for i in range(base, upto)]
            pairs = [x for i in range(base, upto) for x in ("k:%d" % i, "v")]
            sock.sendall(command("SADD", "big", *members) + command("MSET", *pairs))
            replies.read(), replies.read()
        walk(server, sock, replies, name, n, count, "full")
        for base in range(0, n, 20000):
            upto = min(n, base + 20000)
            sock.sendall(command("SREM", "big", *["m:%d" % i for i in range(base, upto, 2)])
                         + command("DEL", *["k:%d" % i for i in range(base, upto, 2)]))
            replies.read(), replies.read()
        walk(server, sock, replies, name, n, count, "half removed")
    finally:
        server.kill()


if __name__ == "__main__":
    main()
