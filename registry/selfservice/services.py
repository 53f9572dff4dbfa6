"""Clinic self-service: find a unit by a number and the CVR, propose changes, prove control of an
address registered in SOR with a one-time link; every request becomes a case whose proposal is
a change-set (ADR 0015). The public pages (`sor_public.selfservice`) and `manage.py sor_selfservice`
call these.

What a requester may see is what SOR publishes (the file): never the SOR-responsible person (its
address is offered masked). The link only ever goes to an address registered on the unit, its
owner or the owner's SOR-responsible person; never to one typed in, and it stops working when
that address is no longer registered.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from registry import identifiers as ids
from registry.errors import DomainError, ValidationFailed
from registry.models import (
    Case,
    CaseSource,
    LinkPurpose,
    LocationMode,
    LocationNumber,
    OutgoingMail,
    SelfServiceLink,
    SorResponsible,
    Unit,
)
from registry.selectors import ancestors_of, unit_effective_values

LOCATION_CODES = ("system_supplier", "system_type", "network_operator", "region", "edi_administrator")


class LookupRefused(DomainError):
    """No active unit has that number together with that CVR (said the same way whether the
    number exists or not)."""


class TooManyLinks(DomainError):
    """The unit's addresses got the most link mails allowed this hour."""

    def __init__(self, message, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class LinkRefused(DomainError):
    """The link is unknown, used or expired; `case` is the case a used link made."""

    def __init__(self, message, case=None, expired=False):
        super().__init__(message)
        self.case = case
        self.expired = expired


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _active(qs):
    return qs.filter(Q(to_date__isnull=True) | Q(to_date__gte=timezone.localdate()))


# -- finding the unit -------------------------------------------------------------------------------

def read_identifier(text: str) -> tuple[str, str]:
    """(kind, value) of what the requester typed: `sor_id`, `provider_number` (6 digits) or
    `gln` (13 digits); a wrong one is refused with the seed's words."""
    value = (text or "").replace(" ", "").strip()
    if not value:
        raise ValidationFailed({"identifier": [_("Skriv enhedens SOR-ID, ydernummer eller lokationsnummer.")]})
    if not ids.is_digits(value):
        raise ValidationFailed({"identifier": [_("Et SOR-ID, ydernummer eller lokationsnummer består kun af cifre; "
                                                 "%(v)r gør ikke.") % {"v": value}]})
    if ids.SOR_ID_RE.match(value) and not ids.check_sor_id(value)[0]:
        return "sor_id", value
    if ids.SOR_ID_RE.match(value):
        raise ValidationFailed({"identifier": [_("SOR-ID %(v)s har en tastefejl: kontrolcifferet (det sidste ciffer) "
                                                 "passer ikke.") % {"v": value}]})
    if len(value) in (12, 13, 14):  # a location number, or one with a digit missing or too many
        errors, _w = ids.check_gln(value)
        if errors:
            raise ValidationFailed({"identifier": errors})
        return "gln", value
    if len(value) <= 8 and not (len(value) == 8 and value.startswith("99")):
        errors, _w = ids.check_provider_number(value)
        if errors:
            raise ValidationFailed({"identifier": errors})
        return "provider_number", value
    raise ValidationFailed({"identifier": [_("%(v)s (%(n)d cifre) er hverken et SOR-ID, et ydernummer (6 cifre) eller et "
                                             "lokationsnummer (13 cifre).") % {"v": value, "n": len(value)}]})


def read_cvr(text: str) -> str:
    """The CVR as typed, or written 'DK12345678' or in groups of digits: accepted when the digits
    are 8 and pass mod 11 (a phone number typed with +45, or one that fails, is refused)."""
    value = (text or "").strip()
    compact = value.upper().removeprefix("DK").replace(" ", "").replace("-", "")
    if compact != value and not value.startswith("+") and len(compact) == 8 and ids.is_digits(compact) \
            and not ids.check_cvr(compact)[0] and not ids.check_cvr(compact)[1]:
        return compact
    if not value:
        raise ValidationFailed({"cvr": [_("Skriv CVR-nummeret (8 cifre), som det står i SOR.")]})
    errors, warnings = ids.check_cvr(value)
    if errors or warnings:
        raise ValidationFailed({"cvr": errors or [_("CVR-nummer %(v)s har forkert kontrolciffer (modulus 11): "
                                                    "tjek det, fx på virk.dk.") % {"v": value}]})
    return value


def cvr_holder(unit: Unit, chain: list[Unit], cvr: str) -> Unit | None:
    """The unit of the chain (the unit, then up to its owner) whose registered CVR is `cvr`."""
    for candidate in [unit, *reversed(chain)]:
        if candidate.cvr == cvr:
            return candidate
    return None


def lookup(identifier: str, cvr: str) -> list[Unit]:
    """The active units with that number whose own or an ancestor's CVR is `cvr`."""
    errors = {}
    try:
        kind, value = read_identifier(identifier)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    try:
        cvr = read_cvr(cvr)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    if kind == "sor_id":
        candidates = _active(Unit.objects.filter(pk=int(value)))
    elif kind == "provider_number":
        candidates = _active(Unit.objects.filter(provider_number=value))
    else:
        holders = _active(LocationNumber.objects.filter(gln=value)).values_list("unit_id", flat=True)
        candidates = _active(Unit.objects.filter(pk__in=list(holders)))
    found = []
    for unit in candidates.order_by("sor_id")[:20]:
        if cvr_holder(unit, ancestors_of(unit), cvr) is not None:
            found.append(unit)
    if not found:
        raise LookupRefused(_("Vi fandt ingen aktiv enhed med det nummer og det CVR-nummer. Tjek begge numre: "
                              "CVR-nummeret er det, der står på enheden eller dens ejer i SOR."))
    return found


def find_for(unit_id, cvr: str) -> Unit:
    """The unit again (a later step of the form), refused unless the CVR still matches."""
    unit = _active(Unit.objects.filter(pk=int(str(unit_id)))).first() if str(unit_id).isdigit() else None
    if unit is None or cvr_holder(unit, ancestors_of(unit), (cvr or "").strip()) is None:
        raise LookupRefused(_("Start forfra: enheden og CVR-nummeret passer ikke sammen."))
    return unit


# -- what the page shows ------------------------------------------------------------------------------

@dataclass
class Field:
    """One value the requester can correct: its current (published) value and the unit it is
    registered on (inherited values are corrected where they are registered)."""

    name: str
    label: str
    current: str
    source: Unit | None = None
    group: str = ""


@dataclass
class Registered:
    unit: Unit
    chain: list[Unit]
    owner: Unit
    effective: dict
    fields: list[Field] = field(default_factory=list)

    def by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}


