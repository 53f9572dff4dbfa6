"""The nightly publication chain: activate → build (v2, v1, CSV) → validate → gate → publish.

Services called by the Celery tasks (`exports.tasks`) and by the admin. Every run is an
`ExportRun` row; its status moves pending → running → succeeded | held | failed, and a held run
→ succeeded (released and published) | rejected.

Exactly-once publishing without trusting the broker:
- at most one open run (pending/running/held) per date (database constraint), and a date that
  already has a published run is skipped by the nightly trigger;
- a worker executing a run holds the run's PostgreSQL advisory lock (`exports.locks`) for the
  whole run, so a second delivery of the same task (acks_late redelivery) finds the lock taken
  and does nothing, and a run left "running" by a dead worker is recognised the moment its lock
  is free: it is marked failed and a new run for the date may start (automatically, up to
  `EXPORT_RUN_MAX_ATTEMPTS` when the broker redelivers the task);
- all formats and the manifest are read in one REPEATABLE READ, READ ONLY transaction, so the
  v2, v1 and CSV files and the gate's manifest describe the same register state.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import socket
import threading
import time
import traceback
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from registry.errors import DomainError, NotAllowed
from registry.permissions import is_system
from registry.selectors import changelog_position

from . import BUILDER_VERSION, activation, faults, gate, locks, parallel, publish, validate
from .formats import get_format
from .manifest import build_manifest
from .models import ExportRun

logger = logging.getLogger(__name__)
Status = ExportRun.Status

DEFAULT_FORMATS = ("v2", "v1", "csv", "complete")


def _setting(name: str, default):
    # Tests override these with the `settings` fixture; production values come from settings.py.
    return getattr(settings, name, default)


def today() -> dt.date:
    """The snapshot date of a run started now: the date in Europe/Copenhagen."""
    return timezone.localdate()


class AlreadyPublished(DomainError):
    """The date already has a published run; ask before publishing it again."""

    def __init__(self, run: ExportRun):
        self.run = run
        super().__init__(_("Filerne for %(date)s er allerede publiceret (kørsel #%(id)d).")
                         % {"date": run.snapshot_date, "id": run.pk})


# -- enqueueing ------------------------------------------------------------------------------------

def _enqueue_run(run_id: int) -> None:
    from .tasks import run_export

    transaction.on_commit(lambda: run_export.apply_async(args=[run_id]))


def _enqueue_publish(run_id: int) -> None:
    from .tasks import publish_run

    transaction.on_commit(lambda: publish_run.apply_async(args=[run_id]))


# -- starting runs ---------------------------------------------------------------------------------

def _check_actor(actor, perm: str, message: str) -> None:
    if is_system(actor) or actor.is_superuser:
        return
    if not actor.has_perm(perm):
        raise NotAllowed(message)


def _default_parameters(formats=None) -> dict:
    return {"formats": list(formats or _setting("EXPORT_FORMATS", DEFAULT_FORMATS))}


def request_run(*, actor, day: dt.date | None = None, force: bool = False, formats=None,
                trigger: str = ExportRun.Trigger.ADMIN) -> ExportRun:
    """Start a run for `day` (today) now ("kør nu"). Refused while another run for the date is
    open; a date already published needs `force` (a deliberate republication)."""
    _check_actor(actor, "exports.run_export", _("Kun en SOR-administrator kan starte en publicering."))
    day = day or today()
    reap_lost_runs(day=day)
    with transaction.atomic():
        open_run = ExportRun.objects.select_for_update().filter(snapshot_date=day, status__in=ExportRun.OPEN_STATUSES).first()
        if open_run is not None:
            raise DomainError(_open_run_message(open_run))
        published = ExportRun.objects.filter(snapshot_date=day, status=Status.SUCCEEDED).order_by("-pk").first()
        if published is not None and not force:
            raise AlreadyPublished(published)
        params = _default_parameters(formats)
        params["republish"] = published is not None
        try:
            with transaction.atomic():
                run = ExportRun.objects.create(
                    snapshot_date=day, trigger=trigger, parameters=params,
                    requested_by=None if is_system(actor) else actor,
                )
        except IntegrityError:
            raise DomainError(_("Der blev netop startet en anden publicering for %(date)s.") % {"date": day}) from None
        run.log = _line(_("Bestilt (%(trigger)s)%(who)s.") % {
            "trigger": run.get_trigger_display(), "who": _(" af %(who)s") % {"who": actor} if not is_system(actor) else ""})
        run.save(update_fields=["log"])
        _enqueue_run(run.pk)
    return run


def _open_run_message(run: ExportRun) -> str:
    if run.status == Status.HELD:
        return _("Kørsel #%(id)d for %(date)s er tilbageholdt og venter på at blive frigivet eller afvist.") % {
            "id": run.pk, "date": run.snapshot_date}
    return _("Kørsel #%(id)d for %(date)s er allerede i gang (%(status)s).") % {
        "id": run.pk, "date": run.snapshot_date, "status": run.get_status_display()}


def start_nightly(day: dt.date | None = None) -> dict:
    """The beat entry point: one run per date. Idempotent: a date that is published, held or
    being built is left alone; a pending run whose message was lost is enqueued again."""
    day = day or today()
    reap_lost_runs(day=day)
    with transaction.atomic():
        published = ExportRun.objects.filter(snapshot_date=day, status=Status.SUCCEEDED).order_by("-pk").first()
        if published is not None:
            logger.info("Nightly export for %s skipped: already published by run %s", day, published.pk)
            return {"date": day.isoformat(), "status": "skipped", "reason": "published", "run": published.pk}
        open_run = ExportRun.objects.select_for_update().filter(snapshot_date=day, status__in=ExportRun.OPEN_STATUSES).first()
        if open_run is not None:
            if open_run.status == Status.PENDING:
                _enqueue_run(open_run.pk)
                return {"date": day.isoformat(), "status": "requeued", "run": open_run.pk}
            return {"date": day.isoformat(), "status": "skipped", "reason": open_run.status, "run": open_run.pk}
        try:
            with transaction.atomic():
                run = ExportRun.objects.create(snapshot_date=day, trigger=ExportRun.Trigger.SCHEDULE,
                                               parameters=_default_parameters(),
                                               log=_line(_("Bestilt af den natlige planlægning.")))
        except IntegrityError:
            return {"date": day.isoformat(), "status": "skipped", "reason": "concurrent"}
        _enqueue_run(run.pk)
    return {"date": day.isoformat(), "status": "started", "run": run.pk}


# -- lost workers ----------------------------------------------------------------------------------

def reap_lost_runs(day: dt.date | None = None) -> list[int]:
    """Mark failed every running run whose worker is gone (its advisory lock is free)."""
    qs = ExportRun.objects.filter(status=Status.RUNNING)
    if day is not None:
        qs = qs.filter(snapshot_date=day)
    reaped = []
    for run_id in qs.values_list("pk", flat=True):
        with locks.run_lock(run_id) as acquired:
            if not acquired:
                continue
            with transaction.atomic():
                run = ExportRun.objects.select_for_update().get(pk=run_id)
                if run.status == Status.RUNNING:
                    _mark_lost(run)
                    reaped.append(run_id)
    return reaped


def _mark_lost(run: ExportRun) -> None:
    run.status = Status.FAILED
    run.finished_at = timezone.now()
    run.error = _("Arbejderen stoppede under kørslen (trin: %(step)s, sidste livstegn: %(beat)s); kørslen er opgivet, "
                  "og de tidligere publicerede filer er urørte.") % {
        "step": f"{run.step_label} ({run.step})" if run.step else "-", "beat": timezone.localtime(run.heartbeat_at).isoformat() if run.heartbeat_at else "-"}
    run.log += _line(run.error)
    run.save(update_fields=["status", "finished_at", "error", "log"])
    if run.staging_dir:
        shutil.rmtree(run.staging_dir, ignore_errors=True)
    logger.warning("Export run %s lost its worker at step %s; marked failed", run.pk, run.step)


# -- executing a run -------------------------------------------------------------------------------

def _line(text: str) -> str:
    return f"{timezone.localtime().strftime('%Y-%m-%d %H:%M:%S')} {text}\n"


class _RunLog:
    """Collects log lines in memory; written to the row at step boundaries (the build itself
    runs in a read-only snapshot transaction)."""

    def __init__(self, run: ExportRun):
        self.run = run
        self.pending: list[str] = []

    def __call__(self, text: str) -> None:
        logger.info("Export run %s: %s", self.run.pk, text)
        self.pending.append(_line(text))

    def flush(self, *fields: str) -> None:
        if self.pending:
            self.run.log += "".join(self.pending)
            self.pending.clear()
        self.run.save(update_fields=["log", *fields])


class _Heartbeat:
    """A thread that stamps `heartbeat_at` and the current progress on the row every few seconds,
    on its own database connection (the main one is inside the snapshot transaction)."""

    def __init__(self, run_id: int):
        self.run_id = run_id
        self.interval = float(_setting("EXPORT_RUN_HEARTBEAT_SECONDS", 15))
        self.progress = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval > 0:
            self._thread = threading.Thread(target=self._loop, name=f"export-heartbeat-{self.run_id}", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    ExportRun.objects.filter(pk=self.run_id, status=Status.RUNNING).update(
                        heartbeat_at=timezone.now(), progress=self.progress[:200])
                except Exception:  # a missed beat must never break the run
                    logger.exception("Heartbeat of export run %s failed", self.run_id)
        finally:
            connections.close_all()  # this thread's connections only

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


@contextlib.contextmanager
def snapshot():
    """One consistent, read-only view of the register for every format and the manifest. Yields
    the snapshot's exported id, which other connections can adopt (`exports.parallel`), or None
    when this runs inside a caller's transaction (whose uncommitted rows no other connection sees)."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        shared = None
        if outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            shared = parallel.export_snapshot()
        yield shared


