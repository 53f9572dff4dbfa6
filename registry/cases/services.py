"""The case services: the only writers of cases (ADR 0014). The admin, `manage.py sor_case`, the
mail intake and the tasks call these.

Who works cases: the support desk and SOR-administrators every case; a regional administrator
the cases of their region (a case with no unit yet is everybody's). A case's proposals are
change-sets (`case_propose`), so four eyes, preview and scheduling come from the engine; the
engine tells the case what happens to its sets (`changeset_event`).
"""

from __future__ import annotations

import datetime as dt
import re

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from registry.errors import DomainError, NotAllowed, ValidationFailed
from registry.models import (
    Case,
    CaseEvent,
    CaseMessage,
    CaseSource,
    CaseStatus,
    ChangeSet,
    ChangeSetStatus,
    MessageDirection,
    OutgoingStatus,
    Unit,
)
from registry.permissions import is_system, region_scope

S = CaseStatus
EVENT = "registry.case."
REFERENCE_RE = re.compile(r"\bSOR-(\d{4})-(\d{5,})\b")
OPEN = (S.NEW, S.IN_PROGRESS, S.AWAITING_APPROVAL, S.APPLIED, S.REJECTED, S.ANSWERED)
EVENT_LABELS = {
    "received": gettext_lazy("modtaget"), "assigned": gettext_lazy("tildelt"), "unassigned": gettext_lazy("lagt tilbage i køen"),
    "comment": gettext_lazy("kommentar"), "unit_linked": gettext_lazy("enhed knyttet"), "unit_unlinked": gettext_lazy("enhed fjernet"),
    "change_proposed": gettext_lazy("ændring foreslået"), "approved": gettext_lazy("godkendt"), "applied": gettext_lazy("gennemført"),
    "rejected": gettext_lazy("afvist"), "reply_sent": gettext_lazy("svar sendt"), "reply_failed": gettext_lazy("svar ikke sendt"),
    "reply_received": gettext_lazy("svar modtaget"), "reopened": gettext_lazy("genåbnet"), "merged": gettext_lazy("lagt sammen"),
    "closed": gettext_lazy("lukket"), "status": gettext_lazy("status"),
    "identity_unconfirmed": gettext_lazy("identitet ikke bekræftet"),
    "identity_confirmed": gettext_lazy("identitet bekræftet"), "confirmed": gettext_lazy("data bekræftet"),
}


# -- access -----------------------------------------------------------------------------------------

def may_work(actor, case: Case | None = None) -> bool:
    if is_system(actor):
        return True
    if not actor.has_perm("registry.change_case"):
        return False
    if case is None:
        return True
    scope = region_scope(actor)
    if scope is None:
        return True
    if scope is False:
        return case.region_id is None
    # A case about units in several regions is worked by each of them.
    return case.region_id in (None, scope.pk) or case.units.filter(region=scope).exists()


def check_work(actor, case: Case) -> None:
    if is_system(actor):
        return
    if not actor.has_perm("registry.change_case"):
        raise NotAllowed(_("Du kan ikke behandle sager."))
    if not may_work(actor, case):
        raise NotAllowed(_("Sagen %(ref)s hører til en anden region; du kan kun behandle sager om enheder i din "
                           "egen region.") % {"ref": case.reference})


def visible_cases(actor):
    """The cases `actor` sees: all for the support desk and SOR-administrators, their region's
    (and those with no region yet) for a regional administrator, none for others."""
    qs = Case.objects.all()
    if is_system(actor):
        return qs
    if not (actor.has_perm("registry.view_case") or actor.has_perm("registry.change_case")):
        return qs.none()
    scope = region_scope(actor)
    if scope is None:
        return qs
    if scope is False:
        return qs.filter(region__isnull=True)
    in_region = Case.units.through.objects.filter(unit__region=scope).values("case_id")
    return qs.filter(Q(region=scope) | Q(region__isnull=True) | Q(pk__in=in_region))


def get_case(reference_or_id) -> Case:
    text = str(reference_or_id).strip()
    try:
        if text.isdigit():
            return Case.objects.get(pk=int(text))
        return Case.objects.get(reference=text.upper())
    except Case.DoesNotExist:
        raise DomainError(_("Sagen %(ref)s findes ikke.") % {"ref": text}) from None


