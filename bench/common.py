"""Bench plumbing: a separate database on the local cluster holding a generated national register.

`make bench` must not touch the working database, so `bench/__main__.py` points DATABASE_URL at
`sor_bench` (override with BENCH_DATABASE_URL) before Django starts."""

from __future__ import annotations

import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench_database_url() -> str:
    explicit = os.environ.get("BENCH_DATABASE_URL")
    if explicit:
        return explicit
    base = os.environ.get("DATABASE_URL") or subprocess.check_output([str(ROOT / "scripts/dev.sh"), "db-url"], text=True).strip()
    return base.rsplit("/", 1)[0] + "/sor_bench"


def prepare_database() -> None:
    """Point this process at the bench database, create and migrate it. Call before django.setup()."""
    url = bench_database_url()
    os.environ["DATABASE_URL"] = url
    subprocess.run([str(ROOT / "scripts/dev.sh"), "db-up"], check=True, env={**os.environ})
    subprocess.run([str(ROOT / ".venv/bin/python"), "manage.py", "migrate", "--noinput", "-v", "0"],
                   check=True, cwd=ROOT, env={**os.environ})


def ensure_bench_register(owners: int, seed: int) -> int:
    """Generate the register once (skipped when the bench database already holds one)."""
    from django.core.management import call_command

    from registry.models import Unit

    existing = Unit.objects.filter(level="IE").count()
    if existing >= owners:
        print(f"[bench] register present: {existing:,} owners, {Unit.objects.count():,} units")
        return existing
    if existing:
        raise SystemExit(f"[bench] the bench database holds {existing} owners, fewer than {owners}; "
                         "drop it (psql ... -c 'drop database sor_bench') and run again")
    started = time.perf_counter()
    call_command("sor_generate", owners=owners, seed=seed)
    print(f"[bench] generated {owners:,} owners, {Unit.objects.count():,} units in {time.perf_counter() - started:.1f} s")
    return owners


@contextmanager
def timed(label: str, results: dict | None = None):
    started = time.perf_counter()
    yield
    elapsed = time.perf_counter() - started
    if results is not None:
        results[label] = elapsed
    print(f"[bench] {label}: {elapsed:.2f} s")
