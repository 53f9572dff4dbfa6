"""Publishing files atomically under `settings.EXPORT_ROOT`.

Layout (everything starting with "." is private and never served):

    <EXPORT_ROOT>/
        2026-11-24/            one complete, immutable set per published day
        2026-11-25/            Sor.zip Sor.xml Sor_v1.xml SorEntity_daily.csv Edityper.csv
                               manifest.json SHA256SUMS
        latest -> 2026-11-25   a relative symlink, the "latest" pointer
        .staging/run-<id>/     a run's build area (held runs keep theirs until decided)

How a publication becomes visible, and why a crash at any moment is harmless:

1. Every file is written into the run's staging directory (same file system as the target),
   flushed and fsynced; checksums go into SHA256SUMS; the directory is fsynced.
2. The staging directory is renamed to `<date>/` in one `rename(2)`; a reader sees either no
   `<date>/` or the complete set. Republishing a date that is already there swaps the two
   directories with `renameat2(RENAME_EXCHANGE)` (Linux), also atomic; where the kernel or file
   system lacks it, the old directory is renamed aside first (a moment without `<date>/`, while
   `latest` of a *previous* day still resolves).
3. `latest` is switched by creating a temporary symlink and `os.replace`-ing it over `latest`
   (`rename(2)` again): readers resolve either the old or the new day, never a mixture, because
   they open files through the resolved directory.
4. The root directory is fsynced after each rename.

A crash before step 2 leaves only a private `.staging/…` directory (cleaned on the next publish);
between 2 and 3 a complete new `<date>/` with `latest` still on the previous day; the next run
rebuilds and republishes. A symlink rather than a `latest/` directory swap, because one symlink
rename switches every file at once and costs no copy.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import errno
import hashlib
import json
import os
import re
import shutil
import uuid
import zipfile
from pathlib import Path

from django.conf import settings

from . import faults
from .complete import MEMBERS as COMPLETE_MEMBERS
from .complete import ZIP_NAME as COMPLETE_ZIP

LATEST = "latest"
STAGING = ".staging"
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
ZIP_NAME = "Sor.zip"
ZIP_MEMBER = "Sor.xml"

# (format identifier, file the format writes) -> published name. Both XML versions call their
# file Sor.xml (as SDS does, in two directories); we publish v1 flat as Sor_v1.xml.
PUBLISHED_NAMES = {("v2", "Sor.xml"): "Sor.xml", ("v1", "Sor.xml"): "Sor_v1.xml"}
# Served without login under /filer/latest/.
# Everything SHA256SUMS lists is served, so `sha256sum -c SHA256SUMS` works on a full download.
PUBLIC_FILES = ("Sor.zip", "Sor.xml", "Sor_v1.xml", "SorEntity_daily.csv", "Edityper.csv", COMPLETE_ZIP,
                *COMPLETE_MEMBERS, MANIFEST, SUMS)
DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class PublishError(RuntimeError):
    pass


def export_root() -> Path:
    root = Path(settings.EXPORT_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    return root


def published_name(identifier: str, name: str) -> str:
    return PUBLISHED_NAMES.get((identifier, name), name)


def staging_dir_for(run_id: int) -> Path:
    return export_root() / STAGING / f"run-{run_id}"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same directory, fsync, rename."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    fsync_dir(path.parent)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def make_zip(xml_path: Path, zip_path: Path, day: dt.date) -> None:
    """Sor.zip holding Sor.xml."""
    write_zip([(ZIP_MEMBER, xml_path)], zip_path, day)


def write_zip(members: list[tuple[str, Path]], zip_path: Path, day: dt.date) -> None:
    """A zip of (member name, file) in the given order, written atomically. A fixed member
    timestamp (the snapshot date) makes the bytes, and so the checksum/ETag, depend on the
    content only; the size known up front lets zipfile write plain headers while the file allows
    it (ZIP64 only past 4 GiB): some consumers' unzip code reads no ZIP64."""
    tmp = zip_path.with_name(f".{zip_path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, path in members:
                info = zipfile.ZipInfo(name, date_time=(day.year, day.month, day.day, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                info.file_size = path.stat().st_size
                with open(path, "rb") as src, archive.open(info, "w") as dst:
                    shutil.copyfileobj(src, dst, 1024 * 1024)
        fsync_file(tmp)
        os.replace(tmp, zip_path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_manifest(directory: Path, manifest: dict) -> None:
    write_atomic(directory / MANIFEST, json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode())


def read_manifest(directory: Path) -> dict | None:
    try:
        return json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None


def seal(directory: Path) -> dict[str, dict]:
    """Fsync every file, write SHA256SUMS (sha256sum format); returns name → {sha256, size}."""
    files = {}
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or not path.is_file() or path.name == SUMS:
            continue
        fsync_file(path)
        files[path.name] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    lines = "".join(f"{info['sha256']}  {name}\n" for name, info in files.items())
    write_atomic(directory / SUMS, lines.encode())
    files[SUMS] = {"sha256": sha256_file(directory / SUMS), "size": (directory / SUMS).stat().st_size}
    fsync_dir(directory)
    return files


def read_sums(directory: Path) -> dict[str, str]:
    try:
        text = (directory / SUMS).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return {}
    sums = {}
    for line in text.splitlines():
        digest, _sep, name = line.partition("  ")
        if digest and name:
            sums[name] = digest
    return sums


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(a))


def _remove_tree(path: Path) -> None:
    """Rename aside first so a half-deleted directory is never visible under its real name."""
    if not path.exists() and not path.is_symlink():
        return
    trash = path.parent / f".trash-{path.name}-{uuid.uuid4().hex[:8]}"
    os.rename(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def publish_directory(staged: Path, day: dt.date) -> Path:
    """Make the sealed `staged` directory the published set of `day` and point `latest` at it.

    The caller holds the publish lock (one publisher at a time)."""
    root = export_root()
    target = root / day.isoformat()
    if not (staged / SUMS).exists():
        raise PublishError(f"{staged} is not sealed (no {SUMS}); refusing to publish it")
    faults.checkpoint("publish-before-rename")
    if target.exists():
        if _exchange(staged, target):
            fsync_dir(root)
            _remove_tree(staged)  # now holds the previous set of that day
        else:
            aside = root / f".replaced-{day.isoformat()}-{uuid.uuid4().hex[:8]}"
            os.rename(target, aside)
            os.rename(staged, target)
            fsync_dir(root)
            shutil.rmtree(aside, ignore_errors=True)
    else:
        os.rename(staged, target)
        fsync_dir(root)
    if staged.parent.exists():
        fsync_dir(staged.parent)
    faults.checkpoint("publish-before-latest")
    point_latest(day.isoformat())
    return target


def point_latest(dir_name: str) -> None:
    root = export_root()
    link = root / LATEST
    if link.exists() and not link.is_symlink():
        raise PublishError(f"{link} exists and is not a symlink; move it away")
    tmp = root / f".latest-{uuid.uuid4().hex[:8]}"
    os.symlink(dir_name, tmp)
    os.replace(tmp, link)
    fsync_dir(root)


def latest_dir() -> Path | None:
    """The directory `latest` points to right now (resolved once, so a reader stays on one set)."""
    link = export_root() / LATEST
    if not link.is_symlink():
        return None
    target = Path(os.path.realpath(link))
    return target if target.is_dir() else None


def published_days() -> list[dt.date]:
    days = []
    for entry in export_root().iterdir():
        if DATE_DIR.match(entry.name) and entry.is_dir() and not entry.is_symlink():
            try:
                days.append(dt.date.fromisoformat(entry.name))
            except ValueError:
                continue
    return sorted(days)


def apply_retention(today: dt.date, keep_days: int, *, protected_staging: set[str] = frozenset()) -> list[str]:
    """Delete day directories older than `keep_days` days (never the one `latest` points to) and
    leftovers of crashed runs (temporary links, trash, staging directories not protected).
    Returns what was removed. The caller holds the publish lock."""
    root = export_root()
    removed = []
    keep_from = today - dt.timedelta(days=max(keep_days, 1) - 1)
    current = latest_dir()
    for day in published_days():
        path = root / day.isoformat()
        if day < keep_from and (current is None or path.resolve() != current):
            _remove_tree(path)
            removed.append(day.isoformat())
    for entry in root.iterdir():
        if entry.name.startswith((".latest-", ".trash-", ".replaced-")):
            if entry.is_symlink() or entry.is_file():
                entry.unlink()
            else:
                shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    staging = root / STAGING
    if staging.is_dir():
        for entry in staging.iterdir():
            if entry.name not in protected_staging:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(f"{STAGING}/{entry.name}")
    return removed


def resolve_file(directory: Path, name: str) -> Path | None:
    """`directory/name` if `name` is a plain file name of a regular file inside `directory`."""
    if not SAFE_NAME.match(name):
        return None
    path = directory / name
    try:
        real = Path(os.path.realpath(path))
    except OSError:
        return None
    if real.parent != Path(os.path.realpath(directory)) or not real.is_file():
        return None
    return real
