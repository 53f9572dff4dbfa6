"""Downloads of published files.

- `/filer/` (and `/filer/latest/`): a public page listing the latest files with size and sha256.
- `/filer/latest/<name>`: the latest published file, no login (as SDS serves its files), for the
  names in `exports.publish.PUBLIC_FILES` (`Sor.zip`, `Sor.xml` = v2, `Sor_v1.xml`,
  `SorEntity_daily.csv`, `Edityper.csv`, `manifest.json`, `SHA256SUMS`: every file the sums list).
- `/filer/<YYYY-MM-DD>/<name>`: any file of a kept day, for logged-in staff with the view
  permission on export runs.
- `/filer/run/<id>/<name>`: the files of one run (a held run's files before release), staff only.

Responses stream (`FileResponse`) and carry a strong ETag (the file's sha256 from the set's
SHA256SUMS) and Last-Modified, and answer conditional requests with 304. `latest` is resolved once
per request and the file is opened inside the resolved directory, so a publication switching
`latest` mid-request cannot mix one day's checksum with another day's bytes. File names are
matched against a strict pattern and resolved inside their directory: no path traversal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseNotModified
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.cache import get_conditional_response
from django.utils.http import http_date
from django.views.decorators.http import require_safe

from . import publish
from .models import ExportRun

CONTENT_TYPES = {
    ".zip": "application/zip",
    ".xml": "application/xml; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
}


def _content_type(name: str) -> str:
    return CONTENT_TYPES.get(Path(name).suffix.lower(), "text/plain; charset=utf-8")


def _serve(request, directory: Path | None, name: str, *, public: bool):
    if directory is None:
        raise Http404("Ingen publicerede filer")
    path = publish.resolve_file(directory, name)
    if path is None:
        raise Http404("Ukendt fil")
    fh = open(path, "rb")  # noqa: SIM115 - FileResponse closes it
    try:
        stat = os.fstat(fh.fileno())
        digest = publish.read_sums(directory).get(name)
        if digest is None and stat.st_size <= 1024 * 1024:
            digest = hashlib.sha256(fh.read()).hexdigest()
            fh.seek(0)
        etag = f'"{digest}"' if digest else None
        last_modified = int(stat.st_mtime)
        conditional = get_conditional_response(request, etag=etag, last_modified=last_modified)
    except BaseException:
        fh.close()
        raise
    cache_control = "public, no-cache" if public else "private, no-cache"
    if conditional is not None:
        fh.close()
        if not isinstance(conditional, HttpResponseNotModified):
            return conditional  # 412
        response = conditional
    else:
        response = FileResponse(fh, content_type=_content_type(name), filename=name)
        response["Content-Length"] = str(stat.st_size)
    if etag:
        response["ETag"] = etag
    response["Last-Modified"] = http_date(last_modified)
    response["Cache-Control"] = cache_control
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _staff_only(request):
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    if not (request.user.is_staff and request.user.has_perm("exports.view_exportrun")):
        raise PermissionDenied
    return None


@require_safe
def index(request):
    directory = publish.latest_dir()
    files = []
    if directory is not None:
        sums = publish.read_sums(directory)
        for name in publish.PUBLIC_FILES:
            path = publish.resolve_file(directory, name)
            if path is not None:
                digest = sums.get(name) or (publish.sha256_file(path) if name == publish.SUMS else "")
                files.append({"name": name, "size": path.stat().st_size, "sha256": digest,
                              "url": reverse("filer:latest", args=[name])})
    context = {"snapshot_date": directory.name if directory else None, "files": files}
    return render(request, "exports/public_index.html", context)


@require_safe
def latest_file(request, name: str):
    if name not in publish.PUBLIC_FILES:
        raise Http404("Ukendt fil")
    return _serve(request, publish.latest_dir(), name, public=True)


@require_safe
def day_file(request, day: str, name: str):
    denied = _staff_only(request)
    if denied is not None:
        return denied
    try:
        dt.date.fromisoformat(day)
    except ValueError:
        raise Http404("Ugyldig dato") from None
    directory = publish.export_root() / day
    if directory.is_symlink() or not directory.is_dir():
        raise Http404("Dagen er ikke publiceret eller er slettet")
    return _serve(request, directory, name, public=False)


@require_safe
def run_file(request, run_id: int, name: str):
    denied = _staff_only(request)
    if denied is not None:
        return denied
    run = get_object_or_404(ExportRun, pk=run_id)
    return _serve(request, run_files_dir(run), name, public=False)


def run_files_dir(run: ExportRun) -> Path | None:
    """Where a run's files are now: the staging set of a held run, the published day of a
    published run (if that day is still kept and was not republished by a later run)."""
    if run.status == ExportRun.Status.HELD and run.staging_dir:
        path = Path(run.staging_dir) / "publish"
        return path if path.is_dir() else None
    if run.status == ExportRun.Status.SUCCEEDED and run.published_dir:
        path = Path(run.published_dir)
        if not path.is_dir():
            return None
        sums = publish.read_sums(path)
        if any(sums.get(name) != info.get("sha256") for name, info in run.files.items() if name != publish.SUMS):
            return None  # the day was republished by a later run
        return path
    return None
