"""Celery tasks of the publication chain: thin, by id, idempotent (see `exports.pipeline`).

Names are explicit so the beat schedule and monitoring do not depend on module paths. Every
task returns a small JSON value; the ExportRun row holds the full story.
"""

from __future__ import annotations

import datetime as dt

from celery import shared_task

from . import pipeline


@shared_task(name="exports.nightly", bind=True)
def nightly(self, day: str | None = None) -> dict:
    """Beat entry point (01:00 Europe/Copenhagen): start today's run unless the date already has one."""
    return pipeline.start_nightly(dt.date.fromisoformat(day) if day else None)


@shared_task(name="exports.run_export", bind=True)
def run_export(self, run_id: int) -> dict:
    """Activate, build, validate, gate and publish one ExportRun."""
    return pipeline.execute_run(run_id, task_id=self.request.id or "")


@shared_task(name="exports.publish_run", bind=True)
def publish_run(self, run_id: int) -> dict:
    """Publish a held run that a SOR-administrator released."""
    return pipeline.publish_released(run_id)