# -- helpers ------------------------------------------------------------------------------------------

def _actor(actor):
    return actor if getattr(actor, "pk", None) else None


def event(case: Case, code: str, actor, note: str = "", **data) -> CaseEvent:
    return CaseEvent.objects.create(case=case, code=EVENT + code, actor=_actor(actor), note=note, data=data)


def _locked(case) -> Case:
    return Case.objects.select_for_update().get(pk=getattr(case, "pk", case))


def _next_reference(at: dt.datetime) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('registry_case_number')")
        (number,) = cursor.fetchone()
    return f"SOR-{timezone.localtime(at).year}-{number:05d}"


def due_for(received_at: dt.datetime) -> dt.datetime:
    """The answer is due `SOR_CASE_SERVICE_DAYS` working days (Monday–Friday) after receipt."""
    due = timezone.localtime(received_at)
    days = settings.SOR_CASE_SERVICE_DAYS
    while days > 0:
        due += dt.timedelta(days=1)
        if due.weekday() < 5:
            days -= 1
    return due


def _set_status(case: Case, status: str, actor, note: str = "") -> None:
    if case.status == status:
        return
    old = case.status
    case.status = status
    case.closed_at = timezone.now() if status == S.CLOSED else None
    case.save(update_fields=["status", "closed_at", "updated_at"])
    event(case, "status", actor, note or f"{CaseStatus(old).label} → {CaseStatus(status).label}", old=old, new=status)


def _sync_region(case: Case) -> None:
    first = case.units.order_by("sor_id").values_list("region_id", flat=True).first()
    if first != case.region_id:
        case.region_id = first
        case.save(update_fields=["region", "updated_at"])


# -- creating and working a case ----------------------------------------------------------------------

@transaction.atomic
def case_create(*, actor, subject: str, text: str = "", source: str = CaseSource.EMAIL, sender_email: str = "",
                sender_name: str = "", contact: str = "", received_at: dt.datetime | None = None,
                units=(), identifiers=(), note: str = "") -> Case:
    if not is_system(actor) and not actor.has_perm("registry.add_case"):
        raise NotAllowed(_("Du kan ikke oprette sager."))
    if source not in CaseSource.values:
        raise ValidationFailed({"source": [_("Ukendt kilde %(s)r; brug en af %(all)s.") % {
            "s": source, "all": ", ".join(CaseSource.values)}]})
    subject = (subject or "").strip() or _("(intet emne)")
    received_at = received_at or timezone.now()
    case = Case.objects.create(
        reference=_next_reference(received_at), source=source, sender_email=(sender_email or "")[:254],
        sender_name=(sender_name or "")[:200], contact=(contact or "")[:200], subject=subject[:500], text=text or "",
        received_at=received_at, due_at=due_for(received_at), identifiers=list(identifiers))
    if units:
        case.units.set(units)
        _sync_region(case)
    event(case, "received", actor, note, source=source, units=[str(u.pk) for u in case.units.all()])
    return case


@transaction.atomic
def case_assign(*, actor, case, assignee) -> Case:
    """Give the case to `assignee` (a login or user; None returns it to the unassigned queue)."""
    case = _locked(case)
    check_work(actor, case)
    if isinstance(assignee, str):
        try:
            assignee = get_user_model().objects.get(username=assignee)
        except get_user_model().DoesNotExist:
            raise DomainError(_("Brugeren %(u)s findes ikke.") % {"u": assignee}) from None
    if assignee is not None and not may_work(assignee, case):
        raise DomainError(_("%(u)s kan ikke behandle sagen %(ref)s.") % {"u": assignee.get_username(),
                                                                          "ref": case.reference})
    if case.assignee_id == getattr(assignee, "pk", None):
        return case
    case.assignee = assignee
    case.save(update_fields=["assignee", "updated_at"])
    if assignee is None:
        event(case, "unassigned", actor)
    else:
        event(case, "assigned", actor, to=assignee.get_username())
        if case.status == S.NEW:
            _set_status(case, S.IN_PROGRESS, actor)
    return case


