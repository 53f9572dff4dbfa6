"""Answers to the sender: templated Danish replies, editable before sending, kept in the case.

`case_reply` writes the outgoing mail on the case (status "i kø") and enqueues the task that
sends it after commit, so neither intake nor the staff page fails because a mail server is
down; `send_message` (the task's body) sends over SMTP and marks it sent or failed. Every
reply carries the case reference in its subject and `In-Reply-To`/`References` to the mail it
answers, so the sender's answer threads back into the same case.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from django.conf import settings
from django.db import transaction
from django.template import Context, Template
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from registry.errors import DomainError, ValidationFailed
from registry.models import Case, CaseMessage, CaseStatus, MessageDirection, OutgoingStatus

from .services import _locked, _set_status, check_work, event, outgoing_allowed

TEMPLATES = {
    "received": (gettext_lazy("Modtaget"), "Vi har modtaget din henvendelse ({{ ref }})",
                 "Kære {{ name }}\n\nTak for din henvendelse til SOR om \"{{ subject }}\". Vi har modtaget den og "
                 "giver dig besked, når den er behandlet, senest {{ due }}.\n\nSkriv venligst sagsnummeret "
                 "{{ ref }} i emnefeltet, hvis du svarer.\n\nMed venlig hilsen\nSOR-supporten\n"
                 "Sundhedsdatastyrelsen\n"),
    "done": (gettext_lazy("Rettet"), "Din henvendelse er behandlet ({{ ref }})",
             "Kære {{ name }}\n\nVi har nu rettet oplysningerne i SOR som ønsket:\n\n{{ changes }}\n\n"
             "Rettelserne kommer med i den daglige SOR-fil fra {{ effective }}.\n\nMed venlig hilsen\n"
             "SOR-supporten\nSundhedsdatastyrelsen\n"),
    "more_info": (gettext_lazy("Mangler oplysninger"), "Vi mangler oplysninger ({{ ref }})",
                  "Kære {{ name }}\n\nFor at kunne behandle din henvendelse om \"{{ subject }}\" har vi brug for "
                  "flere oplysninger:\n\n- \n\nSvar venligst på denne mail, så kommer svaret på samme sag "
                  "({{ ref }}).\n\nMed venlig hilsen\nSOR-supporten\nSundhedsdatastyrelsen\n"),
    "rejected": (gettext_lazy("Afvist"), "Din henvendelse kan ikke gennemføres ({{ ref }})",
                 "Kære {{ name }}\n\nVi kan desværre ikke gennemføre ændringen i din henvendelse om "
                 "\"{{ subject }}\":\n\n{{ reason }}\n\nMed venlig hilsen\nSOR-supporten\n"
                 "Sundhedsdatastyrelsen\n"),
}


def render(case: Case, template: str) -> tuple[str, str]:
    """The (subject, body) of `template` for `case`, to be edited before sending."""
    if template not in TEMPLATES:
        raise ValidationFailed({"template": [_("Ukendt skabelon %(t)r; brug en af %(all)s.") % {
            "t": template, "all": ", ".join(TEMPLATES)}]})
    _label, subject, body = TEMPLATES[template]
    applied = [f"- {d}" for cs in case.change_sets.filter(status="applied")
               for d in cs.changes.values_list("description", flat=True)]
    rejected = case.events.filter(code="registry.case.rejected").exclude(note="").last()
    effective = case.change_sets.filter(status="applied").order_by("-effective_date").first()
    context = Context({
        "ref": case.reference, "name": case.sender_name or _("afsender"), "subject": case.subject,
        "due": timezone.localtime(case.due_at).strftime("%d-%m-%Y"), "changes": "\n".join(applied) or "-",
        "effective": effective.effective_date.strftime("%d-%m-%Y") if effective else "",
        "reason": rejected.note if rejected else "",
    }, autoescape=False)
    return Template(subject).render(context), Template(body).render(context)


def _subject_with_reference(case: Case, subject: str) -> str:
    return subject if case.reference in subject else f"[{case.reference}] {subject}"


@transaction.atomic
def case_reply(*, actor, case, template: str = "", subject: str = "", body: str = "", to: str = "",
               automatic: bool = False) -> CaseMessage:
    """Queue a reply on the case: `template`'s text unless `subject`/`body` are given (edited).
    Sent after commit by the worker. An answer on a case whose result is known (applied or
    rejected) makes it "answered"."""
    case = _locked(case)
    check_work(actor, case)
    if template and (not subject or not body):
        t_subject, t_body = render(case, template)
        subject, body = subject or t_subject, body or t_body
    subject, body, to = (subject or "").strip(), (body or "").strip(), (to or case.sender_email).strip()
    if not subject or not body:
        raise ValidationFailed({"body" if subject else "subject": [_("Skal udfyldes.")]})
    if not to:
        raise DomainError(_("Sagen %(ref)s har ingen afsenderadresse at svare til.") % {"ref": case.reference})
    if not outgoing_allowed(case) and automatic:
        raise DomainError(_("Ingen kvittering til automatisk post."))
    last_in = case.messages.filter(direction=MessageDirection.IN).order_by("-created_at").first()
    references = " ".join(filter(None, [*(last_in.references.split() if last_in else []),
                                        last_in.message_id if last_in else ""]))
    message = CaseMessage.objects.create(
        case=case, direction=MessageDirection.OUT, status=OutgoingStatus.QUEUED, template=template,
        message_id=make_msgid(domain=settings.SOR_MAIL_DOMAIN), in_reply_to=last_in.message_id if last_in else "",
        references=references, sender=settings.SOR_MAIL_FROM, recipients=to,
        subject=_subject_with_reference(case, subject)[:1000], text=body, sent_at=timezone.now(),
        created_by=actor if getattr(actor, "pk", None) else None)
    event(case, "reply_sent", actor, message.subject, message=str(message.pk), template=template, to=to)
    if case.status in (CaseStatus.APPLIED, CaseStatus.REJECTED):
        _set_status(case, CaseStatus.ANSWERED, actor)
    from registry.tasks import send_case_mail

    transaction.on_commit(lambda: send_case_mail.delay(message.pk))
    return message


def build(message) -> EmailMessage:
    """The mail of a `CaseMessage` or an `OutgoingMail` (which answers nothing)."""
    mail = EmailMessage()
    mail["From"] = message.sender or settings.SOR_MAIL_FROM
    mail["To"] = message.recipients
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(message.sent_at or timezone.now())
    mail["Message-ID"] = message.message_id
    if getattr(message, "in_reply_to", ""):
        mail["In-Reply-To"] = message.in_reply_to
    if getattr(message, "references", ""):
        mail["References"] = message.references
    # RFC 3834: an answer from a system; well-behaved auto-responders do not answer it. A link or
    # a reminder is generated by the system ("auto-generated").
    template = getattr(message, "template", None)
    mail["Auto-Submitted"] = ("auto-generated" if template is None
                              else "auto-replied" if template == "received" else "no")
    mail.set_content(message.text)
    return mail


def _smtp():
    host, port = settings.SOR_SMTP_HOST, settings.SOR_SMTP_PORT
    if settings.SOR_SMTP_TLS == "ssl":
        client = smtplib.SMTP_SSL(host, port, timeout=30, context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(host, port, timeout=30)
        if settings.SOR_SMTP_TLS == "starttls":
            client.starttls(context=ssl.create_default_context())
    if settings.SOR_SMTP_USER:
        client.login(settings.SOR_SMTP_USER, settings.SOR_SMTP_PASSWORD)
    return client


def send_message(message_id: int, model=CaseMessage) -> str:
    """Send one queued mail (a case's reply, or an `OutgoingMail`); returns its status. Sent
    once: the row is locked and a mail no longer queued is left alone (a task delivered twice
    sends nothing more)."""
    with transaction.atomic():
        message = model.objects.select_for_update().get(pk=message_id)
        if message.status != OutgoingStatus.QUEUED:
            return message.status
        try:
            with _smtp() as client:
                client.send_message(build(message))
        except (OSError, smtplib.SMTPException) as exc:
            message.error = f"{type(exc).__name__}: {exc}"[:2000]
            message.save(update_fields=["error"])
            raise
        message.status, message.error, message.sent_at = OutgoingStatus.SENT, "", timezone.now()
        fields = ["status", "error", "sent_at"]
        if model is not CaseMessage:  # a system mail's live link is not kept once it has gone out
            from registry.selfservice.services import redact_links

            message.text = redact_links(message.text)
            fields.append("text")
        message.save(update_fields=fields)
    return message.status


def give_up(message_id: int, error: str) -> None:
    """After the last retry: the mail is marked failed and the case's timeline says so."""
    with transaction.atomic():
        message = CaseMessage.objects.select_for_update().get(pk=message_id)
        if message.status != OutgoingStatus.QUEUED:
            return
        message.status, message.error = OutgoingStatus.FAILED, error[:2000]
        message.save(update_fields=["status", "error"])
        event(message.case, "reply_failed", None, error[:500], message=str(message.pk))