def registered(unit: Unit) -> Registered:
    chain = ancestors_of(unit)
    owner = chain[0] if chain else unit
    eff = unit_effective_values(unit)
    units = {u.sor_id: u for u in [*chain, unit]}
    virtual, postal, number = eff["virtual"], eff["postal"], eff["location_number"]
    vsrc = units.get(virtual.source) if virtual.source else None
    psrc = units.get(postal.source) if postal.source else None
    vval, pval = virtual.value or {}, postal.value or {}
    provider_holder = unit if unit.provider_number or not any(u.provider_number for u in chain) else \
        next(u for u in reversed(chain) if u.provider_number)
    cvr_unit = next((u for u in [unit, *reversed(chain)] if u.cvr), owner)
    out = Registered(unit=unit, chain=chain, owner=owner, effective=eff)
    out.fields = [
        Field("name", _("navn"), unit.name, unit),
        Field("phone", _("telefon"), vval.get("phone", ""), vsrc, "virtual"),
        Field("email", _("e-mail"), vval.get("email", ""), vsrc, "virtual"),
        Field("website", _("hjemmeside"), vval.get("website", ""), vsrc, "virtual"),
        Field("street", _("adresse (vej og husnummer)"),
              " ".join(filter(None, [pval.get("street_name", ""), pval.get("building", "")])), psrc, "postal"),
        Field("post_code", _("postnummer"), pval.get("post_code", ""), psrc, "postal"),
        Field("district_name", _("by"), pval.get("district_name", ""), psrc, "postal"),
        Field("cvr", _("CVR-nummer"), cvr_unit.cvr, cvr_unit),
        Field("provider_number", _("ydernummer"), provider_holder.provider_number, provider_holder),
        Field("location_number", _("lokationsnummer"), number.value.gln if number.value else "",
              units.get(number.source) if number.source else None),
    ]
    return out