def case_claim(*, actor, case) -> Case:
    return case_assign(actor=actor, case=case, assignee=actor)


@transaction.atomic
def case_comment(*, actor, case, text: str) -> Case:
    case = _locked(case)
    check_work(actor, case)
    if not (text or "").strip():
        raise ValidationFailed({"text": [_("Skriv en kommentar.")]})
    event(case, "comment", actor, text.strip())
    return case


@transaction.atomic
def case_link_unit(*, actor, case, unit) -> Case:
    case = _locked(case)
    check_work(actor, case)
    unit_id = getattr(unit, "pk", unit)
    try:
        unit = Unit.objects.get(pk=int(str(unit_id)))
    except (Unit.DoesNotExist, ValueError):
        raise DomainError(_("SOR-ID %(id)s findes ikke.") % {"id": unit_id}) from None
    if not case.units.filter(pk=unit.pk).exists():
        case.units.add(unit)
        _sync_region(case)
        check_work(actor, case)  # a regional administrator cannot take a case into another region
        event(case, "unit_linked", actor, unit=str(unit.pk), name=unit.name)
    return case


@transaction.atomic
def case_unlink_unit(*, actor, case, unit) -> Case:
    case = _locked(case)
    check_work(actor, case)
    unit_id = int(str(getattr(unit, "pk", unit)))
    if case.units.filter(pk=unit_id).exists():
        case.units.remove(unit_id)
        _sync_region(case)
        event(case, "unit_unlinked", actor, unit=str(unit_id))
    return case


def _digits(value) -> str:
    return re.sub(r"[^0-9]", "", str(value or ""))


def proposal_warnings(case: Case, rows: list[dict]) -> list[str]:
    """What staff must see before a proposal is applied (the seed's warnings): identifiers failing
    their checks, a CVR equal to a phone number on the unit or in the mail, a 12- or 14-digit
    location number, a ydernummer already active on another owner, a closed unit."""
    from registry import identifiers

    from .intake.ingest import unit_phones
    from .intake.recognise import recognise

    out: list[str] = []
    mail_phones = recognise("\n".join([case.subject, case.text])).phones
    today = timezone.localdate()
    for row in rows:
        sor_id, field, value = str(row.get("sor_id") or ""), row.get("field") or "", str(row.get("value") or "")
        unit = Unit.objects.filter(pk=int(sor_id)).first() if sor_id.isdigit() else None
        label = f"{unit.name} ({unit.pk})" if unit else sor_id
        if unit is not None and unit.to_date is not None and unit.to_date < today:
            out.append(_("%(unit)s er lukket (%(date)s).") % {"unit": label, "date": unit.to_date.strftime("%d-%m-%Y")})
        gln_value = value if row.get("change") in ("assign_location_number",) else ""
        if field == "cvr" and value:
            phones = (unit_phones([unit]) if unit else set()) | mail_phones
            if _digits(value)[-8:] in {_digits(p)[-8:] for p in phones}:
                out.append(_("CVR-nummeret %(v)s er det samme som et telefonnummer på enheden eller i mailen: er "
                             "telefonnummeret skrevet som CVR?") % {"v": value})
            errors, warns = identifiers.check_cvr(value)
            out += [m for m in errors + warns if "telefon" not in m]
        if field == "provider_number" and value:
            errors, warns = identifiers.check_provider_number(value)
            out += errors + warns
            owner_id = unit.owner_id if unit else None
            others = (Unit.objects.filter(provider_number=value).exclude(to_date__lt=today)
                      .exclude(owner_id=owner_id).values_list("owner__name", flat=True)[:3])
            if others:
                out.append(_("Ydernummer %(v)s er allerede aktivt hos en anden ejer (%(owners)s): en dublet under "
                             "opsejling.") % {"v": value, "owners": ", ".join(others)})
        if field in ("gln", "location_number") or gln_value:
            errors, warns = identifiers.check_gln(gln_value or value)
            out += errors + warns
    return list(dict.fromkeys(out))


CONTACT_SET_FIELDS = ("phone", "email", "website", "fax")


