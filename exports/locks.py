"""PostgreSQL session advisory locks for the chain.

A worker executing a run holds the run's lock on its database session for the whole run. If the
worker dies (SIGKILL, OOM, lost host), PostgreSQL ends the session and releases the lock at
once, so "status running and the lock is free" means the run was lost: no lease timing to tune.
The publish lock serialises the few renames that change what is published.

Session-level locks need a real session: behind a transaction-pooling pgbouncer they do not
work (use session pooling for the workers). A session can re-take its own lock, so a probe
from the process that holds it reports it free; only other processes are told the truth.
"""

from __future__ import annotations

from registry.locks import advisory_lock, lock_key

_RUN = 0x534F52_01  # "SOR" + kind
_PUBLISH = 0x534F52_02


def run_lock(run_id: int):
    """Context manager yielding True if this session now holds the run's lock."""
    return advisory_lock(lock_key(_RUN, run_id), wait=False)


def publish_lock():
    """Blocks until this session is the only publisher."""
    return advisory_lock(lock_key(_PUBLISH), wait=True)


def run_is_held_elsewhere(run_id: int) -> bool:
    """True while some live session (a worker) holds the run's lock."""
    with run_lock(run_id) as acquired:
        return not acquired
