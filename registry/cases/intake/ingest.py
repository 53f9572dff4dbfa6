"""Turn one received mail into a case, a reply on a case, a duplicate, or a quarantined mail.

Exactly once: the mail's key (its Message-ID, or a hash of what its sender wrote when it has
none) is taken under a transaction-level advisory lock and recorded in `MailIntake`, unique, in
the same transaction as the case; a mail seen again (a second delivery, or two pollers fetching
it at once) finds the row and makes nothing. The original is written to `SOR_MAIL_DIR` first,
named by its hash, so nothing received is ever lost, also when it cannot be parsed.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from registry.models import (
    CaseAttachment,
    CaseMessage,
    IntakeStatus,
    LocationNumber,
    MailIntake,
    MessageDirection,
    Unit,
)

from .. import services
from .parse import Parsed, Unparseable, content_key, parse
from .recognise import recognise, settle_cvr

MAX_UNITS = 20


@dataclass
class Outcome:
    action: str  # created | reply | duplicate | quarantined
    case: str | None = None
    new: bool = False
    quarantined: str | None = None
    units: list[str] = field(default_factory=list)
    identifiers: list[dict] = field(default_factory=list)
    intake: int | None = None

    def as_json(self, path: str | None = None) -> dict:
        out = {"action": self.action, "case": self.case, "new": self.new, "quarantined": self.quarantined,
               "units": self.units, "identifiers": self.identifiers}
        return {"file": path, **out} if path is not None else out


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def store_original(raw: bytes) -> tuple[str, str]:
    """Write the .eml under SOR_MAIL_DIR/originals/<aa>/<sha256>.eml; returns (relative path, sha256)."""
    digest = hashlib.sha256(raw).hexdigest()
    rel = f"originals/{digest[:2]}/{digest}.eml"
    _write_atomic(Path(settings.SOR_MAIL_DIR) / rel, raw)
    return rel, digest


def _key(raw: bytes) -> str:
    match = re.search(rb"^message-id:[ \t]*(<[^<>\s]+>)", raw[:65536].replace(b"\r\n", b"\n"), re.I | re.M)
    if match:
        return match.group(1).decode("ascii", "replace")[:990]
    return content_key(raw)


def _lock(key: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [4242, zlib.crc32(key.encode()) - 2**31])


def match_units(found) -> list[Unit]:
    """The open units the recognised identifiers name (the holder of a location number, the
    units with a ydernummer, the owners with a CVR)."""
    today = timezone.localdate()
    ids: list[int] = []
    for item in found:
        if not item.valid:
            continue
        if item.kind == "sor_id":
            ids += list(Unit.objects.filter(pk=int(item.value)).values_list("pk", flat=True))
        elif item.kind == "location_number":
            ids += list(LocationNumber.objects.filter(gln=item.value).values_list("unit_id", flat=True))
        elif item.kind == "ydernummer":
            plain = item.value[2:] if len(item.value) == 8 else item.value
            ids += list(Unit.objects.filter(provider_number__in=[item.value, plain])
                        .exclude(to_date__lt=today).values_list("pk", flat=True)[:MAX_UNITS])
        elif item.kind == "cvr":
            ids += list(Unit.objects.filter(cvr=item.value, level="IE").exclude(to_date__lt=today)
                        .values_list("pk", flat=True)[:MAX_UNITS])
    seen, out = set(), []
    for pk in ids:
        if pk not in seen:
            seen.add(pk)
            out.append(pk)
    return list(Unit.objects.filter(pk__in=out[:MAX_UNITS]).order_by("sor_id"))


def unit_phones(units) -> set[str]:
    """The phone and fax numbers of `units` and of the units above them (which they inherit)."""
    ids = {u.pk for u in units} | {a for u in units for a in (u.ancestors or [])}
    return {p for pair in Unit.objects.filter(pk__in=ids).values_list("phone", "fax") for p in pair if p}


def _store_message(case, parsed: Parsed, rel: str, size: int) -> CaseMessage:
    message = CaseMessage.objects.create(
        case=case, direction=MessageDirection.IN, message_id=parsed.message_id[:998] or "",
        in_reply_to=parsed.in_reply_to[:998], references=" ".join(parsed.references),
        sender=(f"{parsed.sender_name} <{parsed.sender_email}>" if parsed.sender_name else parsed.sender_email)[:500],
        recipients=parsed.recipients[:2000], subject=parsed.subject[:1000], sent_at=parsed.date,
        text=parsed.text + (f"\n\n---------- {_('Videresendt mail')} ----------\n{parsed.forwarded_text}"
                            if parsed.forwarded_text else ""), html=parsed.html, eml_path=rel, size=size, automatic=bool(parsed.automatic))
    limit, total = settings.SOR_MAIL_MAX_ATTACHMENT_BYTES, 0
    for n, att in enumerate(parsed.attachments, 1):
        size_att = len(att.data)
        total += size_att
        skipped, path = "", ""
        if size_att > limit:
            skipped = _("større end %(mb)d MB") % {"mb": limit // (1024 * 1024)}
        elif total > settings.SOR_MAIL_MAX_BYTES:
            skipped = _("mailens bilag er i alt over %(mb)d MB") % {"mb": settings.SOR_MAIL_MAX_BYTES // (1024 * 1024)}
        else:
            digest = hashlib.sha256(att.data).hexdigest()
            path = f"attachments/{digest[:2]}/{digest}"
            _write_atomic(Path(settings.SOR_MAIL_DIR) / path, att.data)
        CaseAttachment.objects.create(message=message, filename=att.filename or f"bilag-{n}",
                                      content_type=att.content_type[:255], size=size_att, path=path, skipped=skipped)
    return message


def _ingest_parsed(parsed: Parsed, *, rel: str, size: int, actor=None):
    """(action, case, message, units, identifiers) for a parsed mail, inside the caller's transaction."""
    rec = recognise(parsed.all_text)
    case = services.thread_case(subject=parsed.subject, in_reply_to=parsed.in_reply_to,
                                references=parsed.references)
    if case is not None:
        message = _store_message(case, parsed, rel, size)
        services.reply_received(case, message)
        found = settle_cvr(rec, set())
        return "reply", case, message, [], [f.as_json() for f in found]
    units = match_units(rec.found)
    found = settle_cvr(rec, unit_phones(units))
    identifiers = [f.as_json() for f in found]
    note = _("automatisk post (%(why)s): ingen kvittering") % {"why": parsed.automatic} if parsed.automatic else ""
    case = services.case_create(
        actor=actor, subject=parsed.subject, text=parsed.text or _html_text(parsed), sender_email=parsed.sender_email,
        sender_name=parsed.sender_name, received_at=timezone.now(), units=units, identifiers=identifiers, note=note)
    message = _store_message(case, parsed, rel, size)
    if not parsed.automatic:
        from ..replies import case_reply

        case_reply(actor=None, case=case, template="received", automatic=True)
    return "created", case, message, [str(u.pk) for u in units], identifiers


