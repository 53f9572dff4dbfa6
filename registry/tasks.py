"""Celery tasks of the register: thin, by id (the ImportJob row holds the story)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="registry.run_import", bind=True)
def run_import(self, job_id: int) -> dict:
    """Run one import job (a dry run or the confirmed import) in the background."""
    from .services.imports import run_job

    job = run_job(job_id)
    return {"job": job.pk, "status": job.status}
