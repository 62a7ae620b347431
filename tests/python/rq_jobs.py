"""Job functions for rq_check.py: rq's worker imports them by module path, so they live in a module."""

from rq import get_current_job


def add(x, y):
    return x + y


def fail(message):
    raise ValueError(message)


def flaky(key):
    """Fails on its first attempt, succeeds on its second: counted in the server, as a retry may run anywhere."""
    attempts = get_current_job().connection.incr(key)
    if attempts < 2:
        raise RuntimeError(f"attempt {attempts} fails")
    return attempts
