"""The SOR-responsible person's half-yearly follow-up (the seed's third rule).

Each owner with a SOR-responsible person is due for confirmation `SOR_FOLLOWUP_MONTHS` after it
was last confirmed (or after the person was named). When due, the person gets a mail with a
link to confirm or correct the data; if the round is still open `SOR_FOLLOWUP_SECOND_AFTER_DAYS`
later, once more; then never again for that round: the owner is on the staff's overdue list.
`FollowUpReminder`'s unique (owner, round, number) makes each reminder go out once, however
often or however concurrently the task runs. A confirmation is a case (source self-service,
closed at once) recorded as "sidst bekræftet" on the owner; a correction is a case whose
proposal is a change-set, and counts as the round's confirmation too.
"""

from __future__ import annotations

import calendar
import datetime as dt

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from registry.models import (
    Case,
    CaseSource,
    CaseStatus,
    FollowUpReminder,
    LinkPurpose,
    SelfServiceLink,
    SorResponsible,
    Unit,
)

from . import services


def add_months(day: dt.date, months: int) -> dt.date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_on(responsible: SorResponsible) -> dt.date:
    since = responsible.last_confirmed_at or responsible.named_at
    return add_months(timezone.localdate(since), settings.SOR_FOLLOWUP_MONTHS)


def _active_owner_q():
    today = timezone.localdate()
    return Q(owner__to_date__isnull=True) | Q(owner__to_date__gte=today)


def _reminder_text(responsible: SorResponsible, token: str, number: int, due: dt.date) -> tuple[str, str]:
    owner = responsible.owner
    subject = (_("Tjek jeres SOR-data: %(owner)s") if number == 1 else _("Påmindelse: tjek jeres SOR-data: %(owner)s")) % {
        "owner": owner.name}
    body = _("Kære %(name)s\n\nDu er SOR-ansvarlig for %(owner)s (SOR-ID %(id)s). Det er tid til den halvårlige "
             "gennemgang af jeres oplysninger i SOR (lokationsnummer, ydernummer, CVR, adresse, telefon og e-mail).\n\n"
             "Se oplysningerne, og bekræft dem eller ret dem her (linket virker én gang, til %(expires)s):\n%(url)s\n\n"
             "%(second)sMed venlig hilsen\nSOR-supporten\nSundhedsdatastyrelsen\n") % {
        "name": responsible.name or responsible.email, "owner": owner.name, "id": owner.pk,
        "expires": (timezone.localdate() + dt.timedelta(days=settings.SOR_FOLLOWUP_LINK_DAYS)).strftime("%d-%m-%Y"),
        "url": services.link_url(token, LinkPurpose.FOLLOW_UP),
        "second": _("Dette er anden og sidste påmindelse for denne gennemgang.\n\n") if number == 2 else ""}
    return subject, body


def _send(responsible: SorResponsible, due: dt.date, number: int, actor=None) -> FollowUpReminder | None:
    """Reminder `number` of the round `due`, or None when it has gone out already."""
    token, digest = services._new_token()
    try:
        with transaction.atomic():
            subject, body = _reminder_text(responsible, token, number, due)
            mail = services.queue_mail(to=responsible.email, subject=subject, text=body, purpose=f"followup_{number}")
            reminder = FollowUpReminder.objects.create(owner=responsible.owner, due_on=due, number=number,
                                                       email=responsible.email, mail=mail,
                                                       created_by=actor if getattr(actor, "pk", None) else None)
            SelfServiceLink.objects.create(
                token_sha256=digest, purpose=LinkPurpose.FOLLOW_UP, unit=responsible.owner, owner=responsible.owner,
                email=responsible.email, address_label=_("ejerens SOR-ansvarlige"),
                requester_name=responsible.name[:200], requester_phone=responsible.phone[:40],
                expires_at=timezone.now() + dt.timedelta(days=settings.SOR_FOLLOWUP_LINK_DAYS))
    except IntegrityError:  # another run sent it in the meantime
        return None
    return reminder


def send_due(*, today: dt.date | None = None, actor=None, log=None) -> dict:
    """Send the reminders that are due today: first ones, then second ones; never a third."""
    today = today or timezone.localdate()
    second_after = dt.timedelta(days=settings.SOR_FOLLOWUP_SECOND_AFTER_DAYS)
    responsibles = list(SorResponsible.objects.filter(_active_owner_q()).select_related("owner"))
    sent = {"first": 0, "second": 0, "owners": []}
    due_rounds = {r.owner_id: due_on(r) for r in responsibles}
    existing: dict[tuple[int, dt.date], dict[int, FollowUpReminder]] = {}
    for reminder in FollowUpReminder.objects.filter(owner_id__in=[o for o, d in due_rounds.items() if d <= today]):
        existing.setdefault((reminder.owner_id, reminder.due_on), {})[reminder.number] = reminder
    for responsible in responsibles:
        due = due_rounds[responsible.owner_id]
        if due > today:
            continue
        done = existing.get((responsible.owner_id, due), {})
        if done and responsible.last_confirmed_at and responsible.last_confirmed_at > min(
                r.created_at for r in done.values()):
            continue  # confirmed after this round's reminder (early): nothing more for it
        if 1 not in done:
            number = 1
        elif 2 not in done and timezone.localdate(done[1].created_at) + second_after <= today:
            number = 2
        else:
            continue
        if _send(responsible, due, number, actor) is not None:
            sent["first" if number == 1 else "second"] += 1
            sent["owners"].append(str(responsible.owner_id))
    if log:
        log(f"follow-up: {sent['first']} first and {sent['second']} second reminders sent")
    return sent


