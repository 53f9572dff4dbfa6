"""Build the run's formats in parallel processes that all read the run's one snapshot (ADR 0012).

The chain's snapshot transaction exports its snapshot (`pg_export_snapshot()`); each format is
rendered by a child process (`python -m exports.parallel …`, a plain subprocess: a Celery
prefork worker may not fork multiprocessing children) that opens a REPEATABLE READ, READ ONLY
transaction with `SET TRANSACTION SNAPSHOT`, so it sees exactly what the parent and the manifest
see. The child also runs the per-file checks of `exports.validate` on what it wrote (they need
only the file and the manifest), so checking overlaps building; the parent reports a failed
check in its validate step as before. `EXPORT_BUILD_JOBS` (default 2) processes run at once,
the slowest formats first.

Used only when the snapshot transaction is the outermost one (a second connection cannot see a
caller's uncommitted rows, e.g. a test's transaction): otherwise the formats render in line.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

# Slowest first, so the longest runs start at once (measured on the national register).
_COST_ORDER = ("csv", "complete", "v1", "v2")


def jobs() -> int:
    return max(1, int(getattr(settings, "EXPORT_BUILD_JOBS", 2)))


def connection_url() -> str:
    """The URL of the database this process is connected to (a child must read the same one:
    a snapshot can be adopted only in its own database; under a test, the test database)."""
    from django.db import connection

    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgresql://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def export_snapshot() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_export_snapshot()")
        return cursor.fetchone()[0]


def _ordered(formats: list[str]) -> list[str]:
    return sorted(formats, key=lambda f: _COST_ORDER.index(f) if f in _COST_ORDER else len(_COST_ORDER))


class PartFailed(RuntimeError):
    """A child process failed to render its format; the message holds the end of its output."""


def build_parts(*, formats: list[str], day: dt.date, work: Path, snapshot_id: str, manifest_path: Path,
                created_at: dt.datetime, on_tick=None, on_done=None) -> dict[str, dict]:
    """Render `formats` into work/<identifier>/, at most `jobs()` at a time. Returns identifier →
    {"files": {name: path}, "counts": {...}, "seconds": s, "checks": {public name: counts},
    "invalid": message or None}. `on_tick(running)` is called about once a second,
    `on_done(identifier, result)` when a format is finished. Raises PartFailed (after stopping
    the others) when a child fails."""
    pending = _ordered(list(formats))
    running: dict[str, tuple[subprocess.Popen, Path, Path, float]] = {}
    results: dict[str, dict] = {}
    env = {**os.environ, "DATABASE_URL": connection_url(),
           "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "sor_admin.settings")}
    try:
        while pending or running:
            while pending and len(running) < jobs():
                identifier = pending.pop(0)
                target = work / identifier
                target.mkdir(parents=True, exist_ok=True)
                result_path = work / f"{identifier}.result.json"
                log_path = work / f"{identifier}.log"
                with open(log_path, "wb") as log:
                    proc = subprocess.Popen(
                        [sys.executable, "-m", "exports.parallel", "--snapshot", snapshot_id, "--format", identifier,
                         "--date", day.isoformat(), "--out", str(target), "--manifest", str(manifest_path),
                         "--result", str(result_path), "--created-at", created_at.isoformat()],
                        cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
                running[identifier] = (proc, result_path, log_path, time.monotonic())
            time.sleep(0.2)
            for identifier, (proc, result_path, log_path, started) in list(running.items()):
                code = proc.poll()
                if code is None:
                    continue
                del running[identifier]
                if code != 0 or not result_path.exists():
                    tail = log_path.read_text(errors="replace")[-4000:] if log_path.exists() else ""
                    raise PartFailed(f"{identifier}: the build process ended with code {code}: {tail.strip()}")
                result = json.loads(result_path.read_text())
                result["seconds"] = round(time.monotonic() - started, 3)
                results[identifier] = result
                if on_done is not None:
                    on_done(identifier, result)
            if on_tick is not None:
                on_tick(sorted(running))
    finally:
        for proc, *_rest in running.values():
            proc.kill()
            proc.wait()
    return results


def _child(argv=None) -> int:
    """The child: render one format inside the exported snapshot, check its files, write the result."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m exports.parallel")
    for name in ("--snapshot", "--format", "--date", "--out", "--manifest", "--result", "--created-at"):
        parser.add_argument(name, required=True)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sor_admin.settings")
    import django

    django.setup()
    from django.db import connection, transaction

    from . import publish, validate
    from .formats import get_format

    day = dt.date.fromisoformat(args.date)
    out = Path(args.out)
    manifest = json.loads(Path(args.manifest).read_text())
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SET TRANSACTION SNAPSHOT %s", [args.snapshot])
        fmt = get_format(args.format)
        kwargs = {"created_at": dt.datetime.fromisoformat(args.created_at)} if args.format in ("v1", "v2") else {}
        result = fmt.render(day, out, **kwargs)
    checks, invalid = {}, None
    try:
        for name, path in result["files"].items():
            public = publish.published_name(args.format, name)
            check = validate.CHECKS.get(public)
            if check is not None:
                checks[public] = check(Path(path), day, manifest)
        if publish.COMPLETE_ZIP in result["files"]:
            checks[publish.COMPLETE_ZIP] = validate.check_complete_zip(Path(result["files"][publish.COMPLETE_ZIP]), out)
    except validate.ExportInvalid as exc:
        invalid = str(exc)
    Path(args.result).write_text(json.dumps(
        {"files": result["files"], "counts": result.get("counts", {}), "checks": checks, "invalid": invalid},
        default=str))
    return 0


if __name__ == "__main__":
    sys.exit(_child())
