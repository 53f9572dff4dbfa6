"""PostgreSQL session advisory locks, the one helper behind every lock of the project (the
publication chain's in `exports.locks`, the import's in `registry.services.imports`).

A session-level lock is held until it is released or the session ends: PostgreSQL frees it when
the process holding it dies, so "a job marked running whose lock is free" means its worker was
lost. A session can re-take its own lock, so a probe from the process that holds it reports it
free; only other processes are told the truth."""

from __future__ import annotations

import contextlib

from django.db import connection


def lock_key(kind: int, ident: int = 0) -> int:
    """A 64-bit key: the kind in the high half, an id (a run's, a job's) in the low half."""
    return (kind << 32) | (ident & 0xFFFFFFFF)


@contextlib.contextmanager
def advisory_lock(key: int, *, wait: bool):
    """Yields True when this session now holds `key` (`wait=False` never blocks)."""
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
            acquired = True
        else:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired and connection.connection is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
