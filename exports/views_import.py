"""Admin upload of an SDS SOR XML file, run as background jobs (`registry.ImportJob`).

upload → the file is stored and a dry-run job queued → the job's page shows a progress bar until
the preview is ready: counts, every unit to be created, changed (fields old → new) or closed,
location numbers opened or closed, the units not in the file (never deleted), and in red the
SOR-IDs that name another unit → confirm with a reason → a second job does the real import of
the same file (sha256 checked, register unchanged since the preview). Permission and the
one-import-at-a-time lock are the service's (`registry.services.imports`)."""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from registry.errors import DomainError, NotAllowed
from registry.models import ImportJob
from registry.services import imports

MAX_UPLOAD_BYTES = 2 * 1024**3  # a national Sor.xml is some 400 MB; its zip far less
PREVIEW_PAGE = 200  # rows per list on the preview page
OLD_SNAPSHOT_DAYS = 7  # a file older than this gets a red note on its preview


class UploadForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("SOR XML-fil"),
                           help_text=gettext_lazy("Sor.xml (v1.0.0 eller v2.0.0) eller Sor.zip med Sor.xml."))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("Filen er for stor (højst %(gb)d GB).") % {"gb": MAX_UPLOAD_BYTES // 1024**3})
        if Path(upload.name).suffix.lower() not in (".xml", ".zip"):
            raise forms.ValidationError(_("%(name)s er hverken en .xml- eller en .zip-fil.") % {"name": upload.name})
        return upload


class ConfirmForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Begrundelse"), max_length=500, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=gettext_lazy("Skrives i historikken sammen med filens navn og sha256."),
                             error_messages={"required": gettext_lazy("Skriv en begrundelse for importen.")})


def _check(request, kind=ImportJob.Kind.XML):
    try:
        imports.check_import_permission(request.user, kind)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from None


def _unit_admin():
    from registry.models import Unit

    return admin.site._registry[Unit]


def _context(request, **extra):
    return {**admin.site.each_context(request), "title": _("Import af SOR XML-fil"), **extra}


def _enqueue(job: ImportJob) -> None:
    from registry.tasks import run_import

    transaction.on_commit(lambda: run_import.apply_async(args=[job.pk]))


@staff_member_required
@require_http_methods(["GET", "POST"])
def upload(request):
    _check(request)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        name = Path(upload.name).name
        path = imports.store_upload(upload.chunks(), name)
        job = imports.create_job(actor=request.user, path=path, file_name=name, dry_run=True,
                                 reason=_("prøvekørsel"))
        _enqueue(job)
        return redirect("sor_import:job", job.pk)
    recent = ImportJob.objects.filter(kind=ImportJob.Kind.XML).select_related("requested_by")[:10]
    return render(request, "exports/import_upload.html", _context(request, form=form, recent=recent))


def _page(request, items, param):
    paginator = Paginator(items, PREVIEW_PAGE)
    return paginator.get_page(request.GET.get(param, 1))


@staff_member_required
@require_http_methods(["GET"])
def job(request, pk: int):
    job = get_object_or_404(ImportJob.objects.select_related("requested_by", "operation", "preview_of"), pk=pk)
    _check(request, job.kind)
    job = imports.mark_if_lost(job)
    if job.kind == ImportJob.Kind.SPREADSHEET:
        return _unit_admin().job_page(request, job)
    done, total, percent = imports.job_progress(job)
    preview = job.preview or {}
    confirmation = job.confirmations.order_by("-pk").first() if job.dry_run else None
    can_confirm = (job.dry_run and job.status == ImportJob.Status.SUCCEEDED and not job.errors and confirmation is None
                   and bool(job.stored_path) and Path(job.stored_path).exists()
                   and (job.counts.get("created") or job.counts.get("changed")
                        or job.counts.get("location_numbers_created") or job.counts.get("location_numbers_changed")
                        or job.counts.get("location_numbers_closed") or job.counts.get("codes_created")))
    snapshot_age = None
    if preview.get("snapshot_date"):
        import datetime as dt

        from django.utils import timezone

        try:
            snapshot_age = (timezone.localdate() - dt.date.fromisoformat(preview["snapshot_date"])).days
        except ValueError:
            snapshot_age = None
    lists = {name: _page(request, preview.get(name, []), f"p_{name}")
             for name in ("warnings", "created", "changed", "closed", "location_numbers", "not_in_file")}
    return render(request, "exports/import_job.html", _context(
        request, job=job, percent=percent, done=done, total=total, lists=lists, preview=preview,
        snapshot_old=snapshot_age if snapshot_age is not None and snapshot_age > OLD_SNAPSHOT_DAYS else None,
        can_confirm=can_confirm, confirmation=confirmation, form=ConfirmForm(),
        title=_("Prøvekørsel af %(file)s") % {"file": job.file_name} if job.dry_run
        else _("Import af %(file)s") % {"file": job.file_name}))


@staff_member_required
@require_http_methods(["GET"])
def job_status(request, pk: int):
    """The progress bar's JSON (the page also refreshes itself without JavaScript)."""
    job = get_object_or_404(ImportJob, pk=pk)
    _check(request, job.kind)
    done, total, percent = imports.job_progress(job)
    return JsonResponse({"id": job.pk, "status": job.status, "done": done, "total": total, "percent": percent,
                         "open": job.is_open})


@staff_member_required
@require_http_methods(["POST"])
def confirm(request, pk: int):
    preview = get_object_or_404(ImportJob, pk=pk, dry_run=True)
    _check(request, preview.kind)
    form = ConfirmForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Skriv en begrundelse for importen."))
        return redirect("sor_import:job", preview.pk)
    try:
        job = imports.confirm_job(actor=request.user, preview=preview, reason=form.cleaned_data["reason"])
    except DomainError as exc:
        messages.error(request, str(exc))
        return redirect("sor_import:job", preview.pk)
    _enqueue(job)
    return redirect("sor_import:job", job.pk)


@staff_member_required
@require_http_methods(["GET", "POST"])
def despite_warnings(request, pk: int):
    """A spreadsheet preview refused only for warnings, run again with "Gem trods advarsler"
    (POST; a GET, e.g. a reloaded or bookmarked URL, leads back to the job's page)."""
    refused = get_object_or_404(ImportJob, pk=pk, dry_run=True)
    _check(request, refused.kind)
    if request.method == "GET":
        return redirect("sor_import:job", refused.pk)
    try:
        job = imports.rerun_despite_warnings(actor=request.user, job=refused)
    except DomainError as exc:
        messages.error(request, str(exc))
        return redirect("sor_import:job", refused.pk)
    _enqueue(job)
    return redirect("sor_import:job", job.pk)
