"""`make bench` section "cases": correction requests.

- intake throughput: 1,000 distinct mails (the sample kinds, each made unique) through the same
  ingest as the IMAP poller, acknowledgements queued (sent by the worker, not measured here);
- the case queue page (the admin list, unassigned queue) with 50,000 cases, median of 5 loads,
  logged in as the support desk (target ≤ 1 s).

The 50,000 cases are created once in the bench database with plain SQL-free ORM bulk inserts
(cases are not register data: no history), then reused."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

QUEUE_CASES = 50_000
QUEUE_TARGET_S = 1.0


def _units():
    from registry.models import LocationNumber, Unit

    with_gln = LocationNumber.objects.filter(to_date__isnull=True).select_related("unit").first()
    picks = [with_gln.unit] + list(Unit.objects.filter(level="OE").exclude(provider_number="").order_by("sor_id")[:2])
    return [{"sor_id": str(u.pk), "name": u.name, "provider_number": u.provider_number,
             "gln": with_gln.gln if u.pk == with_gln.unit_id else "", "phone": u.phone, "email": u.email}
            for u in picks]


def _fill_queue() -> None:
    import datetime as dt

    from django.utils import timezone

    from registry.models import Case

    have = Case.objects.count()
    if have >= QUEUE_CASES:
        return
    started = time.perf_counter()
    now = timezone.now()
    batch = [Case(reference=f"SOR-2025-B{n:07d}", subject=f"Bench-henvendelse {n}", sender_email=f"k{n}@example.dk",
                  status=("new", "in_progress", "awaiting_approval", "answered", "closed")[n % 5],
                  received_at=now - dt.timedelta(minutes=n), due_at=now + dt.timedelta(days=5 - n % 10))
             for n in range(have, QUEUE_CASES)]
    Case.objects.bulk_create(batch, batch_size=5000)
    print(f"[bench] created {len(batch):,} cases in {time.perf_counter() - started:.1f} s")


def run(args) -> int:
    from django.test.utils import override_settings

    from registry.cases.samples import sample_mails
    from sor_admin.devmail import smtp_controller

    mails = [raw for name, raw in sample_mails(_units()) if name != "malformed"]
    stamp = time.time_ns()
    with tempfile.TemporaryDirectory() as mail_dir:
        sink = smtp_controller(Path(mail_dir) / "outbox", port=_free_port())
        with override_settings(SOR_MAIL_DIR=mail_dir, CELERY_TASK_ALWAYS_EAGER=True, SOR_SMTP_HOST="127.0.0.1",
                               SOR_SMTP_PORT=sink.port, SOR_SMTP_TLS="none", SOR_SMTP_USER=""):
            elapsed = _intake(mails, stamp)
        sink.stop()
    print(f"[bench] intake: 1,000 mails in {elapsed:.1f} s = {1000 / elapsed:.0f} mails/s "
          f"({len(sink.sink.messages)} acknowledgements sent over SMTP on loopback)")
    _queue()
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _intake(mails, stamp) -> float:
    from registry.cases.intake.ingest import ingest

    started = time.perf_counter()
    for n in range(1000):
        raw = mails[n % len(mails)]
        unique = raw.replace(b"Message-ID: <sorpost-sample-", f"Message-ID: <bench-{stamp}-{n}-".encode(), 1)
        if unique == raw:  # the sample without Message-ID: make its content unique
            unique = raw + f"\n{stamp}-{n}\n".encode()
        ingest(unique, origin="bench")
    return time.perf_counter() - started


def _queue() -> None:
    from django.conf import settings
    from django.test import Client
    from django.test.utils import override_settings

    from registry.personas import ensure_personas

    _fill_queue()
    users = ensure_personas()
    client = Client()
    client.force_login(users["support"])
    times = []
    with override_settings(ALLOWED_HOSTS=["testserver", *settings.ALLOWED_HOSTS]):
        for _ in range(5):
            started = time.perf_counter()
            response = client.get("/admin/registry/case/?queue=unassigned")
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.status_code
    median = statistics.median(times)
    print(f"[bench] case queue page (unassigned, {QUEUE_CASES:,} cases): median {median * 1000:.0f} ms "
          f"(target ≤ {QUEUE_TARGET_S * 1000:.0f} ms: {'PASS' if median <= QUEUE_TARGET_S else 'FAIL'})")