def mask(email: str) -> str:
    local, _at, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"


def shown(label: str, email: str) -> str:
    """How a link address is shown: an address SOR publishes (the unit's, the owner's) as it is;
    the SOR-responsible person's (not published) masked."""
    return mask(email) if label == _("ejerens SOR-ansvarlige") else email


def link_addresses(unit: Unit) -> list[tuple[str, str]]:
    """(label, address) of the registered addresses a link may go to, in this order: the unit's
    e-mail in SOR, its owner's, the owner's SOR-responsible person's. Deduplicated."""
    reg = registered(unit)
    out: list[tuple[str, str]] = []
    email_field = reg.by_name()["email"]
    if email_field.current:
        inherited = email_field.source is not None and email_field.source.pk != unit.pk
        out.append((_("e-mail i SOR, registreret på %(name)s") % {"name": email_field.source.name} if inherited
                    else _("enhedens e-mail i SOR"), email_field.current))
    owner_email = (unit_effective_values(reg.owner)["virtual"].value or {}).get("email", "") if reg.owner != unit else ""
    if owner_email:
        out.append((_("ejerens e-mail i SOR"), owner_email))
    responsible = SorResponsible.objects.filter(owner=reg.owner).first()
    if responsible:
        out.append((_("ejerens SOR-ansvarlige"), responsible.email))
    seen, unique = set(), []
    for label, address in out:
        if address.lower() not in seen and not ids.check_email(address)[0]:
            seen.add(address.lower())
            unique.append((label, address))
    return unique


# -- the proposal ----------------------------------------------------------------------------------------

PROPOSABLE = ("name", "phone", "email", "website", "street", "post_code", "district_name", "cvr",
              "provider_number", "location_number")
RESPONSIBLE_FIELDS = ("responsible_name", "responsible_email", "responsible_phone")


def _split_street(text: str) -> tuple[str, str]:
    """'Østergade 70' → ('Østergade', '70'); the house number is the last word when it starts
    with a digit."""
    parts = text.strip().rsplit(" ", 1)
    if len(parts) == 2 and parts[1][:1].isdigit():
        return parts[0], parts[1]
    return text.strip(), ""


def check_proposal(reg: Registered, new: dict) -> dict[str, list[str]]:
    """The seed's checks on the new values (13-digit location number, 6-digit ydernummer, a CVR
    that is not a phone number, …): field → messages."""
    errors: dict[str, list[str]] = {}
    phone = new.get("phone") or reg.by_name()["phone"].current
    checks = {
        "phone": lambda v: ids.check_phone(v),
        "email": lambda v: ids.check_email(v),
        "cvr": lambda v: ids.check_cvr(v, phone=phone),
        "provider_number": lambda v: ids.check_provider_number(v),
        "location_number": lambda v: ids.check_gln(v),
        "responsible_email": lambda v: ids.check_email(v),
        "responsible_phone": lambda v: ids.check_phone(v),
    }
    for name, check in checks.items():
        value = (new.get(name) or "").strip()
        if value:
            errs, warns = check(value)
            if name == "cvr" and warns:
                errs = [*errs, _("CVR-nummer %(v)s har forkert kontrolciffer (modulus 11): tjek det, fx på virk.dk.")
                        % {"v": value}]
            if errs:
                errors[name] = errs
    post_code = (new.get("post_code") or "").strip()
    if post_code and not (ids.is_digits(post_code) and len(post_code) == 4):
        errors["post_code"] = [_("Et postnummer har 4 cifre; %(v)r gør ikke.") % {"v": post_code}]
    name = (new.get("name") or "").strip()
    if len(name) > 60:
        errors["name"] = [_("Navnet må højst have 60 tegn (SOR-filens grænse); det har %(n)d.") % {"n": len(name)}]
    website = (new.get("website") or "").strip()
    if len(website) > 254:
        errors["website"] = [_("Hjemmesiden må højst have 254 tegn.")]
    resp = [(new.get(n) or "").strip() for n in RESPONSIBLE_FIELDS]
    if any(resp) and not (resp[0] and resp[1]):
        errors["responsible_name" if not resp[0] else "responsible_email"] = [
            _("En SOR-ansvarlig skal have både navn og e-mail.")]
    return errors


