#!/usr/bin/env python3
"""Every SPEC §4 command through redis-py, with its default protocol (RESP3 in redis-py 8) and with
protocol=2, against `tinykv-server --port 0` with its default `--greeting auto` (redis-py speaks RESP as
soon as it connects, so it is never greeted).

Usage: python3 tests/python/redis_py_check.py [path/to/tinykv-server]
(default: target/debug/tinykv-server; build it first with `cargo build -p tinykv-server`).
Needs `pip install redis` (8.x). Exits 0 when every check passes, 1 otherwise.
"""

import os
import re
import subprocess
import sys
import time
import warnings

import redis

warnings.simplefilter("ignore", DeprecationWarning)  # redis-py marks setex/psetex deprecated; we test them anyway

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEADLINE = 30


def start_server(binary, *args):
    proc = subprocess.Popen(
        [binary, "--port", "0", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "RUST_LOG": "info"},
    )
    start = time.monotonic()
    while time.monotonic() - start < DEADLINE:
        line = proc.stderr.readline()
        match = re.search(r"listening on \S+:(\d+)", line)
        if match:
            return proc, int(match.group(1))
        if not line and proc.poll() is not None:
            break
    proc.kill()
    sys.exit("tinykv-server did not report its port")


def check(r, proto):
    """One pass over every command; `proto` is what the connection should have negotiated."""
    hello = r.execute_command("HELLO")
    if isinstance(hello, list):  # RESP2: a flat array of pairs
        hello = dict(zip(hello[::2], hello[1::2]))
    assert hello["proto"] == proto, hello
    r.flushall()
    # The default pipeline is a MULTI/EXEC transaction; a plain one just pipelines.
    for transaction in (True, False):
        pipe = r.pipeline(transaction=transaction)
        pipe.set("p", 1).incr("p").get("p").delete("p")
        assert pipe.execute() == [True, 2, "2", 1], transaction

    # Optimistic locking: WATCH, read, MULTI, write, EXEC (retried by redis-py on a conflict).
    def double(pipe):
        value = int(pipe.get("w") or 1)
        pipe.multi()
        pipe.set("w", value * 2)

    assert r.transaction(double, "w") == [True]
    assert r.get("w") == "2"
    assert r.set("k", "v") is True
    assert r.get("k") == "v"
    assert r.get("missing") is None
    assert r.set("k", "w", nx=True) is None
    assert r.set("k", "w", xx=True, get=True) == "v"
    assert r.set("t", "1", ex=100) is True and r.ttl("t") == 100
    assert r.set("t", "2", keepttl=True) is True and 99 <= r.ttl("t") <= 100
    assert r.set("t", "3", px=100000) is True and 0 < r.pttl("t") <= 100000
    assert r.set("t", "4", exat=int(time.time()) + 100) and 0 < r.ttl("t") <= 100
    assert r.set("t", "5", pxat=int(time.time() * 1000) + 100000) and 0 < r.ttl("t") <= 100
    assert r.getdel("k") == "w" and r.getdel("k") is None
    assert r.getset("g", "1") is None and r.getset("g", "2") == "1"
    assert r.mset({"a": "1", "b": "2"}) is True
    assert r.mget("a", "b", "nope") == ["1", "2", None]
    assert r.msetnx({"a": "9", "c": "9"}) is False and r.msetnx({"c": "3", "d": "4"}) is True
    assert r.setnx("a", "x") is False and r.setnx("e", "x") is True
    assert r.setex("se", 100, "v") is True and r.ttl("se") == 100
    assert r.psetex("pse", 100000, "v") is True and 0 < r.pttl("pse") <= 100000
    assert r.delete("a", "b", "nope") == 2 and r.unlink("c", "nope") == 1
    assert r.exists("d", "d", "nope") == 2
    assert r.incr("n") == 1 and r.incrby("n", 10) == 11 and r.decr("n") == 10 and r.decrby("n", 5) == 5
    r.set("big", str(2**63 - 1))
    try:
        r.incr("big")
        raise AssertionError("INCR past 2^63-1 must fail")
    except redis.ResponseError as err:
        assert str(err) == "increment or decrement would overflow", err
    assert r.append("s", "ab") == 2 and r.append("s", "cd") == 4 and r.strlen("s") == 4 and r.strlen("nope") == 0
    assert r.expire("s", 100) is True and r.ttl("s") == 100
    assert r.expire("s", 50, gt=True) is False and r.expire("s", 50, lt=True) is True
    assert r.expire("s", 10, nx=True) is False and r.expire("d", 10, xx=True) is False
    assert r.pexpire("s", 100000) is True and 0 < r.pttl("s") <= 100000
    assert r.expireat("s", int(time.time()) + 100) is True
    assert r.pexpireat("s", int(time.time() * 1000) + 100000) is True
    assert r.ttl("nope") == -2 and r.ttl("d") == -1 and r.pttl("nope") == -2 and r.pttl("d") == -1
    assert r.persist("s") is True and r.persist("s") is False and r.ttl("s") == -1
    assert r.type("s") == "string" and r.type("nope") == "none"
    assert r.rename("s", "s2") is True and r.get("s2") == "abcd"
    try:
        r.rename("nope", "x")
        raise AssertionError("RENAME of a missing key must fail")
    except redis.ResponseError as err:
        assert str(err) == "no such key", err
    assert sorted(r.keys("s*")) == ["s2", "se"]
    assert set(r.scan_iter(match="*")) == set(r.keys("*"))
    cursor, keys = r.scan(0, match="s*", count=1000)
    assert cursor == 0 and sorted(keys) == ["s2", "se"], (cursor, keys)
    assert set(r.scan_iter(_type="string")) == set(r.keys("*"))
    assert r.dbsize() == len(r.keys("*"))
    assert r.expire("s2", 0) is True and r.exists("s2") == 0
    info = r.info()
    for field in ["redis_version", "tcp_port", "process_id", "uptime_in_seconds", "connected_clients",
                  "maxclients", "used_memory", "used_memory_rss", "total_connections_received",
                  "total_commands_processed", "instantaneous_ops_per_sec", "rejected_connections",
                  "expired_keys"]:
        assert field in info, field
    assert info["db0"]["keys"] == r.dbsize(), info["db0"]
    assert set(r.info("keyspace")) == {"db0"}
    assert r.info("server")["redis_mode"] == "standalone"
    assert r.config_get("maxmemory") == {"maxmemory": "0"}
    assert r.config_get("max*")["maxclients"] == "10000"
    assert r.ping() is True and r.echo("hi") == "hi"
    assert r.execute_command("SELECT", 0) in (True, "OK", b"OK")
    assert r.client_setname("py") is True and r.client_getname() == "py"
    assert isinstance(r.client_id(), int)
    assert r.command_count() > 40
    commands = r.command()  # COMMAND, parsed by redis-py into {name: info}
    assert "get" in commands and commands["get"]["arity"] == 2, commands.get("get")
    with r.pipeline(transaction=False) as pipe:
        pipe.set("p1", "1").incr("p1").get("p1")
        assert pipe.execute() == [True, 2, "2"]
    # Hashes and sets (RESP3 maps and sets, RESP2 flat arrays: redis-py turns both into dicts and sets).
    assert r.hset("user", mapping={"name": "ada", "visits": 1}) == 2
    assert r.hgetall("user") == {"name": "ada", "visits": "1"}
    assert r.hincrby("user", "visits", 41) == 42 and r.hincrbyfloat("user", "score", 0.5) == 0.5
    assert r.hget("user", "name") == "ada" and r.hmget("user", ["name", "nosuch"]) == ["ada", None]
    assert sorted(r.hkeys("user")) == ["name", "score", "visits"] and r.hlen("user") == 3
    assert r.hexists("user", "name") in (1, True) and r.hdel("user", "score") == 1
    assert dict(r.hscan_iter("user")) == r.hgetall("user")
    assert r.hrandfield("user", 5, withvalues=True) is not None
    assert r.sadd("tags", "a", "b", "c") == 3 and r.smembers("tags") == {"a", "b", "c"}
    assert r.sismember("tags", "a") in (1, True) and r.smismember("tags", ["a", "z"]) in ([1, 0], [True, False])
    assert r.sadd("more", "c", "d") == 2 and r.sinter("tags", "more") == {"c"}
    assert r.sunion("tags", "more") == {"a", "b", "c", "d"} and r.sdiff("tags", "more") == {"a", "b"}
    assert r.sinterstore("both", ["tags", "more"]) == 1 and r.scard("both") == 1
    assert r.spop("both") == "c" and r.exists("both") == 0
    assert r.type("tags") == "set" and r.type("user") == "hash"
    try:
        r.get("tags")
        raise AssertionError("GET on a set must fail")
    except redis.ResponseError as err:
        assert str(err).startswith("WRONGTYPE"), err
    assert r.flushdb() is True and r.dbsize() == 0
    assert r.flushall(asynchronous=True) is True
    check_pubsub(r)


