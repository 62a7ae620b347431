#!/usr/bin/env python3
"""rq 1.11 (PyPI), a job queue built on lists, hashes, sets and sorted sets, run unchanged against
tinykv-server: 100 jobs enqueued and run by a worker, with results, failures and retries, then a worker blocked
on an empty queue (BLPOP) woken by jobs enqueued later.

rq 1.11.1 is the last rq that keeps results without Redis streams (1.12 and later write them with XADD, a
command TinyKV does not have yet), so `.ci/run` installs exactly that version.

Usage: python3 tests/python/rq_check.py [path/to/tinykv-server] [--port PORT (an already running server)]
Needs `pip install rq==1.11.1`. Exits 0 when every check passes, 1 otherwise; skips (exit 0) when rq is missing.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    import redis
    from rq import Queue, Retry, SimpleWorker
    from rq.job import JobStatus
    from rq.registry import FailedJobRegistry, FinishedJobRegistry
except ImportError as err:
    print(f"rq: skipped ({err}; pip install rq)")
    sys.exit(0)

import rq_jobs  # noqa: E402
from redis_py_check import start_server  # noqa: E402


def run_jobs(conn):
    queue = Queue("checks", connection=conn)
    adds = [queue.enqueue(rq_jobs.add, i, i) for i in range(90)]
    fails = [queue.enqueue(rq_jobs.fail, f"boom {i}") for i in range(5)]
    flaky = [queue.enqueue(rq_jobs.flaky, f"rq-check:flaky:{i}", retry=Retry(max=2)) for i in range(5)]
    assert queue.count == 100, queue.count
    worker = SimpleWorker([queue], connection=conn)
    worker.work(burst=True, logging_level="CRITICAL")
    for i, job in enumerate(adds):
        job.refresh()
        assert job.get_status() == JobStatus.FINISHED, (i, job.get_status())
        assert job.result == 2 * i, (i, job.result)
    for job in fails:
        job.refresh()
        assert job.get_status() == JobStatus.FAILED, job.get_status()
        assert "ValueError: boom" in (job.exc_info or ""), job.exc_info
    for job in flaky:
        job.refresh()
        assert job.get_status() == JobStatus.FINISHED, job.get_status()
        assert job.result == 2, job.result
    assert len(FailedJobRegistry(queue=queue)) == 5, len(FailedJobRegistry(queue=queue))
    assert len(FinishedJobRegistry(queue=queue)) == 95, len(FinishedJobRegistry(queue=queue))
    assert queue.count == 0


def blocked_worker_wakes(conn):
    queue = Queue("waiting", connection=conn)
    worker = SimpleWorker([queue], connection=conn)
    jobs = []

    def enqueue_later():
        # rq's worker installs signal handlers, so it runs on the main thread; the jobs come from here.
        time.sleep(1.0)
        jobs.extend(queue.enqueue(rq_jobs.add, i, 100) for i in range(3))

    thread = threading.Thread(target=enqueue_later)
    thread.start()
    # Not burst: the worker blocks on the empty queue until the jobs come, then stops after three.
    started = time.monotonic()
    worker.work(max_jobs=3, logging_level="WARNING")
    thread.join()
    assert time.monotonic() - started >= 1.0, "the worker did not wait for the jobs"
    for i, job in enumerate(jobs):
        job.refresh()
        assert job.result == i + 100, job.result


def main():
    args = sys.argv[1:]
    proc = None
    if "--port" in args:
        port = int(args[args.index("--port") + 1])
    else:
        binary = args[0] if args else "target/debug/tinykv-server"
        proc, port = start_server(binary)
    failed = 0
    try:
        for protocol in (3, 2):
            conn = redis.Redis(port=port, protocol=protocol)
            conn.flushall()
            for check in (run_jobs, blocked_worker_wakes):
                try:
                    check(conn)
                    print(f"rq: {check.__name__} (RESP{protocol}) ok")
                except Exception as err:  # noqa: BLE001 - report every failing check
                    failed += 1
                    print(f"rq: {check.__name__} (RESP{protocol}) FAILED: {err!r}")
    finally:
        if proc:
            proc.kill()
    print(f"rq: {4 - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