def compact_phone(value: str) -> str:
    """A Danish number typed in groups ('70 20 30 40') as SOR holds it ('70203040'); anything
    else (+45 …, extensions) as typed."""
    digits = ids.digits_only(value)
    return digits if len(digits) == 8 and value.replace(" ", "").replace("-", "") == digits else value


def changed_values(reg: Registered, new: dict) -> dict[str, str]:
    """The proposed values that differ from what is registered (blank = unchanged)."""
    current = {f.name: f.current for f in reg.fields}
    out = {}
    for name in PROPOSABLE:
        value = " ".join((new.get(name) or "").split())
        if name == "phone":
            value = compact_phone(value)
        if value and value != current.get(name, ""):
            out[name] = value
    for name in RESPONSIBLE_FIELDS:
        value = (new.get(name) or "").strip()
        if name == "responsible_phone":
            value = compact_phone(value)
        if value:
            out[name] = value
    return out


def proposal_rows(reg: Registered, changed: dict) -> list[dict]:
    """The change-set rows of the proposal: each value on the unit it is registered on."""
    fields = reg.by_name()
    rows: list[dict] = []

    def set_row(unit, name, value):
        rows.append({"change": "set", "sor_id": str(unit.pk), "field": name, "value": value})

    if "name" in changed:
        set_row(reg.unit, "name", changed["name"])
    for name in ("phone", "email", "website"):
        if name in changed:
            source = fields[name].source
            if source is None:  # nothing registered anywhere: the unit gets its own
                set_row(reg.unit, "virtual_present", "ja")
                source = reg.unit
            set_row(source, name, changed[name])
    if {"street", "post_code", "district_name"} & set(changed):
        source = fields["street"].source
        if source is None:
            set_row(reg.unit, "postal_present", "ja")
            source = reg.unit
        if "street" in changed:
            street, building = _split_street(changed["street"])
            set_row(source, "postal_street_name", street)
            set_row(source, "postal_building", building)
        for name in ("post_code", "district_name"):
            if name in changed:
                set_row(source, f"postal_{name}", changed[name])
    if "cvr" in changed:
        set_row(fields["cvr"].source or reg.owner, "cvr", changed["cvr"])
    if "provider_number" in changed:
        set_row(fields["provider_number"].source or reg.unit, "provider_number", changed["provider_number"])
    if "location_number" in changed:
        holder = fields["location_number"].source or reg.unit
        old = reg.effective["location_number"].value
        codes = ""
        if old is not None:
            codes = ",".join(f"{name}={getattr(old, name).code}" for name in LOCATION_CODES
                             if getattr(old, name) is not None)
            types = "|".join(old.message_types.order_by("code").values_list("code", flat=True))
            if types:  # the clinic's EDI message types go with it to the new number
                codes += f",message_types={types}"
            if holder.location_mode == LocationMode.OWN:
                rows.append({"change": "close_location_number", "sor_id": str(holder.pk), "field": old.gln,
                             "value": ""})
        rows.append({"change": "assign_location_number", "sor_id": str(holder.pk), "field": codes,
                     "value": changed["location_number"]})
    if any(name in changed for name in RESPONSIBLE_FIELDS):
        for name in ("responsible_email", "responsible_name", "responsible_phone"):  # the e-mail first: it makes the person
            if name in changed:
                rows.append({"change": "set_sor_responsible", "sor_id": str(reg.owner.pk),
                             "field": name.removeprefix("responsible_"), "value": changed[name]})
    return rows


