"""`make bench` section "chain": the whole nightly chain (activate, build every format from one
snapshot, validate, gate, publish) on the bench register, as the worker runs it, into a
temporary export root; prints the time of each step and format, each file's size, and the
total against its target (≤ 60 s)."""

from __future__ import annotations

import tempfile
import time

TARGET_S = 60.0


def run(args) -> int:
    from django.conf import settings
    from django.utils import timezone

    from exports import pipeline
    from exports.models import ExportRun
    from registry.models import Unit

    day = timezone.localdate()
    with tempfile.TemporaryDirectory(prefix="sor-bench-chain-") as root:
        settings.EXPORT_ROOT = root
        run = ExportRun.objects.create(snapshot_date=day, trigger=ExportRun.Trigger.COMMAND,
                                       parameters={"formats": list(pipeline.DEFAULT_FORMATS)})
        started = time.perf_counter()
        pipeline.execute_run(run.pk)
        seconds = time.perf_counter() - started
        run.refresh_from_db()
        print(f"[bench] nightly chain on {Unit.objects.count():,} units: {run.status}, {seconds:.1f} s "
              f"(target ≤ {TARGET_S:.0f} s) {'PASS' if seconds <= TARGET_S and run.status == 'succeeded' else 'FAIL'}")
        for identifier in pipeline.DEFAULT_FORMATS:
            info = (run.counts or {}).get(identifier, {})
            print(f"[bench]   build {identifier}: {info.get('seconds', 0):.1f} s")
            for label, part in info.get("step_seconds", {}).items():
                print(f"[bench]     {label}: {part:.1f} s")
        for line in (run.log or "").splitlines():
            if "Trin:" in line or "bygget" in line:
                print(f"[bench]   log: {line.strip()}")
        for name, info in sorted((run.files or {}).items()):
            print(f"[bench]   {name:<30} {info['size'] / 1e6:9.1f} MB")
        ExportRun.objects.filter(pk=run.pk).delete()
    return 0 if run.status == ExportRun.Status.SUCCEEDED and seconds <= TARGET_S else 1