def overdue(*, today: dt.date | None = None, region: str = "", owner_type: str = ""):
    """(responsible, due date, reminders sent) of the owners whose round is past due."""
    today = today or timezone.localdate()
    qs = SorResponsible.objects.filter(_active_owner_q()).select_related("owner", "owner__region", "owner__owner_type")
    if region:
        qs = qs.filter(owner__region__code=region)
    if owner_type:
        qs = qs.filter(owner__owner_type__code=owner_type)
    out = []
    rows = list(qs)
    reminders: dict[tuple[int, dt.date], int] = {}
    for owner_id, due, number in FollowUpReminder.objects.filter(owner_id__in=[r.owner_id for r in rows]).values_list(
            "owner_id", "due_on", "number"):
        reminders[(owner_id, due)] = max(reminders.get((owner_id, due), 0), number)
    for responsible in rows:
        due = due_on(responsible)
        if due < today:
            out.append((responsible, due, reminders.get((responsible.owner_id, due), 0)))
    return sorted(out, key=lambda item: item[1])


# -- following the link ------------------------------------------------------------------------------------

def followup_peek(token: str, *, granted: bool = False) -> SelfServiceLink:
    """The follow-up link; `granted`: the browser that used it may go on correcting units for a
    while (the page keeps that grant in its session), into the same case."""
    return services.link_peek(token, LinkPurpose.FOLLOW_UP, allow_used=granted)


def _record_confirmation(link: SelfServiceLink, case: Case) -> None:
    from registry.audit import audit_context

    with audit_context(actor=None, reason=_("Data bekræftet af den SOR-ansvarlige (%(ref)s)") % {"ref": case.reference},
                       origin="self_service", provenance={"case": case.reference, "link": link.pk}):
        responsible = SorResponsible.objects.select_for_update().get(owner=link.owner)
        responsible.last_confirmed_at = timezone.now()
        responsible.last_confirmed_case = case
        responsible.save(update_fields=["last_confirmed_at", "last_confirmed_case"])
    link.used_at, link.case = timezone.now(), case
    link.save(update_fields=["used_at", "case"])
    # The round is done: its other reminder link (the first or the second mail) stops working.
    SelfServiceLink.objects.filter(owner=link.owner, purpose=LinkPurpose.FOLLOW_UP, used_at__isnull=True,
                                   expires_at__gt=timezone.now()).exclude(pk=link.pk).update(expires_at=timezone.now())


@transaction.atomic
def followup_confirm(token: str, *, note: str = "") -> Case:
    """The SOR-responsible person confirms that the owner's data is right: a case holding the
    confirmation (closed at once) and "sidst bekræftet" on the owner."""
    from registry.cases.services import case_close, case_create, event

    services.refuse_control_characters({"note": note})
    link = services._open_link(token, LinkPurpose.FOLLOW_UP, lock=True)
    owner = link.owner
    units = list(Unit.objects.filter(owner=owner).filter(Q(to_date__isnull=True) | Q(to_date__gte=timezone.localdate()))
                 .order_by("sor_id").values_list("sor_id", "name")[:200])
    case = case_create(
        actor=None, subject=_("Halvårlig bekræftelse: %(owner)s") % {"owner": owner.name}, source=CaseSource.SELF_SERVICE,
        text=_("%(who)s har bekræftet, at SOR-oplysningerne for %(owner)s (SOR-ID %(id)s) er korrekte.\n\n%(units)s%(note)s")
        % {"who": link.requester_name or link.email, "owner": owner.name, "id": owner.pk,
           "units": "\n".join(f"- {name} ({sor_id})" for sor_id, name in units),
           "note": f"\n\n{_('Bemærkning:')} {note.strip()}" if note.strip() else ""},
        sender_email=link.email, sender_name=link.requester_name, contact=link.requester_phone, units=[owner])
    case.identity = "confirmed"
    case.save(update_fields=["identity", "updated_at"])
    event(case, "confirmed", None, _("Bekræftet via opfølgningslink sendt til %(e)s.") % {"e": link.email})
    _record_confirmation(link, case)
    case_close(actor=None, case=case, note=_("Data bekræftet; intet at rette."))
    return case


@transaction.atomic
def followup_correct(token: str, req: services.Request, *, granted: bool = False) -> Case:
    """The SOR-responsible person corrects a unit of the owner from the follow-up page: a case
    with the proposal (identity proven by the link to the registered address), and the round
    counts as confirmed. With `granted` (the same browser, after it used the link) a further
    unit's correction is added to the same case."""
    from registry.cases.services import event

    link = services._open_link(token, LinkPurpose.FOLLOW_UP, lock=True, allow_used=granted)
    if req.unit.owner_id != link.owner_id:
        raise services.LookupRefused(_("Enheden hører ikke under %(owner)s.") % {"owner": link.owner.name})
    reg, changed, rows = services._prepared(req)
    if link.used_at is not None and link.case is not None and link.case.status != CaseStatus.CLOSED:
        case = link.case
        event(case, "comment", None, services._text(req, reg, changed, _("Endnu en rettelse fra samme opfølgning.")))
        if rows:
            if not case.units.filter(pk=reg.unit.pk).exists():
                case.units.add(reg.unit)
            services.add_proposal(case, reg.unit, rows)
        return case
    case = services._case(req, reg, changed, rows, identity="confirmed", sender_email=link.email,
                          how=_("Rettet fra den halvårlige opfølgning; identitet bekræftet med link sendt til %(e)s.")
                          % {"e": link.email})
    _record_confirmation(link, case)
    return case