def describe(reg: Registered, changed: dict) -> str:
    """The request in words, old beside new, for the case text and the mail."""
    labels = {f.name: (f.label, f.current) for f in reg.fields}
    labels.update({"responsible_name": (_("SOR-ansvarlig: navn"), ""),
                   "responsible_email": (_("SOR-ansvarlig: e-mail"), ""),
                   "responsible_phone": (_("SOR-ansvarlig: telefon"), "")})
    lines = [f"{labels[n][0]}: {labels[n][1] or '-'} → {v}" for n, v in changed.items()]
    return "\n".join(lines)


@dataclass
class Request:
    """What the requester sent: the changed values, the free text and who they are."""

    unit: Unit
    new: dict
    message: str = ""
    requester_name: str = ""
    requester_phone: str = ""
    requester_email: str = ""


def refuse_control_characters(values: dict) -> None:
    """A NUL or other control character (tab and newline aside) in a form field is refused by
    name; PostgreSQL cannot store NUL in text at all."""
    bad = [name for name, value in values.items()
           if isinstance(value, str) and any(ord(ch) < 32 and ch not in "\t\r\n" for ch in value)]
    if bad:
        raise ValidationFailed({name: [_("Feltet indeholder et kontroltegn; skriv det igen.")] for name in bad})


def _prepared(req: Request):
    refuse_control_characters({**{k: v for k, v in req.new.items()}, "message": req.message,
                               "requester_name": req.requester_name, "requester_phone": req.requester_phone,
                               "requester_email": req.requester_email})
    req.unit = Unit.objects.get(pk=req.unit.pk)  # as registered now, not as the caller last read it
    reg = registered(req.unit)
    errors = check_proposal(reg, req.new)
    for name, limit in (("requester_name", 200), ("requester_phone", 40), ("requester_email", 254),
                        ("message", 5000)):
        if len(getattr(req, name) or "") > limit:
            errors[name] = [_("Højst %(n)d tegn.") % {"n": limit}]
    if not (req.requester_name or "").strip():
        errors["requester_name"] = [_("Skriv dit navn.")]
    if req.requester_email and ids.check_email(req.requester_email)[0]:
        errors["requester_email"] = ids.check_email(req.requester_email)[0]
    if errors:
        raise ValidationFailed(errors)
    changed = changed_values(reg, req.new)
    if not changed and not (req.message or "").strip():
        raise ValidationFailed({"__all__": [_("Skriv mindst én ny værdi, eller beskriv ændringen i feltet "
                                             "'Andet'.")]})
    from registry.changesets.engine import expand_rows

    rows = proposal_rows(reg, changed)
    if rows:
        try:
            expand_rows([{"row": n, "target": "", **r} for n, r in enumerate(rows, 2)])
        except DomainError as exc:  # a value the engine refuses is said now, not to staff later
            raise ValidationFailed({"__all__": [str(exc)]}) from None
    return reg, changed, rows


def _text(req: Request, reg: Registered, changed: dict, how: str) -> str:
    parts = [_("Anmodning fra SOR's selvbetjening om %(unit)s (SOR-ID %(id)s).") % {"unit": reg.unit.name,
                                                                                     "id": reg.unit.pk},
             how, "", describe(reg, changed) or _("(ingen nye værdier)")]
    if req.message.strip():
        parts += ["", _("Andet:"), req.message.strip()]
    who = [req.requester_name.strip() or "-"]
    if (req.requester_phone or "").strip():
        who.append(_("telefon %(p)s") % {"p": req.requester_phone.strip()})
    if (req.requester_email or "").strip():
        who.append(_("e-mail %(e)s") % {"e": req.requester_email.strip()})
    parts += ["", _("Anmoder: %(who)s") % {"who": ", ".join(who)}]
    return "\n".join(parts)