def _with_own_contact(rows: list[dict]) -> list[dict]:
    """A phone, e-mail, web or fax proposed for a unit that inherits its electronic addresses
    would change nothing: the unit gets its own (virtual_present = ja) in the same change."""
    out, done = [], set()
    for row in rows:
        sor_id = str(row.get("sor_id") or "")
        if (row.get("change") == "set" and row.get("field") in CONTACT_SET_FIELDS and sor_id.isdigit()
                and sor_id not in done
                and not any(r.get("sor_id") == sor_id and r.get("field") == "virtual_present" for r in rows)
                and Unit.objects.filter(pk=int(sor_id), virtual_present=False).exists()):
            out.append({"change": "set", "sor_id": sor_id, "field": "virtual_present", "value": "ja"})
            done.add(sor_id)
        out.append(row)
    return out


class ProposalWarnings(ValidationFailed):
    """The proposal has warnings: nothing was created; propose again with `confirm=True`."""


@transaction.atomic
def case_propose(*, actor, case, rows: list[dict], name: str = "", effective_date: dt.date | None = None,
                 submit: bool = True, confirm: bool = False, keep_new: bool = False) -> ChangeSet:
    """A change-set of `rows` (the changes-file rows) owned by the case, submitted unless
    `submit` is false: a low-risk set its author may make is approved by the policy and applied
    at once; a high-risk one waits for a second SOR-administrator (the case then awaits approval).
    `keep_new`: a request nobody has worked yet (self-service) stays in the new queue."""
    from registry.changesets import engine

    case = _locked(case)
    check_work(actor, case)
    if case.status == S.CLOSED:
        raise DomainError(_("Sagen %(ref)s er lukket; genåbn den først.") % {"ref": case.reference})
    if not rows:
        raise ValidationFailed({"rows": [_("Ingen ændringer at foreslå.")]})
    rows = _with_own_contact(rows)
    rows = [{"row": n, **{key: str(row.get(key) or "") for key in ("change", "sor_id", "target", "field", "value")}}
            for n, row in enumerate(rows, 2)]
    warnings = proposal_warnings(case, rows)
    if warnings and not confirm:
        raise ProposalWarnings(warnings={"__all__": warnings})
    cs = engine.changeset_create(
        actor=actor, name=(name or f"{case.reference}: {case.subject}")[:200],
        reason=_("Rettelse efter henvendelse %(ref)s fra %(who)s") % {
            "ref": case.reference, "who": case.sender_email or case.get_source_display()},
        effective_date=effective_date, rows=rows, provenance={"case": case.reference})
    case.change_sets.add(cs)
    for change in cs.changes.exclude(unit_id=None):
        if not case.units.filter(pk=change.unit_id).exists() and Unit.objects.filter(pk=change.unit_id).exists():
            case.units.add(change.unit_id)
    _sync_region(case)
    event(case, "change_proposed", actor, "; ".join(cs.changes.values_list("description", flat=True))[:2000],
          change_set=str(cs.pk), risk=cs.risk)
    if case.assignee_id is None and not is_system(actor):
        case.assignee = actor
        case.save(update_fields=["assignee", "updated_at"])
    if case.status == S.NEW and not keep_new:
        _set_status(case, S.IN_PROGRESS, actor)
    if submit:
        engine.changeset_submit(actor=actor, changeset=cs)
        cs.refresh_from_db()
    return cs


@transaction.atomic
def case_confirm_identity(*, actor, case, note: str) -> Case:
    """Staff confirmed an unconfirmed requester another way (a phone call to the number
    registered in SOR): say how, and the case's sets may be submitted."""
    case = _locked(case)
    check_work(actor, case)
    if case.identity != "unconfirmed":
        raise DomainError(_("Sagen %(ref)s har ingen ubekræftet identitet.") % {"ref": case.reference})
    if not (note or "").strip():
        raise ValidationFailed({"note": [_("Skriv, hvordan identiteten er bekræftet (fx opkald til klinikkens "
                                           "registrerede telefonnummer).")]})
    case.identity = "verified"
    case.save(update_fields=["identity", "updated_at"])
    event(case, "identity_confirmed", actor, note.strip())
    return case