def check_pubsub(r):
    """A subscriber through redis-py's pubsub(): confirmations, a message, a pattern message, PUBSUB."""
    p = r.pubsub()
    p.subscribe("ch")
    p.psubscribe("pa*")
    for expected in [("subscribe", "ch", 1), ("psubscribe", "pa*", 2)]:
        msg = p.get_message(timeout=DEADLINE)
        assert msg is not None and (msg["type"], msg["channel"], msg["data"]) == expected, msg
    assert r.publish("ch", "hello") == 1
    msg = p.get_message(timeout=DEADLINE)
    assert msg is not None and (msg["type"], msg["channel"], msg["data"]) == ("message", "ch", "hello"), msg
    assert r.publish("pattern", "x") == 1
    msg = p.get_message(timeout=DEADLINE)
    assert msg is not None and (msg["type"], msg["pattern"], msg["channel"], msg["data"]) == (
        "pmessage", "pa*", "pattern", "x"), msg
    assert r.pubsub_numsub("ch") == [("ch", 1)], r.pubsub_numsub("ch")
    assert r.pubsub_numpat() == 1 and r.pubsub_channels() == ["ch"]
    p.unsubscribe()
    p.punsubscribe()
    for expected in [("unsubscribe", "ch", 1), ("punsubscribe", "pa*", 0)]:
        msg = p.get_message(timeout=DEADLINE)
        assert msg is not None and (msg["type"], msg["channel"], msg["data"]) == expected, msg
    p.close()
    assert r.publish("ch", "nobody") == 0