def execute_run(run_id: int, *, task_id: str = "") -> dict:
    """Run the chain for one run row. Safe to call twice (redelivery): a second call while the
    first is alive does nothing; after the first died it marks that run failed and (within the
    attempt limit) starts a new one."""
    with locks.run_lock(run_id) as acquired:
        if not acquired:
            return {"run": run_id, "status": "busy"}
        with transaction.atomic():
            run = ExportRun.objects.select_for_update().get(pk=run_id)
            if run.status == Status.RUNNING:
                # We hold its lock, so whoever set it running is gone.
                _mark_lost(run)
                successor = _retry_after_loss(run)
                return {"run": run_id, "status": Status.FAILED, "successor": successor.pk if successor else None}
            if run.status != Status.PENDING:
                return {"run": run_id, "status": run.status, "noop": True}
            run.status = Status.RUNNING
            run.started_at = run.heartbeat_at = timezone.now()
            run.worker = f"{socket.gethostname()}:{os.getpid()}"
            run.task_id = task_id or ""
            run.step = ""
            run.log += _line(_("Startet af %(worker)s (forsøg %(n)d).") % {"worker": run.worker, "n": run.attempt})
            run.save()
        heartbeat = _Heartbeat(run.pk)
        heartbeat.start()
        try:
            _chain(run, heartbeat)
        finally:
            heartbeat.stop()
    return {"run": run.pk, "status": run.status, "counts": _small_counts(run)}


