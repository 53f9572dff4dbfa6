"""The import service: every import of a SOR XML file goes through here (admin, command, tests).

- Permission in the service, not only in the view: a SOR-administrator with every region
  (a national file touches them all); the system (commands without `--user`) may.
- One import at a time: a real import holds a PostgreSQL advisory lock for its whole
  transaction; a second one is refused at once, naming the one that runs. Dry runs take no lock
  (they write nothing).
- Every run has an `ImportJob` row (admin and command alike): status, progress, counts, the
  per-unit preview, the first errors with their lines, the operation. Progress is reported
  through Django's cache (Redis), since the import's own transaction is not visible until commit.
- Uploaded files wait in `settings.IMPORT_UPLOAD_DIR` and are removed when their job ends
  without a confirm step to come (a refused or failed dry run, a real import, an expired one).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext as _

from ..errors import DomainError, NotAllowed
from ..locks import advisory_lock, lock_key
from ..models import ChangeEvent, ImportJob
from ..permissions import is_system

log = logging.getLogger("exports.import")

# A national file touches every region: regional administrators (no all_regions) may not import.
IMPORT_PERMS = ("registry.edit_register_data", "registry.add_unit", "registry.all_regions")
_LOCK_KEY = lock_key(0x534F52_03)  # "SOR" + import; exports.locks has the chain's kinds
SHOWN_ERRORS = 200
# A preview not confirmed within this time is dropped with its file.
PREVIEW_MAX_AGE = dt.timedelta(hours=4)


class ImportBusy(DomainError):
    """Another import is running."""


def check_import_permission(actor, kind=ImportJob.Kind.XML) -> None:
    if is_system(actor) or actor.is_superuser:
        return
    if kind == ImportJob.Kind.SPREADSHEET:
        # Corrections of existing units: whoever may change units; each row then goes through
        # `unit_update`, which checks the fields (contact or register data) and the region.
        if not (actor.has_perm("registry.edit_contact_data") or actor.has_perm("registry.edit_register_data")):
            raise NotAllowed(_("Du har kun læseadgang til registeret og kan ikke importere rettelser."))
        return
    if not actor.has_perms(IMPORT_PERMS):
        raise NotAllowed(_("Kun SOR-administratorer med adgang til alle regioner må importere SOR-filer "
                           "(en SOR-fil rører hele landet)."))


def progress_key(job_id: int) -> str:
    return f"import-progress:{job_id}"


def job_progress(job: ImportJob) -> tuple[int, int, int]:
    """(done, in all, percent) of a job (bytes of an XML file, rows of a spreadsheet): live from the
    cache while it runs; 100 % only once it has succeeded."""
    done, total = job.progress_done, job.progress_total
    if job.status == ImportJob.Status.RUNNING:
        done, total = cache.get(progress_key(job.pk)) or (done, total)
    if job.status == ImportJob.Status.SUCCEEDED:
        return done, total, 100
    return done, total, min(99, int(100 * done / total)) if total else 0


def _try_lock(key: int):
    return advisory_lock(key, wait=False)


def import_lock():
    """Yields True when this session now holds the import lock (never waits)."""
    return _try_lock(_LOCK_KEY)


def _job_lock(job_id: int):
    """Held by the process running a job, for the whole run: PostgreSQL frees it when that
    process dies, so "running and the lock is free" means the worker was lost."""
    return _try_lock(lock_key(0x534F52_04, job_id))


def mark_if_lost(job: ImportJob) -> ImportJob:
    """A job whose worker died (killed, out of memory) is marked failed; nothing was written,
    since its transaction ended with the process."""
    if job.status != ImportJob.Status.RUNNING:
        return job
    with _job_lock(job.pk) as free:
        if not free:
            return job
    updated = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
        status=ImportJob.Status.FAILED, finished_at=timezone.now(),
        summary=_("Arbejderen, der kørte importen, stoppede undervejs; intet er gemt. Start importen igen."))
    if updated:
        job.refresh_from_db()
        remove_upload(job)
    return job


def _busy_message(exclude_pk=None) -> str:
    other = (ImportJob.objects.filter(status=ImportJob.Status.RUNNING, dry_run=False).exclude(pk=exclude_pk)
             .select_related("requested_by").order_by("started_at").first())
    if other is None:
        return _("En anden import kører lige nu; der importeres én fil ad gangen. Prøv igen, når den er færdig.")
    who = other.requested_by.get_username() if other.requested_by else _("systemet")
    when = timezone.localtime(other.started_at).strftime("%d-%m-%Y %H:%M") if other.started_at else "?"
    return (_("En anden import kører lige nu: %(file)s, startet af %(who)s %(when)s (importkørsel %(id)s). "
              "Der importeres én fil ad gangen; prøv igen, når den er færdig.")
            % {"file": other.file_name, "who": who, "when": when, "id": other.pk})


def upload_dir() -> Path:
    path = Path(settings.IMPORT_UPLOAD_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def create_job(*, actor, path, file_name: str, dry_run: bool, reason: str = "", trigger=ImportJob.Trigger.ADMIN,
               preview_of: ImportJob | None = None, kind=ImportJob.Kind.XML, options=None) -> ImportJob:
    """A pending job for a file already stored at `path` (checked for permission first)."""
    from .xml_import import file_sha256

    check_import_permission(actor, kind)
    path = Path(path)
    return ImportJob.objects.create(
        kind=kind, dry_run=dry_run, trigger=trigger, requested_by=None if is_system(actor) else actor,
        reason=reason.strip(), preview_of=preview_of, file_name=file_name, stored_path=str(path),
        size=path.stat().st_size, sha256=file_sha256(path), options=options or {})


def confirm_job(*, actor, preview: ImportJob, reason: str) -> ImportJob:
    """The real import of a finished dry run: same file (sha256 checked), the register unchanged
    since the preview (XML: no new change-log events; a spreadsheet: none of its units changed,
    checked by the import itself), and a reason. Returns the new pending job."""
    check_import_permission(actor, preview.kind)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Skriv en begrundelse for importen."))
    if not preview.dry_run or preview.status != ImportJob.Status.SUCCEEDED or preview.errors:
        raise DomainError(_("Kun en gennemført prøvekørsel uden fejl kan bekræftes."))
    if preview.requested_by_id is not None and getattr(actor, "pk", None) != preview.requested_by_id:
        raise DomainError(_("Kun den, der lavede prøvekørslen, kan bekræfte den."))
    if preview.confirmations.exists():
        raise DomainError(_("Denne prøvekørsel er allerede bekræftet."))
    path = Path(preview.stored_path)
    if not preview.stored_path or not path.exists():
        raise DomainError(_("Den uploadede fil findes ikke længere; upload den igen."))
    if timezone.now() - preview.finished_at > PREVIEW_MAX_AGE:
        remove_upload(preview)
        raise DomainError(_("Prøvekørslen er over %(h)d timer gammel; upload filen igen.")
                          % {"h": PREVIEW_MAX_AGE.total_seconds() // 3600})
    from .xml_import import file_sha256

    if file_sha256(path) != preview.sha256:
        raise DomainError(_("Filen er ændret efter prøvekørslen; upload den igen."))
    from ..selectors import changelog_position

    if preview.changelog_position is not None and changelog_position() != preview.changelog_position:
        newer = ChangeEvent.objects.filter(seq__gt=preview.changelog_position).count()
        raise DomainError(_("Registeret er ændret siden prøvekørslen (%(n)d hændelser i ændringsloggen); kør "
                            "prøvekørslen igen, så du bekræfter det, der faktisk sker.") % {"n": newer})
    return ImportJob.objects.create(
        kind=preview.kind, dry_run=False, trigger=ImportJob.Trigger.ADMIN, requested_by=actor, reason=reason,
        preview_of=preview, file_name=preview.file_name, stored_path=preview.stored_path, size=preview.size,
        sha256=preview.sha256, options=preview.options)


def rerun_despite_warnings(*, actor, job: ImportJob) -> ImportJob:
    """A new dry run of a spreadsheet whose rows were refused only for warnings, this time with
    "Gem trods advarsler" (the same stored file, sha256 checked). Returns the new pending job."""
    check_import_permission(actor, job.kind)
    if not (job.dry_run and job.status == ImportJob.Status.FAILED and (job.counts or {}).get("only_warnings")):
        raise DomainError(_("Kun en prøvekørsel, der alene blev afvist for advarsler, kan køres igen trods dem."))
    if job.requested_by_id is not None and getattr(actor, "pk", None) != job.requested_by_id:
        raise DomainError(_("Kun den, der lavede prøvekørslen, kan køre den igen."))
    path = Path(job.stored_path) if job.stored_path else None
    if path is None or not path.exists():
        raise DomainError(_("Den uploadede fil findes ikke længere; upload den igen."))
    from .xml_import import file_sha256

    if file_sha256(path) != job.sha256:
        raise DomainError(_("Filen er ændret efter prøvekørslen; upload den igen."))
    return ImportJob.objects.create(
        kind=job.kind, dry_run=True, trigger=ImportJob.Trigger.ADMIN, requested_by=actor, reason=job.reason,
        file_name=job.file_name, stored_path=job.stored_path, size=job.size, sha256=job.sha256,
        options={**job.options, "override_warnings": True})


def remove_upload(job: ImportJob) -> None:
    """Delete a job's stored upload (only files inside the upload folder)."""
    if not job.stored_path:
        return
    path = Path(job.stored_path)
    with contextlib.suppress(OSError):
        if path.resolve().parent == Path(settings.IMPORT_UPLOAD_DIR).resolve():
            path.unlink(missing_ok=True)


