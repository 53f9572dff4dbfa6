"""Admin upload of an SDS SOR XML file: upload → dry-run preview (counts, first errors) → confirm
with a reason → the real import. The upload waits in a temporary file named by a random token kept
in the session, so the confirm step imports exactly the file that was previewed (same sha256)."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from exports.xml.importer import import_sor_file

# A national file touches every region: regional administrators (no all_regions) may not import.
REQUIRED_PERMS = ("registry.edit_register_data", "registry.add_unit", "registry.all_regions")
SESSION_KEY = "sor_import_uploads"
UPLOAD_DIR = Path(tempfile.gettempdir()) / "sor-import-uploads"
SHOWN_ERRORS = 20


class UploadForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("SOR XML-fil"), help_text=gettext_lazy("Sor.xml (v1.0.0 eller v2.0.0) eller Sor.zip med Sor.xml."))


class ConfirmForm(forms.Form):
    token = forms.CharField(widget=forms.HiddenInput)
    reason = forms.CharField(label=gettext_lazy("Begrundelse"), max_length=500, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=gettext_lazy("Skrives i historikken sammen med filens navn og sha256."))


def _check(request):
    if not request.user.has_perms(REQUIRED_PERMS):
        raise PermissionDenied(_("Kun SOR-administratorer må importere SOR-filer."))


def _context(request, **extra):
    return {**admin.site.each_context(request), "title": _("Import af SOR XML-fil"), **extra}


def _uploads(request) -> dict:
    return request.session.setdefault(SESSION_KEY, {})


@staff_member_required
@require_http_methods(["GET", "POST"])
def upload(request):
    _check(request)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        UPLOAD_DIR.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(24)
        handle, path = tempfile.mkstemp(prefix="sor-", suffix=".upload", dir=UPLOAD_DIR)
        with os.fdopen(handle, "wb") as fh:
            for chunk in form.cleaned_data["file"].chunks():
                fh.write(chunk)
        name = Path(form.cleaned_data["file"].name).name
        uploads = _uploads(request)
        uploads[token] = {"path": path, "name": name}
        request.session.modified = True
        result = import_sor_file(path, actor=request.user, reason=_("prøvekørsel"), dry_run=True, file_name=name)
        confirm = ConfirmForm(initial={"token": token})
        return render(request, "exports/import_preview.html", _context(
            request, result=result, errors=result.errors[:SHOWN_ERRORS], more_errors=max(0, len(result.errors) - SHOWN_ERRORS),
            form=confirm, token=token))
    return render(request, "exports/import_upload.html", _context(request, form=form))


@staff_member_required
@require_http_methods(["POST"])
def confirm(request):
    _check(request)
    form = ConfirmForm(request.POST)
    uploads = _uploads(request)
    entry = uploads.get(request.POST.get("token", ""))
    if entry is None or not Path(entry["path"]).exists():
        messages.error(request, _("Den uploadede fil findes ikke længere; upload den igen."))
        return redirect("sor_import:upload")
    if not form.is_valid():
        messages.error(request, _("Skriv en begrundelse for importen."))
        return redirect("sor_import:upload")
    result = import_sor_file(entry["path"], actor=request.user, reason=form.cleaned_data["reason"], dry_run=False,
                             file_name=entry["name"])
    if result.ok:
        Path(entry["path"]).unlink(missing_ok=True)
        uploads.pop(form.cleaned_data["token"], None)
        request.session.modified = True
        messages.success(request, result.summary())
    return render(request, "exports/import_done.html", _context(
        request, result=result, errors=result.errors[:SHOWN_ERRORS],
        more_errors=max(0, len(result.errors) - SHOWN_ERRORS)))