def _case(req: Request, reg: Registered, changed: dict, rows: list[dict], *, identity: str, sender_email: str,
          how: str) -> Case:
    from registry.cases.services import case_create, event

    case = case_create(
        actor=None, subject=_("Selvbetjening: %(unit)s") % {"unit": reg.unit.name}, source=CaseSource.SELF_SERVICE,
        text=_text(req, reg, changed, how), sender_email=sender_email, sender_name=req.requester_name,
        contact=" ".join(filter(None, [req.requester_phone, req.requester_email])), units=[reg.unit])
    case.identity = identity
    case.save(update_fields=["identity", "updated_at"])
    if identity == "unconfirmed":
        event(case, "identity_unconfirmed", None, _("Den registrerede e-mail er ikke bekræftet: ring til klinikken "
                                                     "(registreret telefon %(p)s) før ændringen gennemføres.")
              % {"p": reg.by_name()["phone"].current or "-"})
    if rows:
        add_proposal(case, reg.unit, rows)
    return case


def add_proposal(case: Case, unit: Unit, rows: list[dict]) -> None:
    """The requester's rows as a draft set of the case. If the register changed since they were
    written (a number closed meanwhile) and the engine refuses them, the case still holds the
    request, and its timeline says why there is no set."""
    from registry.cases.services import case_propose, event, proposal_warnings

    warnings = proposal_warnings(case, rows)
    try:
        with transaction.atomic():
            case_propose(actor=None, case=case, rows=rows, submit=False, confirm=True, keep_new=True,
                         name=_("%(ref)s: selvbetjening %(unit)s") % {"ref": case.reference, "unit": unit.name})
    except DomainError as exc:
        event(case, "comment", None, _("Forslaget kunne ikke laves som ændringssæt: %(e)s") % {"e": exc})
        return
    if warnings:
        event(case, "comment", None, _("Advarsler ved forslaget: %(w)s") % {"w": " ".join(warnings)})


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def link_url(token: str, purpose: str) -> str:
    path = "bekraeft" if purpose == LinkPurpose.REQUEST else "opfoelgning"
    return f"{settings.SOR_PUBLIC_URL}/selvbetjening/{path}/{token}/"


_LINK_RE = re.compile(r"(/selvbetjening/(?:bekraeft|opfoelgning)/)[A-Za-z0-9_-]+/")


def redact_links(text: str) -> str:
    """The mail's text without the tokens of its one-time links (kept after sending: only the
    token's SHA-256 stays, on the link row)."""
    return _LINK_RE.sub(r"\1…/", text)


def queue_mail(*, to: str, subject: str, text: str, purpose: str) -> OutgoingMail:
    """An `OutgoingMail`, sent by the worker after commit."""
    from email.utils import make_msgid

    from registry.tasks import send_mail

    mail = OutgoingMail.objects.create(purpose=purpose, message_id=make_msgid(domain=settings.SOR_MAIL_DOMAIN),
                                       sender=settings.SOR_MAIL_FROM, recipients=to, subject=subject[:1000], text=text)
    transaction.on_commit(lambda: send_mail.delay(mail.pk))
    return mail


@dataclass
class Submitted:
    """The outcome of a request: a link was sent (`link`, `sent_to` as shown) or a case was made."""

    link: SelfServiceLink | None = None
    sent_to: str = ""
    case: Case | None = None
    token: str = ""  # only for the command line and tests; never shown on a page