def _retry_after_loss(run: ExportRun) -> ExportRun | None:
    if run.attempt >= int(_setting("EXPORT_RUN_MAX_ATTEMPTS", 3)):
        run.log += _line(_("Intet nyt forsøg: grænsen på %(n)d forsøg er nået.") % {"n": run.attempt})
        run.save(update_fields=["log"])
        return None
    successor = ExportRun.objects.create(
        snapshot_date=run.snapshot_date, trigger=ExportRun.Trigger.RETRY, parameters=run.parameters,
        requested_by=run.requested_by, attempt=run.attempt + 1, previous_attempt=run,
        log=_line(_("Nyt forsøg efter kørsel #%(id)d, hvis arbejder stoppede.") % {"id": run.pk}),
    )
    _enqueue_run(successor.pk)
    return successor


def _small_counts(run: ExportRun) -> dict:
    return {name: value for name, value in (run.counts or {}).items() if name in ("units", "files")}


def _set_step(run: ExportRun, log: _RunLog, step: str) -> None:
    run.step = step
    log(_("Trin: %(label)s (%(step)s)") % {"label": run.step_label, "step": step})
    log.flush("step")


def _chain(run: ExportRun, heartbeat: _Heartbeat) -> None:
    log = _RunLog(run)
    day = run.snapshot_date
    formats = list(run.parameters.get("formats") or DEFAULT_FORMATS)
    staging = publish.staging_dir_for(run.pk)
    try:
        _set_step(run, log, "activate")
        run.counts = {"activation": activation.run_activators(day, log=log)}

        _set_step(run, log, "build")
        run.staging_dir = str(staging)  # recorded before it exists, so retention elsewhere spares it
        log.flush("staging_dir", "counts")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        files_dir, manifest, checked, invalid = _build(run, staging, day, formats, log, heartbeat)

        _set_step(run, log, "validate")
        if invalid:
            raise validate.ExportInvalid(invalid[0])
        run.counts["checks"] = {**checked, **validate.validate_directory(files_dir, day, manifest, skip=set(checked))}
        run.files = publish.seal(files_dir)
        run.counts["units"] = len(manifest["units"])
        log(_("Filerne er kontrolleret: %(names)s.") % {"names": ", ".join(sorted(run.files))})
        log.flush("counts", "files", "changelog_position", "builder_version")

        _set_step(run, log, "gate")
        current = publish.latest_dir()
        previous = publish.read_manifest(current) if current else None
        result = gate.compare(previous, manifest)
        run.diff = result.diff
        if result.held:
            run.status = Status.HELD
            run.finished_at = timezone.now()
            for reason in result.reasons:
                log(_("Tilbageholdt: %(reason)s") % {"reason": reason})
            log(_("Kørslen venter på, at en SOR-administrator frigiver eller afviser den."))
            log.flush("diff", "status", "finished_at")
            logger.warning("Export run %s for %s held by the publication gate: %s", run.pk, day, result.reasons)
            return
        log(_("Publiceringskontrollen er bestået%(first)s.") % {
            "first": _(" (første publicering)") if result.diff.get("first_publication") else ""})
        log.flush("diff")
        _publish(run, log)
    except Exception as exc:
        run.status = Status.FAILED
        run.finished_at = timezone.now()
        run.error = "".join(traceback.format_exception(exc))[-20000:]
        log(_("Fejlet i trin %(step)s: %(error)s") % {"step": run.step, "error": exc})
        log.flush("status", "finished_at", "error", "counts", "files", "diff")
        shutil.rmtree(staging, ignore_errors=True)
        logger.exception("Export run %s for %s failed at step %s", run.pk, day, run.step)


