"""Atomic publishing: a crash at any point leaves the previous files intact and no partial file
visible, and the next run succeeds; retention."""

import datetime as dt
import os

import pytest

from exports import faults, publish
from exports.models import ExportRun

from .chain_helpers import DAY, nightly, snapshot_files, visible_entries

pytest_plugins = ["tests.exports.chain_fixtures"]
S = ExportRun.Status
NEXT = DAY + dt.timedelta(days=1)


class Crash(BaseException):
    """Stands in for SIGKILL: not an Exception, so no handler in the chain catches it and the run
    row stays "running" exactly as a killed worker leaves it."""


def crash_at(monkeypatch, point):
    real = faults.checkpoint

    def checkpoint(name):
        if name == point:
            raise Crash(name)
        real(name)

    monkeypatch.setattr(faults, "checkpoint", checkpoint)


@pytest.mark.django_db
@pytest.mark.parametrize("point", ["build", "publish-before-rename", "publish-before-latest"])
def test_crash_mid_run_keeps_latest_intact_and_the_next_run_succeeds(point, export_root, register, monkeypatch,
                                                                     django_capture_on_commit_callbacks):
    nightly(DAY, django_capture_on_commit_callbacks)
    before = snapshot_files(export_root / "latest")
    crash_at(monkeypatch, point)
    with pytest.raises(Crash):
        nightly(NEXT, django_capture_on_commit_callbacks)
    crashed = ExportRun.objects.get(snapshot_date=NEXT)
    assert crashed.status == S.RUNNING  # as a killed worker leaves it

    # The previous publication is untouched and `latest` still points at it.
    assert (export_root / "latest").resolve().name == DAY.isoformat()
    assert snapshot_files(export_root / "latest") == before
    # No partial file is visible: only complete day directories and `latest`.
    visible = visible_entries(export_root)
    if point == "publish-before-latest":
        # The new day directory is complete (renamed in one step) but not yet the latest.
        new_dir = export_root / NEXT.isoformat()
        sums = publish.read_sums(new_dir)
        assert set(sums) | {"SHA256SUMS"} == {p.name for p in new_dir.iterdir()}
        for name, digest in sums.items():
            assert publish.sha256_file(new_dir / name) == digest
    else:
        assert not any(entry.startswith(NEXT.isoformat()) for entry in visible)
    assert not [e for e in visible if e.endswith(".tmp")]

    monkeypatch.undo()
    run = nightly(NEXT, django_capture_on_commit_callbacks)
    crashed.refresh_from_db()
    assert crashed.status == S.FAILED
    assert run.pk != crashed.pk and run.status == S.SUCCEEDED, run.error
    assert (export_root / "latest").resolve().name == NEXT.isoformat()
    assert not [p for p in export_root.iterdir() if p.name.startswith((".latest-", ".trash-", ".replaced-"))]
    assert not (export_root / ".staging" / f"run-{crashed.pk}").exists()


def test_latest_switch_is_one_rename_of_a_symlink(tmp_path, settings):
    settings.EXPORT_ROOT = tmp_path
    for day in ("2026-03-01", "2026-03-02"):
        (tmp_path / day).mkdir()
        (tmp_path / day / "Sor.xml").write_text(day)
    publish.point_latest("2026-03-01")
    link = tmp_path / "latest"
    assert os.readlink(link) == "2026-03-01"
    with open(link / "Sor.xml") as reader:  # a reader that opened the old file keeps it
        publish.point_latest("2026-03-02")
        assert reader.read() == "2026-03-01"
    assert (link / "Sor.xml").read_text() == "2026-03-02"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-03-01", "2026-03-02", "latest"]


def test_republishing_a_day_swaps_the_directory_in_one_step(tmp_path, settings):
    settings.EXPORT_ROOT = tmp_path
    old = tmp_path / ".staging" / "a"
    new = tmp_path / ".staging" / "b"
    for path, text in ((old, "old"), (new, "new")):
        path.mkdir(parents=True)
        (path / "Sor.xml").write_text(text)
        publish.seal(path)
    publish.publish_directory(old, DAY)
    publish.publish_directory(new, DAY)
    assert (tmp_path / "latest" / "Sor.xml").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [DAY.isoformat(), "latest"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith((".trash", ".replaced"))]


def test_an_unsealed_directory_is_never_published(tmp_path, settings):
    settings.EXPORT_ROOT = tmp_path
    staged = tmp_path / ".staging" / "x"
    staged.mkdir(parents=True)
    (staged / "Sor.xml").write_text("half")
    with pytest.raises(publish.PublishError):
        publish.publish_directory(staged, DAY)
    assert not (tmp_path / DAY.isoformat()).exists() and not (tmp_path / "latest").exists()


def test_retention_deletes_old_days_and_crash_leftovers_but_keeps_latest_and_held_staging(tmp_path, settings):
    settings.EXPORT_ROOT = tmp_path
    today = dt.date(2026, 3, 20)
    for offset in range(6):
        day_dir = tmp_path / (today - dt.timedelta(days=offset)).isoformat()
        day_dir.mkdir()
        (day_dir / "Sor.xml").write_text("x")
    old_latest = (today - dt.timedelta(days=10)).isoformat()
    (tmp_path / old_latest).mkdir()
    publish.point_latest(old_latest)  # e.g. newer days were published by hand but latest is older
    (tmp_path / ".latest-dead").symlink_to(old_latest)
    (tmp_path / ".trash-2026-01-01-abc").mkdir()
    (tmp_path / ".staging" / "run-7").mkdir(parents=True)
    (tmp_path / ".staging" / "run-8").mkdir(parents=True)

    removed = publish.apply_retention(today, 3, protected_staging={"run-8"})

    kept = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert kept == [old_latest, "2026-03-18", "2026-03-19", "2026-03-20", "latest"]
    assert "2026-03-15" in removed and "2026-03-17" in removed
    assert not (tmp_path / ".latest-dead").exists() and not (tmp_path / ".trash-2026-01-01-abc").exists()
    assert not (tmp_path / ".staging" / "run-7").exists()
    assert (tmp_path / ".staging" / "run-8").exists()


@pytest.mark.django_db
def test_publishing_applies_the_configured_retention(export_root, register, settings,
                                                    django_capture_on_commit_callbacks):
    settings.EXPORT_KEEP_DAYS = 2
    export_root.mkdir(parents=True)
    for offset in (2, 5):
        old = export_root / (DAY - dt.timedelta(days=offset)).isoformat()
        old.mkdir()
        (old / "Sor.xml").write_text("old")
    run = nightly(DAY, django_capture_on_commit_callbacks)
    assert run.status == S.SUCCEEDED
    assert publish.published_days() == [DAY]
    assert "Oprydning" in run.log
