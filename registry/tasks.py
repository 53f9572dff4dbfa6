"""Celery tasks of the register: thin, by id (the ImportJob row holds the story)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="registry.run_import", bind=True)
def run_import(self, job_id: int) -> dict:
    """Run one import job (a dry run or the confirmed import) in the background."""
    from .services.imports import run_job

    job = run_job(job_id)
    return {"job": job.pk, "status": job.status}


@shared_task(name="registry.send_case_mail", bind=True, max_retries=6, acks_late=True)
def send_case_mail(self, message_id: int) -> dict:
    """Send one queued reply of a case; a mail server that is down is retried with back-off
    (1, 2, 4 … minutes), and after the last try the mail is marked failed on the case."""
    import smtplib

    from .cases.replies import give_up, send_message

    try:
        return {"message": message_id, "status": send_message(message_id)}
    except (OSError, smtplib.SMTPException) as exc:
        if self.request.is_eager or self.request.retries >= self.max_retries:
            give_up(message_id, f"{type(exc).__name__}: {exc}")
            return {"message": message_id, "status": "failed"}
        raise self.retry(exc=exc, countdown=60 * 2 ** self.request.retries) from exc


@shared_task(name="registry.send_mail", bind=True, max_retries=6, acks_late=True)
def send_mail(self, mail_id: int) -> dict:
    """Send one queued system mail (a one-time link, a follow-up reminder), retried like a
    case's reply; after the last try it is marked failed (shown in the admin)."""
    import smtplib

    from .cases.replies import send_message
    from .models import OutgoingMail, OutgoingStatus

    try:
        return {"mail": mail_id, "status": send_message(mail_id, OutgoingMail)}
    except (OSError, smtplib.SMTPException) as exc:
        if self.request.is_eager or self.request.retries >= self.max_retries:
            from .selfservice.services import redact_links

            mail = OutgoingMail.objects.filter(pk=mail_id, status=OutgoingStatus.QUEUED).first()
            if mail is not None:
                mail.status, mail.error = OutgoingStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
                mail.text = redact_links(mail.text)
                mail.save(update_fields=["status", "error", "text"])
            return {"mail": mail_id, "status": "failed"}
        raise self.retry(exc=exc, countdown=60 * 2 ** self.request.retries) from exc


@shared_task(name="registry.followup_reminders")
def followup_reminders() -> dict:
    """The half-yearly follow-up: remind each SOR-responsible person whose owner's data is due
    for confirmation (once, then once more; `registry.selfservice.followup`)."""
    from .selfservice.followup import send_due

    return send_due()


@shared_task(name="registry.duplicates_run")
def duplicates_run(trigger: str = "nightly") -> dict:
    """The duplicate run (`registry.quality.duplicates`): its own scheduled task, never a step of
    the nightly publication chain."""
    from .quality.duplicates import run

    record = run(trigger=trigger)
    return {"run": record.pk, "counts": record.counts}


@shared_task(name="registry.quality_run")
def quality_run(trigger: str = "nightly") -> dict:
    """The data-quality control run (`registry.quality.control`), its own scheduled task."""
    from .quality.control import run

    record = run(trigger=trigger)
    return {"run": record.pk, "counts": record.counts}


@shared_task(name="registry.poll_sorpost")
def poll_sorpost() -> dict:
    """Fetch new mail from the SORpost mailbox (IMAP settings) into cases."""
    from django.conf import settings

    from .cases.intake.imap import poll

    if not settings.SOR_IMAP_HOST:
        return {"skipped": "SOR_IMAP_HOST is not set"}
    return poll()