def clean_uploads(max_age: dt.timedelta = PREVIEW_MAX_AGE) -> int:
    """Remove stored uploads no open or confirmable job needs (run by each job and nightly)."""
    root = Path(settings.IMPORT_UPLOAD_DIR)
    if not root.exists():
        return 0
    cutoff = timezone.now() - max_age
    keep = set(ImportJob.objects.filter(status__in=(*ImportJob.OPEN_STATUSES, ImportJob.Status.WAITING))
               .values_list("stored_path", flat=True))
    keep |= set(ImportJob.objects.filter(dry_run=True, status=ImportJob.Status.SUCCEEDED, errors=[],
                                         finished_at__gte=cutoff, confirmations__isnull=True)
                .values_list("stored_path", flat=True))
    keep |= set(ImportJob.objects.filter(dry_run=True, status=ImportJob.Status.FAILED, counts__only_warnings=True,
                                         finished_at__gte=cutoff).values_list("stored_path", flat=True))
    removed = 0
    for path in root.iterdir():
        if str(path) in keep or not path.is_file():
            continue
        if dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC) > cutoff and str(path).endswith(".part"):
            continue  # an upload being written right now
        with contextlib.suppress(OSError):
            path.unlink()
            removed += 1
    return removed


def run_job(job_id: int, progress=None) -> ImportJob:
    """Run one pending job to its end (the Celery task and the command call this). `progress(done,
    total)` is also told what the job's page is told (the command's progress bar)."""
    job = ImportJob.objects.select_related("requested_by").get(pk=job_id)
    if job.status != ImportJob.Status.PENDING:
        return job  # a redelivered task: the job already ran or runs
    with _job_lock(job.pk) as acquired:
        if not acquired:
            return job  # another process runs it
        return _run_locked(job, progress)