def _build(run: ExportRun, staging: Path, day: dt.date, formats: list[str], log: _RunLog,
           heartbeat: _Heartbeat) -> tuple[Path, dict, dict, list]:
    """Render the formats into staging/publish with the manifest. Returns (directory, manifest,
    the per-file checks already run by parallel builders, their failures)."""
    out = staging / "publish"
    work = staging / "work"
    out.mkdir()
    produced: dict[str, str] = {}
    checked: dict[str, dict] = {}
    invalid: list[str] = []

    def progress_for(identifier):
        def progress(done=None, total=None, *_args, **_kwargs):
            heartbeat.progress = f"{identifier}: {done}/{total}" if total else f"{identifier}: {done}"
        return progress

    created_at = timezone.now()  # one creation time for every file of the run
    with snapshot() as shared:
        run.changelog_position = changelog_position()
        run.builder_version = BUILDER_VERSION
        manifest = build_manifest(day)
        manifest["changelog_position"] = run.changelog_position
        manifest["builder_version"] = BUILDER_VERSION

        def take(identifier, result):
            for name, path in result["files"].items():
                public = publish.published_name(identifier, name)
                if public in produced:
                    raise RuntimeError(f"{identifier} and {produced[public]} both produce {public}")
                os.replace(path, out / public)
                produced[public] = identifier
            run.counts[identifier] = {**result.get("counts", {}), "seconds": result["seconds"]}
            log(_("%(fmt)s bygget på %(s).1f s: %(files)s") % {
                "fmt": identifier, "s": result["seconds"], "files": ", ".join(publish.published_name(identifier, n)
                                                                              for n in result["files"])})

        if shared and parallel.jobs() > 1 and len(formats) > 1:
            manifest_path = staging / "manifest.json"
            manifest_path.write_text(json.dumps(manifest))

            def tick(running):
                heartbeat.progress = ", ".join(running)

            results = parallel.build_parts(formats=formats, day=day, work=work, snapshot_id=shared,
                                           manifest_path=manifest_path, created_at=created_at,
                                           on_tick=tick, on_done=take)
            for identifier in formats:
                checked.update(results[identifier]["checks"])
                if results[identifier]["invalid"]:
                    invalid.append(results[identifier]["invalid"])
        else:
            for identifier in formats:
                fmt = get_format(identifier)
                target = work / identifier
                target.mkdir(parents=True)
                started = time.monotonic()
                extra = {"created_at": created_at} if identifier in ("v1", "v2") else {}
                result = fmt.render(day, target, progress=progress_for(identifier), **extra)
                take(identifier, {**result, "seconds": round(time.monotonic() - started, 3)})
        faults.checkpoint("build")
    shutil.rmtree(work, ignore_errors=True)
    if "Sor.xml" in produced:
        publish.make_zip(out / "Sor.xml", out / publish.ZIP_NAME, day)
    if publish.COMPLETE_ZIP in produced:
        # What the package holds, so a consumer can check the members it unpacked.
        manifest["zip_members"] = {publish.COMPLETE_ZIP: {
            name: {"size": (out / name).stat().st_size, "sha256": publish.sha256_file(out / name)}
            for name in publish.COMPLETE_MEMBERS}}
    manifest["files"] = {
        path.name: path.stat().st_size for path in sorted(out.iterdir())
        if path.is_file() and not path.name.startswith(".")
    }
    publish.write_manifest(out, manifest)
    return out, manifest, checked, invalid