def case_submit_proposal(*, actor, case, change_set) -> ChangeSet:
    """Submit a draft proposal of the case (a clinic's, from self-service, or one saved as a
    draft): low risk is applied at once if the actor may make it, high risk waits for a second
    SOR-administrator (the submitter of a set nobody authored cannot also approve it)."""
    from registry.changesets import engine

    case = get_case(getattr(case, "pk", case))
    check_work(actor, case)
    cs = case.change_sets.filter(pk=getattr(change_set, "pk", change_set)).first()
    if cs is None:
        raise DomainError(_("Ændringssættet hører ikke til sagen %(ref)s.") % {"ref": case.reference})
    engine.changeset_submit(actor=actor, changeset=cs)
    return ChangeSet.objects.get(pk=cs.pk)


def case_cancel_proposal(*, actor, case, change_set, note: str = "") -> ChangeSet:
    from registry.changesets import engine

    case = get_case(getattr(case, "pk", case))
    check_work(actor, case)
    cs = case.change_sets.filter(pk=getattr(change_set, "pk", change_set)).first()
    if cs is None:
        raise DomainError(_("Ændringssættet hører ikke til sagen %(ref)s.") % {"ref": case.reference})
    engine.changeset_cancel(actor=actor, changeset=cs, note=note or _("Annulleret på sagen %(ref)s") % {
        "ref": case.reference})
    return ChangeSet.objects.get(pk=cs.pk)


def check_work_on_cases(actor, cs: ChangeSet) -> None:
    """The actor may work every case that owns `cs` (a regional administrator: their region's)."""
    for case in Case.objects.filter(change_sets=cs):
        check_work(actor, case)


def unconfirmed_cases_of(cs: ChangeSet) -> list[str]:
    """References of the cases owning `cs` whose requester is not yet identified."""
    return list(Case.objects.filter(change_sets=cs, identity="unconfirmed").values_list("reference", flat=True))


def refresh_status(case: Case, actor, current: ChangeSet | None = None) -> None:
    """The case's status from its sets: awaiting approval while one is submitted; applied when
    every set that went on is applied; rejected when all were rejected or cancelled."""
    if case.status in (S.ANSWERED, S.CLOSED):
        return
    # `current`: a set whose new status the engine has not saved yet.
    statuses = [current.status if current is not None and pk == current.pk else status
                for pk, status in case.change_sets.values_list("pk", "status")]
    if not statuses:
        return
    pending = {ChangeSetStatus.SUBMITTED, ChangeSetStatus.DRAFT}
    ended = {ChangeSetStatus.REJECTED, ChangeSetStatus.CANCELLED, ChangeSetStatus.FAILED}
    if any(s in pending for s in statuses):
        new = S.AWAITING_APPROVAL if ChangeSetStatus.SUBMITTED in statuses else S.IN_PROGRESS
    elif all(s in ended for s in statuses):
        new = S.REJECTED
    elif all(s in (ChangeSetStatus.APPLIED, ChangeSetStatus.REVERTED) or s in ended for s in statuses) \
            and ChangeSetStatus.APPROVED not in statuses:
        new = S.APPLIED
    else:
        new = S.IN_PROGRESS  # approved, waiting for its date
    _set_status(case, new, actor)


def changeset_event(cs: ChangeSet, code: str, actor, note: str) -> None:
    """Called by the engine for every event of a case's set (same transaction)."""
    names = {"approved": "approved", "applied": "applied", "rejected": "rejected", "failed": "rejected",
             "cancelled": "rejected"}
    for case in Case.objects.filter(change_sets=cs):
        if code in names:
            event(case, names[code], actor, note, change_set=str(cs.pk), set_status=code)
        if code != "created":
            refresh_status(case, actor, cs)


@transaction.atomic
def case_reject(*, actor, case, reason: str) -> Case:
    """Nothing will be changed: pending sets are cancelled, the case is rejected (then answered
    with the "rejected" template)."""
    from registry.changesets import engine

    case = _locked(case)
    check_work(actor, case)
    if not (reason or "").strip():
        raise ValidationFailed({"reason": [_("Skriv hvorfor henvendelsen afvises.")]})
    for cs in case.change_sets.filter(status__in=[ChangeSetStatus.DRAFT, ChangeSetStatus.SUBMITTED,
                                                  ChangeSetStatus.APPROVED]):
        engine.changeset_cancel(actor=actor, changeset=cs, note=reason)
    event(case, "rejected", actor, reason.strip())
    _set_status(case, S.REJECTED, actor)
    return case