def run_waiting(day: dt.date, *, log=print) -> dict:
    """The nightly activation's step for imports held back by a freeze window: once no window
    holds them, each runs (oldest first) as it would have then; still frozen, they go on waiting.
    Exactly once: a job is taken from waiting to pending by one conditional update."""
    from .. import freeze

    waiting = list(ImportJob.objects.filter(status=ImportJob.Status.WAITING).order_by("created_at", "pk")
                   .values_list("pk", flat=True))
    window = freeze.blocking("imports")
    if waiting and window is not None:
        log(_("%(n)d import(er) venter på, at frysevinduet %(w)s slutter.") % {"n": len(waiting), "w": window})
        return {"ran": [], "failed": [], "waiting": [str(pk) for pk in waiting]}
    ran, failed = [], []
    for pk in waiting:
        if not ImportJob.objects.filter(pk=pk, status=ImportJob.Status.WAITING).update(status=ImportJob.Status.PENDING):
            continue  # another run took it
        job = run_job(pk)
        (ran if job.status == ImportJob.Status.SUCCEEDED else failed).append(str(pk))
        log(_("Import %(id)s efter frysevinduet: %(summary)s") % {"id": pk, "summary": job.summary})
    return {"ran": ran, "failed": failed, "waiting": []}


def _run_locked(job: ImportJob, hook=None) -> ImportJob:
    from .. import freeze

    window = None if job.dry_run else freeze.blocking("imports")
    if window is not None:  # the register is frozen: the import waits for the first nightly run after it
        job.status = ImportJob.Status.WAITING
        job.summary = _("Venter: registeret er frosset %(span)s (%(reason)s). Importen kører ved den første natlige "
                        "kørsel efter vinduet.") % {"span": freeze.span(window), "reason": window.reason}
        job.save(update_fields=["status", "summary"])
        return job
    job.status, job.started_at = ImportJob.Status.RUNNING, timezone.now()
    job.save(update_fields=["status", "started_at"])
    actor = job.requested_by
    run = _run_sheet if job.kind == ImportJob.Kind.SPREADSHEET else _run
    try:
        check_import_permission(actor, job.kind)
        if job.dry_run:
            run(job, actor, hook)
        else:
            with import_lock() as acquired:
                if not acquired:
                    raise ImportBusy(_busy_message(exclude_pk=job.pk))
                run(job, actor, hook)
    except DomainError as exc:
        job.status, job.summary = ImportJob.Status.REFUSED, str(exc)
        job.errors = [{"line": None, "message": str(exc)}]
    except Exception as exc:  # an unexpected failure: recorded on the row, the file kept for a look
        log.exception("import job %s failed", job.pk)
        job.status, job.summary = ImportJob.Status.FAILED, _("Uventet fejl: %(error)s") % {"error": exc}
        job.errors = [{"line": None, "message": job.summary}]
    job.finished_at = timezone.now()
    job.save()
    cache.delete(progress_key(job.pk))
    confirmable = job.dry_run and job.status == ImportJob.Status.SUCCEEDED and not job.errors
    rerunnable = job.dry_run and job.status == ImportJob.Status.FAILED and (job.counts or {}).get("only_warnings")
    if not (confirmable or rerunnable):
        remove_upload(job)  # nothing to confirm or to run again despite warnings: the file goes now
    clean_uploads()
    return job