def _publish(run: ExportRun, log: _RunLog) -> None:
    """Publish the run's sealed files (it holds the run lock). Raises on failure."""
    _set_step(run, log, "publish")
    day = run.snapshot_date
    files_dir = Path(run.staging_dir) / "publish"
    with locks.publish_lock():
        newer = [d for d in publish.published_days() if d > day]
        if newer:
            raise DomainError(_("Der er allerede publiceret filer for en senere dato (%(date)s); filerne for %(day)s "
                                "publiceres ikke.") % {"date": newer[-1], "day": day})
        target = publish.publish_directory(files_dir, day)
        shutil.rmtree(run.staging_dir, ignore_errors=True)
        run.status = Status.SUCCEEDED
        run.published_dir = str(target)
        run.published_at = run.finished_at = timezone.now()
        log(_("Publiceret i %(dir)s; latest peger nu på %(day)s.") % {"dir": target, "day": day})
        log.flush("status", "published_dir", "published_at", "finished_at")
        protected = {
            Path(path).name for path in ExportRun.objects.filter(status__in=ExportRun.OPEN_STATUSES)
            .exclude(staging_dir="").values_list("staging_dir", flat=True)
        }
        try:
            removed = publish.apply_retention(day, int(settings.EXPORT_KEEP_DAYS), protected_staging=protected)
        except OSError as exc:  # the files are published; a failed clean-up must not fail the run
            removed = []
            log(_("Oprydning fejlede (filerne er publiceret): %(error)s") % {"error": exc})
            logger.exception("Retention after export run %s failed", run.pk)
    if removed:
        log(_("Oprydning (gem %(n)d dage): fjernet %(items)s") % {"n": settings.EXPORT_KEEP_DAYS,
                                                                    "items": ", ".join(removed)})
        log.flush()


# -- decisions on held runs ------------------------------------------------------------------------