def check_scripting(r):
    """redis-py's Lock (its release and extend are Lua scripts sent with EVALSHA), register_script,
    and a rate limiter that ships Lua (`limits` with its Redis storage), unchanged."""
    from redis.exceptions import LockNotOwnedError

    r.delete("lock:job")
    lock = r.lock("lock:job", timeout=10)
    assert lock.acquire(blocking=False)
    assert not r.lock("lock:job", timeout=10).acquire(blocking=False), "a second owner must not acquire"
    assert lock.extend(5) and r.pttl("lock:job") > 10_000
    intruder = r.lock("lock:job", timeout=10)
    intruder.local.token = b"not-the-owner"
    try:
        intruder.release()
        raise AssertionError("release by a non-owner must fail")
    except LockNotOwnedError:
        pass
    assert r.exists("lock:job") == 1
    lock.release()
    assert r.exists("lock:job") == 0
    script = r.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    r.delete("counter")
    assert script(keys=["counter"], args=[5]) == 5 and script(keys=["counter"], args=[2]) == 7


def check_limits(port):
    """`limits` (PyPI) with its Redis storage: its moving window is a Lua script."""
    try:
        from limits import parse, storage, strategies
    except ImportError:
        print("limits not installed (pip install limits): its check skipped")
        return
    store = storage.storage_from_string(f"redis://127.0.0.1:{port}")
    chosen = [strategies.FixedWindowRateLimiter]
    # The moving window's scripts keep lists: checked once the server has them.
    try:
        redis.Redis(port=port).execute_command("LLEN", "limits:probe")
        chosen.append(strategies.MovingWindowRateLimiter)
    except redis.ResponseError:
        print("limits: the moving window needs lists (LPUSH); skipped until the server has them")
    for strategy in chosen:
        limiter = strategy(store)
        rate = parse("3/minute")
        results = [limiter.hit(rate, "client", strategy.__name__) for _ in range(5)]
        assert results == [True, True, True, False, False], (strategy.__name__, results)
        assert limiter.get_window_stats(rate, "client", strategy.__name__).remaining == 0
    limiter = strategies.SlidingWindowCounterRateLimiter(store)
    rate = parse("2/minute")
    assert [limiter.hit(rate, "sliding") for _ in range(3)] == [True, True, False]


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "debug", "tinykv-server")
    proc, port = start_server(binary)
    failures = 0
    try:
        for protocol, label in [(None, "default protocol"), (2, "protocol=2"), (3, "protocol=3")]:
            kwargs = {"port": port, "decode_responses": True, "socket_timeout": DEADLINE}
            if protocol is not None:
                kwargs["protocol"] = protocol
            r = redis.Redis(**kwargs)
            expected = protocol or 3
            try:
                check(r, expected)
                check_scripting(r)
                print(f"redis-py {redis.__version__} {label} (RESP{expected}): ok")
            except Exception as err:  # report every protocol, then fail
                failures += 1
                print(f"redis-py {redis.__version__} {label} (RESP{expected}): FAILED: {err!r}")
                import traceback
                traceback.print_exc()
            finally:
                r.close()
        try:
            check_limits(port)
            print("limits (Lua rate limiters) with its Redis storage: ok")
        except Exception as err:
            failures += 1
            print(f"limits: FAILED: {err!r}")
            import traceback
            traceback.print_exc()
        # AUTH through redis-py.
        auth_proc, auth_port = start_server(binary, "--requirepass", "pw")
        try:
            r = redis.Redis(port=auth_port, password="pw", decode_responses=True)
            assert r.set("k", "v") and r.get("k") == "v"
            try:
                redis.Redis(port=auth_port, decode_responses=True).get("k")
                raise AssertionError("no password must fail")
            except redis.AuthenticationError:
                pass
            print("redis-py AUTH: ok")
        except Exception as err:
            failures += 1
            print(f"redis-py AUTH: FAILED: {err!r}")
        finally:
            auth_proc.kill()
            auth_proc.wait()
    finally:
        proc.kill()
        proc.wait()
    # The five passes: default, protocol=2, protocol=3, limits, AUTH.
    print(f"redis-py: {5 - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