def _run(job: ImportJob, actor, hook=None) -> None:
    from ..selectors import changelog_position
    from .xml_import import import_sor_file

    def progress(done, total):
        cache.set(progress_key(job.pk), (done, total), timeout=24 * 3600)
        job.progress_done, job.progress_total = done, total
        if hook is not None:
            hook(done, total)

    origin = "command" if job.trigger == ImportJob.Trigger.COMMAND else "import"
    position = changelog_position()
    result = import_sor_file(job.stored_path, actor=actor, reason=job.reason or _("prøvekørsel"),
                             dry_run=job.dry_run, origin=origin, progress=progress, file_name=job.file_name)
    job.changelog_position = position if job.dry_run else None
    job.counts = result.counts
    job.preview = {**result.plan, "unknown_codes": result.unknown_codes, "retired_codes": result.retired_codes,
                   "version": result.version, "snapshot_date": str(result.snapshot_date or ""),
                   "stopped_early": result.stopped_early}
    job.errors = [{"line": e.line, "message": e.message} for e in result.errors[:SHOWN_ERRORS]]
    if len(result.errors) > SHOWN_ERRORS:
        job.counts["errors_not_shown"] = len(result.errors) - SHOWN_ERRORS
    job.counts["errors"] = len(result.errors)
    job.summary = result.summary()
    job.log = f"{timezone.localtime():%Y-%m-%d %H:%M:%S} {job.summary}"
    job.operation_id = result.operation_id
    job.status = ImportJob.Status.SUCCEEDED if result.ok else ImportJob.Status.FAILED
    if result.ok:
        job.progress_done = job.progress_total = max(job.progress_total, 1)