@transaction.atomic
def case_close(*, actor, case, note: str = "") -> Case:
    case = _locked(case)
    check_work(actor, case)
    if case.status == S.CLOSED:
        raise DomainError(_("Sagen %(ref)s er allerede lukket.") % {"ref": case.reference})
    if case.change_sets.filter(status__in=[ChangeSetStatus.SUBMITTED, ChangeSetStatus.DRAFT]).exists():
        raise DomainError(_("Sagen %(ref)s har ændringssæt, der ikke er afgjort; godkend, afvis eller annullér dem "
                            "først.") % {"ref": case.reference})
    event(case, "closed", actor, note)
    _set_status(case, S.CLOSED, actor)
    return case


@transaction.atomic
def case_reopen(*, actor, case, note: str = "") -> Case:
    case = _locked(case)
    check_work(actor, case)
    if case.status not in (S.CLOSED, S.ANSWERED, S.REJECTED, S.APPLIED):
        raise DomainError(_("Sagen %(ref)s er ikke afsluttet.") % {"ref": case.reference})
    if case.merged_into_id:
        raise DomainError(_("Sagen er lagt sammen med %(ref)s; arbejd videre der.") % {"ref": case.merged_into.reference})
    event(case, "reopened", actor, note)
    _set_status(case, S.IN_PROGRESS, actor)
    return case


@transaction.atomic
def case_merge(*, actor, case, into) -> Case:
    """Two cases about the same matter: `case`'s mails, units and sets move to `into`; `case` is
    closed with a link to it (mail threading on `case` then arrives on `into`)."""
    case, target = _locked(case), _locked(into)
    check_work(actor, case)
    check_work(actor, target)
    if case.pk == target.pk:
        raise DomainError(_("En sag kan ikke lægges sammen med sig selv."))
    if target.status == S.CLOSED:
        raise DomainError(_("Sagen %(ref)s er lukket; genåbn den først.") % {"ref": target.reference})
    CaseMessage.objects.filter(case=case).update(case=target)
    target.units.add(*case.units.all())
    target.change_sets.add(*case.change_sets.all())
    _sync_region(target)
    case.merged_into = target
    case.save(update_fields=["merged_into", "updated_at"])
    event(case, "merged", actor, _("lagt sammen med %(ref)s") % {"ref": target.reference}, into=target.reference)
    event(target, "merged", actor, _("%(ref)s er lagt sammen med denne sag") % {"ref": case.reference},
          source=case.reference)
    _set_status(case, S.CLOSED, actor)
    return target


def thread_case(*, subject: str, in_reply_to: str, references: list[str]) -> Case | None:
    """The case a received mail answers: by its Message-ID threads first, then the reference
    in the subject. A merged case leads to the one it was merged into."""
    ids = [i for i in [in_reply_to, *references] if i]
    case = None
    if ids:
        msg = CaseMessage.objects.filter(message_id__in=ids).select_related("case").order_by("-created_at").first()
        case = msg.case if msg else None
    if case is None:
        match = REFERENCE_RE.search(subject or "")
        if match:
            case = Case.objects.filter(reference=match.group(0)).first()
    while case is not None and case.merged_into_id:
        case = case.merged_into
    return case


def reply_received(case: Case, message: CaseMessage) -> None:
    event(case, "reply_received", None, message.subject, message=str(message.pk))
    if case.status in (S.CLOSED, S.ANSWERED, S.REJECTED, S.APPLIED):
        event(case, "reopened", None, _("svar fra afsenderen"))
        _set_status(case, S.IN_PROGRESS, None)


def outgoing_allowed(case: Case) -> bool:
    """No mail to machines: a case whose first mail was automatic gets no acknowledgement."""
    first = case.messages.filter(direction=MessageDirection.IN).order_by("created_at").first()
    return first is None or not first.automatic


def queued_messages():
    return CaseMessage.objects.filter(direction=MessageDirection.OUT, status=OutgoingStatus.QUEUED)
