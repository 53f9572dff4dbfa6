"""Bench section `exports`: SOR XML export and import at national scale.

Figures (each with PASS/FAIL against its target):
- v2 and v1 export: wall time and peak memory of `manage.py sor_export` run in a subprocess;
- floor: the same builder + writer fed from the register already loaded in memory, and the
  ratio export time / floor time;
- import of the v2 file into an EMPTY database (`<bench db>_import`, created and migrated here)
  in a subprocess, and the re-import of the unchanged file with the number of rows it wrote.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT

TARGETS = {"export_s": 60.0, "export_mb": 400.0, "ratio": 2.5, "import_s": 60.0}
PY = str(ROOT / ".venv/bin/python")
REPEATS = 3

# Runs a management command in a child process and prints its own peak RSS (kB) last. Linux keeps
# the parent's high-water mark across fork+exec, so this process never loads the register itself:
# the floor runs in a child too.
_WRAPPER = (
    "import os, resource, sys, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'sor_admin.settings'); "
    "django.setup(); from django.core.management import call_command; "
    "args = sys.argv[1:]; call_command(*args); "
    "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
)


def _run(args, env) -> tuple[float, float, str]:
    started = time.perf_counter()
    proc = subprocess.run([PY, "-c", _WRAPPER, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-4000:])
        raise SystemExit(f"[bench] {' '.join(args)} failed")
    match = re.search(r"MAXRSS_KB (\d+)", proc.stdout)
    return elapsed, int(match.group(1)) / 1024 if match else float("nan"), proc.stdout


def _events_written(out: str) -> int:
    found = re.search(r"(\d+) hændelser i ændringsloggen", out)
    return int(found.group(1)) if found else -1


def hostile_unknown_elements(tmp, env, n: int = 1_000_000) -> None:
    """Refusing a zip of one owner holding a million unknown elements: time and peak memory of
    `sor_import --dry-run` (the reader stops at its error bound and drops unknown elements as they end)."""
    import zipfile

    head = (b'<?xml version="1.0" encoding="UTF-8"?>\n<SorTree xmlns="urn:oio:sundhedsstyrelsen:organisation:1.0.0">\n'
            b"<CreatedAtTime>2026-01-01T00:00:00+01:00</CreatedAtTime>\n<SnapshotDate>2026-01-01</SnapshotDate>\n"
            b"<InstitutionOwnerEntity><InstitutionOwner>\n")
    path = Path(tmp) / "unknown-elements.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("Sor.xml", "w") as fh:
        fh.write(head)
        for _ in range(n // 10_000):
            fh.write(b"<Unknown/>\n" * 10_000)
        fh.write(b"</InstitutionOwner></InstitutionOwnerEntity></SorTree>\n")
    started = time.perf_counter()
    wrapper = _WRAPPER.replace("call_command(*args); ", "exec('try:\\n call_command(*args)\\nexcept Exception as e:\\n "
                                                        "print(e, file=sys.stderr); code = 1\\nelse:\\n code = 0'); ")
    wrapper += "; sys.exit(code)"
    proc = subprocess.run([PY, "-c", wrapper, "sor_import", str(path), "--dry-run", "--reason", "bench: hostile"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    match = re.search(r"MAXRSS_KB (\d+)", proc.stdout + proc.stderr)
    peak = int(match.group(1)) / 1024 if match else float("nan")
    refused = proc.returncode == 1 and "stoppet efter" in proc.stderr
    print(f"[bench] refuse {n:,} unknown elements ({path.stat().st_size / 1024:.0f} KB zip): {seconds:.1f} s, "
          f"peak {peak:.0f} MB (the process, Django included) {_verdict(refused and seconds < 30 and peak < 400)}")


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


_FLOOR = (
    "import os, sys, datetime as dt, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'sor_admin.settings'); "
    "django.setup(); from pathlib import Path; from bench.exports import floor_seconds; "
    "print('FLOOR_S', floor_seconds(sys.argv[1], dt.date.fromisoformat(sys.argv[2]), Path(sys.argv[3])))"
)


def _floor_in_child(version, day, out_path, env) -> float:
    proc = subprocess.run([PY, "-c", _FLOOR, version, day.isoformat(), str(out_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    return float(re.search(r"FLOOR_S ([0-9.]+)", proc.stdout).group(1))


def floor_seconds(version: str, day: dt.date, out_path: Path) -> float:
    """Write the same tree from data already in memory with the same builder and writer."""
    from exports.xml.formats import iter_owner_batches, owner_ids_in_order, write_sor_xml

    batches = list(iter_owner_batches(owner_ids_in_order(), day))  # load everything first
    started = time.perf_counter()
    with open(out_path, "wb") as fh:
        write_sor_xml(fh, version, day, batches)
    elapsed = time.perf_counter() - started
    del batches
    return elapsed


def run(args) -> None:
    from registry.models import Unit

    env = {**os.environ}
    from django.utils import timezone

    day = timezone.localdate()
    units = Unit.objects.count()
    print(f"[bench] exports: register of {units:,} units in {env.get('DATABASE_URL', '?').rsplit('/', 1)[-1]}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="sor-bench-") as tmp:
        tmp = Path(tmp)
        for version in ("v2", "v1"):
            out = tmp / version
            out.mkdir()
            # The machine is shared: each figure is the best of REPEATS runs (the usual way to
            # take out other processes' noise); peak memory is the largest seen.
            runs = []
            for _ in range(REPEATS):
                seconds, mb, out_text = _run(["sor_export", "--format", version, "--date", day.isoformat(),
                                              "--output", str(out)], env)
                # The ratio compares like with like: the export's own render time (its summary
                # line, without interpreter start-up and django.setup) against the floor.
                render = re.search(r"enheder, ([0-9.]+) s", out_text)
                runs.append((seconds, mb, float(render.group(1)) if render else seconds))
            seconds = min(r[0] for r in runs)
            mb = max(r[1] for r in runs)
            render_s = min(r[2] for r in runs)
            size = (out / "Sor.xml").stat().st_size
            floor = min(_floor_in_child(version, day, tmp / f"floor-{version}.xml", env) for _ in range(REPEATS))
            ratio = render_s / floor if floor else float("inf")
            results[version] = (seconds, mb, floor, ratio)
            print(f"[bench] export {version}: {seconds:.1f} s (target ≤ {TARGETS['export_s']:.0f}) "
                  f"{_verdict(seconds <= TARGETS['export_s'])}; peak {mb:.0f} MB (≤ {TARGETS['export_mb']:.0f}) "
                  f"{_verdict(mb <= TARGETS['export_mb'])}; {size / 1e6:.1f} MB file, {units / seconds:,.0f} units/s")
            print(f"[bench] export {version} floor (in-memory → same writer): {floor:.1f} s; render {render_s:.1f} s; "
                  f"ratio {ratio:.2f} "
                  f"(≤ {TARGETS['ratio']}) {_verdict(ratio <= TARGETS['ratio'])}")

        # Import into an empty database on the same cluster.
        base = env["DATABASE_URL"]
        import_url = base.rsplit("/", 1)[0] + "/" + base.rsplit("/", 1)[1] + "_import"
        dbname = import_url.rsplit("/", 1)[1]
        from django.db import connection

        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
            cursor.execute(f'CREATE DATABASE "{dbname}"')
        ienv = {**env, "DATABASE_URL": import_url}
        subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=ienv, check=True)
        v2_file = tmp / "v2" / "Sor.xml"
        seconds, mb, out = _run(["sor_import", str(v2_file), "--reason", "bench: import into an empty database"], ienv)
        events = _events_written(out)
        print(f"[bench] import v2 into empty db, change log on: {seconds:.1f} s (target ≤ {TARGETS['import_s']:.0f}) "
              f"{_verdict(seconds <= TARGETS['import_s'])}; peak {mb:.0f} MB; {events:,} change-log events, "
              f"{events / seconds:,.0f} events/s")
        print(f"[bench]   {out.strip().splitlines()[-2] if out.strip() else ''}")
        seconds, mb, out = _run(["sor_import", str(v2_file), "--reason", "bench: unchanged re-import"], ienv)
        written = re.search(r"(\d+) rækker skrevet", out)
        rows = int(written.group(1)) if written else -1
        events = _events_written(out)
        print(f"[bench] re-import unchanged: {seconds:.1f} s; rows written {rows}, events {events} (target 0, 0) "
              f"{_verdict(rows == 0 and events == 0)}; peak {mb:.0f} MB")
        hostile_unknown_elements(tmp, ienv)
    sys.stdout.flush()