@transaction.atomic
def request_submit(req: Request, *, address: int | None = None, address_wrong: bool = False,
                   verified_cvr: str | None = None) -> Submitted:
    """Send the one-time link to the registered address number `address` (of `link_addresses`);
    with `address_wrong` (or no registered address) make the case now, marked "identitet ikke
    bekræftet"; with a `verified_cvr` from a login (MitID Erhverv) that matches, make it now,
    confirmed."""
    reg, changed, rows = _prepared(req)
    if verified_cvr and cvr_holder(reg.unit, reg.chain, verified_cvr) is not None:
        case = _case(req, reg, changed, rows, identity="login", sender_email=req.requester_email,
                     how=_("Identitet bekræftet ved login (CVR %(c)s).") % {"c": verified_cvr})
        return Submitted(case=case)
    addresses = link_addresses(reg.unit)
    if address_wrong or not addresses:
        if not (req.requester_phone or "").strip():
            raise ValidationFailed({"requester_phone": [_("Skriv et telefonnummer, supporten kan ringe til: "
                                                          "din identitet skal bekræftes på anden vis.")]})
        case = _case(req, reg, changed, rows, identity="unconfirmed", sender_email="",
                     how=_("Identitet ikke bekræftet: anmoderen har ikke adgang til en registreret e-mail."))
        return Submitted(case=case)
    if address is None or not 0 <= address < len(addresses):
        raise ValidationFailed({"address": [_("Vælg den registrerede e-mail, linket skal sendes til.")]})
    label, email = addresses[address]
    from registry.ratelimit import hit

    allowed, retry_after = hit("selfservice-mail", str(reg.unit.pk), settings.SOR_SELFSERVICE_MAILS_PER_UNIT, 3600)
    if not allowed:
        raise TooManyLinks(_("Der er sendt det største antal links til enhedens adresser i denne time."), retry_after)
    token, digest = _new_token()
    link = SelfServiceLink.objects.create(
        token_sha256=digest, purpose=LinkPurpose.REQUEST, unit=reg.unit, owner=reg.owner, email=email,
        address_label=label, rows=rows, requester_name=req.requester_name.strip()[:200],
        requester_phone=(req.requester_phone or "").strip()[:40], requester_email=(req.requester_email or "").strip()[:254],
        message=_text(req, reg, changed, _("Engangslink sendt til %(e)s (%(l)s).") % {"e": email, "l": label}),
        expires_at=timezone.now() + dt.timedelta(minutes=settings.SOR_SELFSERVICE_LINK_MINUTES))
    minutes = settings.SOR_SELFSERVICE_LINK_MINUTES
    queue_mail(to=email, purpose="selfservice_link",
               subject=_("Bekræft din rettelse i SOR: %(unit)s") % {"unit": reg.unit.name},
               text=_("%(who)s har bedt om at rette SOR-oplysningerne for %(unit)s (SOR-ID %(id)s):\n\n%(changes)s\n\n"
                      "Var det dig, så bekræft rettelsen her (linket virker én gang og udløber om %(m)d minutter):\n"
                      "%(url)s\n\nVar det ikke dig, så gør ingenting: intet bliver ændret.\n\nMed venlig hilsen\n"
                      "SOR-supporten\nSundhedsdatastyrelsen\n")
               % {"who": req.requester_name.strip()[:60], "unit": reg.unit.name, "id": reg.unit.pk,
                  # Only the values, never the requester's free text: the mail comes from SOR.
                  "changes": describe(reg, changed) or _("(en beskrivelse i fritekst, som du ser, når du følger "
                                                         "linket)"),
                  "m": minutes, "url": link_url(token, LinkPurpose.REQUEST)})
    return Submitted(link=link, sent_to=shown(label, email), token=token)


def _open_link(token: str, purpose: str, *, lock: bool, allow_used: bool = False) -> SelfServiceLink:
    qs = SelfServiceLink.objects.select_related("unit", "owner", "case")
    if lock:
        qs = qs.select_for_update(of=("self",))
    link = qs.filter(token_sha256=token_hash(token or ""), purpose=purpose).first()
    if link is None:
        raise LinkRefused(_("Linket findes ikke. Kopiér hele linket fra mailen, eller start forfra."))
    if link.used_at is not None and not (allow_used and link.case_id):
        raise LinkRefused(_("Linket er allerede brugt (%(when)s); det virker kun én gang.")
                          % {"when": timezone.localtime(link.used_at).strftime("%d-%m-%Y %H:%M")}, case=link.case)
    if link.expires_at <= timezone.now():
        raise LinkRefused(_("Linket er udløbet (%(when)s). Start forfra, så sender vi et nyt.")
                          % {"when": timezone.localtime(link.expires_at).strftime("%d-%m-%Y %H:%M")}, expired=True)
    # The address must still be registered: a link to an address since replaced proves nothing.
    if purpose == LinkPurpose.FOLLOW_UP:
        current = SorResponsible.objects.filter(owner_id=link.owner_id).values_list("email", flat=True).first()
        still = current is not None and current.lower() == link.email.lower()
    else:
        still = link.email.lower() in {a.lower() for _l, a in link_addresses(link.unit)}
    if not still:
        raise LinkRefused(_("Linket blev sendt til en adresse, der ikke længere er registreret i SOR. Start forfra."))
    return link