def _html_text(parsed: Parsed) -> str:
    from .parse import html_to_text

    return html_to_text(parsed.html)


def ingest(raw: bytes, *, origin: str = "", actor=None) -> Outcome:
    """One mail in; see the module docstring. Raises OSError only when the original cannot be stored."""
    rel, digest = store_original(raw)
    key = _key(raw)
    with transaction.atomic():
        _lock(key)
        seen = MailIntake.objects.filter(key=key).select_related("case").first()
        if seen is not None:
            return Outcome("duplicate", case=seen.case.reference if seen.case else None, intake=seen.pk,
                           quarantined=seen.reason if seen.status == IntakeStatus.QUARANTINED else None)
        try:
            parsed = parse(raw)
        except Unparseable as exc:
            intake = MailIntake.objects.create(key=key, status=IntakeStatus.QUARANTINED, reason=str(exc),
                                               origin=origin[:300], eml_path=rel, sha256=digest,
                                               subject=_raw_header(raw, b"subject"), sender=_raw_header(raw, b"from"))
            return Outcome("quarantined", quarantined=str(exc), intake=intake.pk)
        action, case, message, units, identifiers = _ingest_parsed(parsed, rel=rel, size=len(raw), actor=actor)
        intake = MailIntake.objects.create(
            key=key, status=IntakeStatus.CREATED if action == "created" else IntakeStatus.REPLY, origin=origin[:300],
            eml_path=rel, sha256=digest, subject=parsed.subject[:1000], sender=parsed.sender_email[:500],
            case=case, message=message)
    return Outcome(action, case=case.reference, new=action == "created", units=units, identifiers=identifiers,
                   intake=intake.pk)


def _raw_header(raw: bytes, name: bytes) -> str:
    match = re.search(rb"^" + name + rb":[ \t]*(.*)$", raw[:16384].replace(b"\r\n", b"\n"), re.I | re.M)
    return match.group(1).decode("utf-8", "replace")[:500] if match else ""


def retry(intake_id: int, *, actor=None) -> Outcome:
    """Read a quarantined mail again (after a fix of the parser, or of the file by hand)."""
    with transaction.atomic():
        intake = MailIntake.objects.select_for_update().get(pk=intake_id)
        if intake.status != IntakeStatus.QUARANTINED:
            return Outcome("duplicate", case=intake.case.reference if intake.case else None, intake=intake.pk)
        if actor is not None and not services.may_work(actor):
            from registry.errors import NotAllowed

            raise NotAllowed(_("Du kan ikke behandle sager."))
        raw = (Path(settings.SOR_MAIL_DIR) / intake.eml_path).read_bytes()
        intake.retried_at = timezone.now()
        try:
            parsed = parse(raw)
        except Unparseable as exc:
            intake.reason = str(exc)
            intake.save(update_fields=["reason", "retried_at"])
            return Outcome("quarantined", quarantined=str(exc), intake=intake.pk)
        action, case, message, units, identifiers = _ingest_parsed(parsed, rel=intake.eml_path, size=len(raw),
                                                                   actor=actor)
        intake.status = IntakeStatus.CREATED if action == "created" else IntakeStatus.REPLY
        intake.case, intake.message, intake.reason = case, message, ""
        intake.subject, intake.sender = parsed.subject[:1000], parsed.sender_email[:500]
        intake.save()
    return Outcome(action, case=case.reference, new=action == "created", units=units, identifiers=identifiers,
                   intake=intake.pk)