def _run_sheet(job: ImportJob, actor, hook=None) -> None:
    """A spreadsheet of corrections through `UnitResource` (every row through `unit_update`, all
    or nothing); the preview keeps the resource's state digest so the confirm step refuses when a
    unit in the file changed in between."""
    from django.utils.translation import ngettext
    from import_export.results import RowResult

    from ..sheets import SHEET_FORMATS, UnitResource, row_problems

    data = Path(job.stored_path).read_bytes()
    fmt = SHEET_FORMATS[int(job.options.get("format", 0))]()
    dataset = fmt.create_dataset(data)
    total = len(dataset)

    def progress(done):
        cache.set(progress_key(job.pk), (done, total), timeout=24 * 3600)
        job.progress_done, job.progress_total = done, total
        if hook is not None:
            hook(done, total)

    expected = (job.preview_of.preview or {}).get("sheet_state") if job.preview_of_id and not job.dry_run else None
    resource = UnitResource(reason=job.reason or job.options.get("reason", ""), sha256=job.sha256,
                            override_warnings=bool(job.options.get("override_warnings")), expected_state=expected)
    resource.progress = progress
    try:
        result = resource.import_data(dataset, dry_run=job.dry_run, user=actor, file_name=job.file_name,
                                      file_size=job.size)
    except Exception as exc:  # SheetError from before/after_import: a file-level refusal
        from ..sheets import SheetError

        if not isinstance(exc, SheetError):
            raise
        job.errors = [{"line": None, "sor_id": "", "column": "", "message": str(exc)}]
        job.status, job.summary = ImportJob.Status.FAILED, str(exc)
        return
    problems = row_problems(result)
    changed = [row for row in result.rows if row.is_update()]
    updated, skipped = result.totals[RowResult.IMPORT_TYPE_UPDATE], result.totals[RowResult.IMPORT_TYPE_SKIP]
    refused = result.totals[RowResult.IMPORT_TYPE_INVALID] + result.totals[RowResult.IMPORT_TYPE_ERROR]
    job.counts = {"rows": result.total_rows, "changed": updated, "unchanged": skipped, "refused": refused,
                  "errors": len(problems)}
    warned = resource.warning_only_lines
    job.errors = [{**p, "sor_id": str(p["sor_id"]), "warning": p["line"] in warned} for p in problems[:SHOWN_ERRORS]]
    if job.dry_run and problems and all(p["line"] in warned for p in problems):
        job.counts["only_warnings"] = True
    if len(problems) > SHOWN_ERRORS:
        job.counts["errors_not_shown"] = len(problems) - SHOWN_ERRORS
    job.preview = {
        "sheet_state": result.sheet_state,
        "changed": [{"line": row.sheet_line, "sor_id": row.object_id, "name": getattr(row, "sheet_unit", row.object_repr),
                     "changes": [list(c) for c in getattr(row, "sheet_changes", [])],
                     "below": getattr(row, "sheet_below", None)}
                    for row in changed[:PREVIEW_LIMIT_SHEET]],
        "changed_cut": max(0, len(changed) - PREVIEW_LIMIT_SHEET),
    }
    failed = result.has_errors() or result.has_validation_errors()
    job.status = ImportJob.Status.FAILED if failed else ImportJob.Status.SUCCEEDED
    if failed and job.counts.get("only_warnings"):
        job.summary = _("Rækker med advarsler: intet er gemt. Kontrollér advarslerne, og vis forhåndsvisningen "
                        "trods dem, eller ret rækkerne og indlæs filen igen.")
    elif failed:
        job.summary = _("Importen blev afvist, og intet er gemt: ret rækkerne og indlæs filen igen.")
    elif job.dry_run:
        job.summary = ngettext("Prøvekørsel: %(n)d enhed rettes, %(skip)d uændrede.",
                               "Prøvekørsel: %(n)d enheder rettes, %(skip)d uændrede.", updated) % {
            "n": updated, "skip": skipped}
    else:
        job.operation_id = result.sheet_operation_id
        job.summary = ngettext(
            "Importen er gemt: %(n)d enhed rettet, %(skip)d uændrede (operation %(op)s).",
            "Importen er gemt: %(n)d enheder rettet, %(skip)d uændrede (operation %(op)s).", updated,
        ) % {"n": updated, "skip": skipped, "op": result.sheet_operation_id or "—"}
    job.log = f"{timezone.localtime():%Y-%m-%d %H:%M:%S} {job.summary}"
    if not failed:
        job.progress_done = job.progress_total = max(total, 1)


PREVIEW_LIMIT_SHEET = 5000


def import_sor_xml(path, *, actor=None, reason: str, dry_run: bool = False, file_name: str | None = None,
                   trigger=ImportJob.Trigger.COMMAND, progress=None) -> ImportJob:
    """Import a file now, in this process (the command line and tests): a job row, the
    permission check, the lock. Returns the finished job; its `status`, `summary`, `errors`,
    `counts` and `preview` tell what happened. Raises NotAllowed before anything is stored."""
    check_import_permission(actor)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    job = create_job(actor=actor, path=path, file_name=file_name or path.name, dry_run=dry_run, reason=reason,
                     trigger=trigger)
    return run_job(job.pk, progress)


def store_upload(chunks, file_name: str) -> Path:
    """Write an uploaded file into the upload folder under a random name; returns its path."""
    import secrets

    root = upload_dir()
    final = root / f"{secrets.token_hex(16)}{Path(file_name).suffix.lower()[:8]}"
    part = final.with_name(final.name + ".part")
    with open(part, "wb") as fh:
        for chunk in chunks:
            fh.write(chunk)
    os.replace(part, final)
    return final