def link_peek(token: str, purpose: str = LinkPurpose.REQUEST, *, allow_used: bool = False) -> SelfServiceLink:
    """The link, if it can still be used (a GET shows it; only a POST uses it, so a mail
    scanner that opens links uses nothing). `allow_used`: the browser that used it goes on."""
    return _open_link(token, purpose, lock=False, allow_used=allow_used)


@transaction.atomic
def request_confirm(token: str) -> Case:
    """Follow the one-time link: the case is made with its proposal; the link is used up."""
    from registry.cases.replies import case_reply

    link = _open_link(token, LinkPurpose.REQUEST, lock=True)
    reg = registered(link.unit)
    req = Request(unit=link.unit, new={}, requester_name=link.requester_name, requester_phone=link.requester_phone,
                  requester_email=link.requester_email)
    case = _case(req, reg, {}, link.rows, identity="confirmed", sender_email=link.email, how="")
    case.text = link.message
    case.save(update_fields=["text", "updated_at"])
    link.used_at, link.case = timezone.now(), case
    link.save(update_fields=["used_at", "case"])
    case_reply(actor=None, case=case, template="received", automatic=True)
    return case


# -- the SOR-responsible person -------------------------------------------------------------------------

def _owner(owner) -> Unit:
    text = str(getattr(owner, "pk", owner) or "").strip()
    if not text:
        raise DomainError(_("Skriv institutionsejerens SOR-ID."))
    unit = Unit.objects.filter(pk=int(text)).select_related("owner").first() if ids.is_digits(text) else None
    if unit is None:
        raise DomainError(_("SOR-ID %(id)s findes ikke (et CVR-nummer eller ydernummer er ikke et SOR-ID).") % {"id": text})
    if unit.level != "IE":
        raise DomainError(_("%(name)s (%(id)s) er en %(level)s, ikke en institutionsejer; dens ejer er %(owner)s "
                            "(SOR-ID %(owner_id)s).") % {"name": unit.name, "id": unit.pk, "level": unit.get_level_display(),
                                                        "owner": unit.owner.name if unit.owner else "–",
                                                        "owner_id": unit.owner_id})
    return unit


def responsible_set(*, actor, owner, name: str | None = None, email: str | None = None, phone: str | None = None,
                    reason: str = "", origin: str = "admin", provenance: dict | None = None) -> SorResponsible:
    """Name (or change) the owner's SOR-responsible person. A value left out (None) keeps what is
    there; an empty phone clears it; the e-mail is required."""
    from registry.audit import audit_context
    from registry.permissions import check_unit_change, is_system

    owner = _owner(owner)
    if not is_system(actor):
        if not actor.has_perm("registry.change_sorresponsible"):
            from registry.errors import NotAllowed

            raise NotAllowed(_("Du kan ikke udpege SOR-ansvarlige."))
        check_unit_change(actor, owner, ["email"])  # the region rule of contact data
    with audit_context(actor=actor, reason=reason or _("SOR-ansvarlig udpeget"), origin=origin,
                       provenance=provenance):
        current = SorResponsible.objects.select_for_update().filter(owner=owner).first()
        def value(given, attr):
            return given.strip() if given is not None else (getattr(current, attr) if current else "")

        values = {"name": value(name, "name"), "email": value(email, "email"), "phone": value(phone, "phone")}
        refuse_control_characters(values)
        errors = {}
        if not values["email"]:
            errors["email"] = [_("Skriv den SOR-ansvarliges e-mail.")]
        errors.update({k: v for k, v in {"email": ids.check_email(values["email"])[0],
                                         "phone": ids.check_phone(values["phone"])[0]}.items() if v})
        if len(values["name"]) > 200:
            errors["name"] = [_("Højst 200 tegn.")]
        if errors:
            raise ValidationFailed(errors)
        if current is None:
            return SorResponsible.objects.create(owner=owner, named_at=timezone.now(), **values)
        if all(getattr(current, k) == v for k, v in values.items()):
            return current
        for key, value in values.items():
            setattr(current, key, value)
        current.save()
        return current