def release_run(*, actor, run: ExportRun | int, reason: str) -> ExportRun:
    """"Frigiv": a SOR-administrator accepts a held run's files; they are published by a task."""
    _check_actor(actor, "exports.decide_export", _("Kun en SOR-administrator kan frigive en publicering."))
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Skriv en begrundelse for frigivelsen."))
    with transaction.atomic():
        run = ExportRun.objects.select_for_update().get(pk=getattr(run, "pk", run))
        if run.status != Status.HELD:
            raise DomainError(_("Kun en tilbageholdt kørsel kan frigives; kørsel #%(id)d er %(status)s.")
                              % {"id": run.pk, "status": run.get_status_display()})
        if run.decision != ExportRun.Decision.RELEASED:
            newer = ExportRun.objects.filter(status=Status.SUCCEEDED, snapshot_date__gt=run.snapshot_date).first()
            if newer is not None:
                raise DomainError(_("Filerne for %(date)s er allerede afløst af publiceringen for %(newer)s; afvis "
                                    "kørslen i stedet.") % {"date": run.snapshot_date, "newer": newer.snapshot_date})
            run.decision = ExportRun.Decision.RELEASED
            run.decided_by = None if is_system(actor) else actor
            run.decided_at = timezone.now()
            run.decision_reason = reason
            run.log += _line(_("Frigivet af %(who)s: %(reason)s") % {"who": actor or "system", "reason": reason})
            run.save(update_fields=["decision", "decided_by", "decided_at", "decision_reason", "log"])
        _enqueue_publish(run.pk)
    return run


def reject_run(*, actor, run: ExportRun | int, reason: str) -> ExportRun:
    """"Afvis": a held run's files are discarded and never published."""
    _check_actor(actor, "exports.decide_export", _("Kun en SOR-administrator kan afvise en publicering."))
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Skriv en begrundelse for afvisningen."))
    run_id = getattr(run, "pk", run)
    with locks.run_lock(run_id) as acquired:
        if not acquired:
            raise DomainError(_("Kørslen er ved at blive publiceret; prøv igen om lidt."))
        with transaction.atomic():
            run = ExportRun.objects.select_for_update().get(pk=run_id)
            if run.status != Status.HELD or run.decision == ExportRun.Decision.RELEASED:
                raise DomainError(_("Kun en tilbageholdt kørsel, der ikke er frigivet, kan afvises; kørsel #%(id)d er "
                                    "%(status)s.") % {"id": run.pk, "status": run.get_status_display()})
            run.status = Status.REJECTED
            run.decision = ExportRun.Decision.REJECTED
            run.decided_by = None if is_system(actor) else actor
            run.decided_at = timezone.now()
            run.decision_reason = reason
            run.log += _line(_("Afvist af %(who)s: %(reason)s") % {"who": actor or "system", "reason": reason})
            run.save(update_fields=["status", "decision", "decided_by", "decided_at", "decision_reason", "log"])
            staging = run.staging_dir
        if staging:
            shutil.rmtree(staging, ignore_errors=True)
    return run


def publish_released(run_id: int) -> dict:
    """Task body after "frigiv": publish the held run's files (idempotent)."""
    with locks.run_lock(run_id) as acquired:
        if not acquired:
            return {"run": run_id, "status": "busy"}
        run = ExportRun.objects.get(pk=run_id)
        if run.status != Status.HELD or run.decision != ExportRun.Decision.RELEASED:
            return {"run": run_id, "status": run.status, "noop": True}
        log = _RunLog(run)
        try:
            _publish(run, log)
        except Exception as exc:
            run.status = Status.FAILED
            run.finished_at = timezone.now()
            run.error = "".join(traceback.format_exception(exc))[-20000:]
            log(_("Publicering efter frigivelse fejlede: %(error)s") % {"error": exc})
            log.flush("status", "finished_at", "error")
            shutil.rmtree(run.staging_dir, ignore_errors=True)
            logger.exception("Publishing released export run %s failed", run_id)
    return {"run": run_id, "status": run.status}


def run_worker_alive(run: ExportRun) -> bool | None:
    """For display: is a worker holding this running run? None when not running."""
    if run.status != Status.RUNNING:
        return None
    return locks.run_is_held_elsewhere(run.pk)
