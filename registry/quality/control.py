"""Data-quality control runs (issue 16, README "Data quality"): every active unit and location
number checked against the registration rules; each finding is a row that is the same finding
across runs while rule, unit and offending value are the same, and resolves itself when a later
run no longer sees it. Its own scheduled task, never a step of the nightly publication chain.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from registry import identifiers as ids
from registry.models import (
    Finding,
    Level,
    LocationMode,
    LocationNumber,
    Municipality,
    PostalDistrict,
    QualityRun,
    RunStatus,
    Severity,
    Unit,
)

E, W = Severity.ERROR, Severity.WARNING


@dataclass(frozen=True)
class Hit:
    rule: str
    severity: str
    unit_id: int
    value: str
    message: str

    @property
    def key(self) -> str:
        return f"{self.rule}:{self.unit_id}:{self.value}"[:600]


def _active(prefix: str = "") -> Q:
    today = timezone.localdate()
    return Q(**{f"{prefix}to_date__isnull": True}) | Q(**{f"{prefix}to_date__gte": today})


def _units():
    return Unit.objects.filter(_active())


# -- the rules: each yields Hits -------------------------------------------------------------------------

def identifiers() -> Iterator[Hit]:
    for pk in _units().values_list("sor_id", flat=True).iterator(chunk_size=10000):
        errors, _w = ids.check_sor_id(pk)
        if errors:
            yield Hit("identifier_sor_id", E, pk, str(pk), errors[0])
    for pk, value in _units().exclude(provider_number="").values_list("sor_id", "provider_number"):
        errors, warnings = ids.check_provider_number(value)
        if errors or warnings:
            yield Hit("identifier_provider_number", E if errors else W, pk, value, (errors or warnings)[0])
    for pk, value in _units().filter(level=Level.OWNER).exclude(cvr="").values_list("sor_id", "cvr"):
        errors, warnings = ids.check_cvr(value)
        if errors or warnings:
            yield Hit("identifier_cvr", E if errors else W, pk, value, (errors or warnings)[0])
    for pk, value in _units().exclude(shak="").values_list("sor_id", "shak"):
        errors, _w = ids.check_shak(value)
        if errors:
            yield Hit("identifier_shak", E, pk, value, errors[0])
    for unit_id, gln in LocationNumber.objects.filter(_active(), _active("unit__")).values_list("unit_id", "gln"):
        errors, _w = ids.check_gln(gln)
        if errors:
            yield Hit("identifier_gln", E, unit_id, gln, errors[0])


_DIGIT_FIELDS = ("provider_number", "cvr", "shak", "p_number", "pharmacy_number")


def non_ascii_digits() -> Iterator[Hit]:
    """Digits other than 0-9 (fullwidth, superscript …): they fail the XSD and every consumer's parser."""
    for row in _units().values_list("sor_id", *_DIGIT_FIELDS).iterator(chunk_size=10000):
        pk = row[0]
        for name, value in zip(_DIGIT_FIELDS, row[1:], strict=True):
            if value and any(ch.isdigit() and not ch.isascii() for ch in value):
                yield Hit("non_ascii_digits", E, pk, f"{name}={value}",
                          _("%(field)s %(v)r indeholder andre cifre end 0-9.") % {"field": name, "v": value})
    for unit_id, gln in LocationNumber.objects.filter(_active()).values_list("unit_id", "gln"):
        if any(ch.isdigit() and not ch.isascii() for ch in gln):
            yield Hit("non_ascii_digits", E, unit_id, f"gln={gln}", _("Lokationsnummer %(v)r indeholder andre cifre "
                                                                     "end 0-9.") % {"v": gln})


def required_data() -> Iterator[Hit]:
    owners = _units().filter(level=Level.OWNER)
    for pk in owners.filter(Q(postal_present=False) | Q(postal_street_name="") | Q(postal_post_code="")).values_list(
            "sor_id", flat=True):
        yield Hit("owner_postal_address", E, pk, "", _("Institutionsejeren har ingen postadresse (vej og postnummer)."))
    for pk in owners.filter(Q(virtual_present=False) | Q(phone="")).values_list("sor_id", flat=True):
        yield Hit("owner_phone", W, pk, "", _("Institutionsejeren har intet telefonnummer."))
    for pk, specialities in _units().exclude(specialities=None).values_list("sor_id", "specialities"):
        if len(specialities or []) > 8:
            yield Hit("too_many_specialities", E, pk, str(len(specialities)),
                      _("%(n)d kliniske specialer; SOR tillader højst 8.") % {"n": len(specialities)})
    hospitals = set(_units().filter(level=Level.INSTITUTION).exclude(shak="").values_list("sor_id", flat=True))
    if hospitals:
        hospital_units = _units().filter(level=Level.UNIT, ancestors__overlap=list(hospitals)).filter(
            Q(entity_type__isnull=True) | Q(ambulant_activity__isnull=True) | Q(patients_admitted__isnull=True)
            | Q(reporting_level__isnull=True))
        for pk in hospital_units.values_list("sor_id", flat=True):
            yield Hit("hospital_unit_fields", W, pk, "", _("En enhed på et sygehus skal have enhedstype og de tre "
                                                          "sygehusflag (ambulant, sengeafsnit, LPR-indberetning)."))


def location_numbers() -> Iterator[Hit]:
    active = LocationNumber.objects.filter(_active(), _active("unit__"))
    missing = active.filter(Q(system_supplier__isnull=True) | Q(system_type__isnull=True)
                            | Q(network_operator__isnull=True) | Q(region__isnull=True) | Q(edi_administrator__isnull=True))
    for unit_id, gln in missing.values_list("unit_id", "gln"):
        yield Hit("location_number_attributes", E, unit_id, gln,
                  _("Lokationsnummer %(g)s mangler systemleverandør, EDB-system, netoperatør, region eller "
                    "EDI-administrator.") % {"g": gln})
    for unit_id, gln in active.annotate(n=Count("message_types")).filter(n=0, non_active=False).values_list(
            "unit_id", "gln"):
        yield Hit("location_number_message_types", W, unit_id, gln,
                  _("Lokationsnummer %(g)s har ingen EDI-meddelelsestyper: ingen ved, hvad det kan modtage.") % {"g": gln})
    shared = active.values("gln").annotate(n=Count("unit", distinct=True)).filter(n__gt=1).values_list("gln", flat=True)
    for unit_id, gln in active.filter(gln__in=list(shared)).values_list("unit_id", "gln"):
        yield Hit("location_number_unique", E, unit_id, gln,
                  _("Lokationsnummer %(g)s er aktivt på mere end én enhed.") % {"g": gln})
    # Reachable: a unit set to have its own number must have one valid today, or messages to it go nowhere.
    today = timezone.localdate()
    with_number = set(LocationNumber.objects.filter(_active(), Q(from_date__isnull=True) | Q(from_date__lte=today))
                      .values_list("unit_id", flat=True))
    for pk in _units().filter(location_mode=LocationMode.OWN, first_from_date__lte=today).values_list("sor_id", flat=True):
        if pk not in with_number:
            yield Hit("location_number_unreachable", E, pk, "",
                      _("Enheden skal have sit eget lokationsnummer, men har intet gyldigt i dag: beskeder til den "
                        "kan ikke nå frem."))


def dates() -> Iterator[Hit]:
    today = timezone.localdate()
    closed_parent = _units().filter(parent__to_date__lt=today)
    for pk, parent in closed_parent.values_list("sor_id", "parent_id"):
        yield Hit("open_under_closed_parent", E, pk, str(parent), _("Enheden er åben, men dens overordnede (%(p)s) er "
                                                                   "lukket.") % {"p": parent})
    early = _units().exclude(parent=None).filter(first_from_date__lt=F("parent__first_from_date"))
    for pk, first, parent_first in early.values_list("sor_id", "first_from_date", "parent__first_from_date"):
        yield Hit("starts_before_parent", W, pk, first.isoformat(),
                  _("Enheden starter %(a)s, før dens overordnede (%(b)s).") % {"a": first.strftime("%d-%m-%Y"),
                                                                             "b": parent_first.strftime("%d-%m-%Y")})


def retired_codes() -> Iterator[Hit]:
    today = timezone.localdate()
    for field in ("entity_type", "owner_type", "region"):
        retired = Q(**{f"{field}__retired": True}) | Q(**{f"{field}__valid_to__lt": today})
        rows = _units().filter(retired).values_list("sor_id", f"{field}__code", f"{field}__successor__code")
        for pk, code, successor in rows:
            yield Hit("retired_code", W, pk, f"{field}={code}",
                      _("%(field)s %(code)s er udgået%(succ)s.") % {
                          "field": field, "code": code, "succ": _("; efterfølgeren er %(s)s") % {"s": successor}
                          if successor else ""})


def addresses() -> Iterator[Hit]:
    districts = dict(PostalDistrict.objects.values_list("code", "name_da"))
    municipalities = set(Municipality.objects.values_list("code", flat=True))
    for kind in ("postal", "visiting", "activity"):
        rows = _units().filter(**{f"{kind}_present": True}).values_list(
            "sor_id", f"{kind}_post_code", f"{kind}_district_name", f"{kind}_municipality_code", f"{kind}_country_code")
        for pk, post_code, district, municipality, country in rows.iterator(chunk_size=10000):
            if country not in ("", "DK"):
                continue
            if post_code and not (ids.is_digits(post_code) and len(post_code) == 4):
                yield Hit("post_code", E, pk, f"{kind}:{post_code}", _("Postnummer %(v)r er ikke 4 cifre.") % {"v": post_code})
            elif post_code and districts and post_code in districts and district and \
                    district.strip().lower() != (districts[post_code] or "").strip().lower():
                yield Hit("post_district", W, pk, f"{kind}:{post_code}:{district}",
                          _("Postnummer %(p)s hedder %(right)s, ikke %(wrong)s.") % {
                              "p": post_code, "right": districts[post_code], "wrong": district})
            if municipality and municipalities and municipality not in municipalities:
                yield Hit("municipality_code", E, pk, f"{kind}:{municipality}",
                          _("Kommunekode %(v)s findes ikke.") % {"v": municipality})


def wrong_field() -> Iterator[Hit]:
    """A CVR that is the unit's own phone or fax number (typed into the wrong field)."""
    for pk, cvr, phone, fax in _units().filter(level=Level.OWNER).exclude(cvr="").values_list(
            "sor_id", "cvr", "phone", "fax"):
        numbers = {ids.digits_only(p)[-8:] for p in (phone, fax) if p}
        if ids.digits_only(cvr)[-8:] in numbers:
            yield Hit("cvr_is_phone", E, pk, cvr, _("CVR-nummeret %(v)s er enhedens eget telefon-/faxnummer.") % {"v": cvr})


RULES = {
    "identifiers": identifiers, "non_ascii_digits": non_ascii_digits, "required_data": required_data,
    "location_numbers": location_numbers, "dates": dates, "retired_codes": retired_codes, "addresses": addresses,
    "wrong_field": wrong_field,
}
RULE_LABELS = {
    "identifier_sor_id": gettext_lazy("SOR-ID fejler sin kontrol"),
    "identifier_provider_number": gettext_lazy("ydernummer forkert formet"),
    "identifier_cvr": gettext_lazy("CVR-nummer fejler sin kontrol"),
    "identifier_shak": gettext_lazy("SHAK-kode forkert formet"),
    "identifier_gln": gettext_lazy("lokationsnummer fejler sin kontrol"),
    "non_ascii_digits": gettext_lazy("andre cifre end 0-9"),
    "owner_postal_address": gettext_lazy("ejer uden postadresse"),
    "owner_phone": gettext_lazy("ejer uden telefon"),
    "too_many_specialities": gettext_lazy("over 8 specialer"),
    "hospital_unit_fields": gettext_lazy("sygehusenhed uden type eller flag"),
    "location_number_attributes": gettext_lazy("lokationsnummer uden påkrævede oplysninger"),
    "location_number_message_types": gettext_lazy("lokationsnummer uden meddelelsestyper"),
    "location_number_unique": gettext_lazy("lokationsnummer på flere enheder"),
    "location_number_unreachable": gettext_lazy("eget lokationsnummer mangler"),
    "open_under_closed_parent": gettext_lazy("åben under lukket"),
    "starts_before_parent": gettext_lazy("starter før sin overordnede"),
    "retired_code": gettext_lazy("udgået kode i brug"),
    "post_code": gettext_lazy("postnummer ikke 4 cifre"),
    "post_district": gettext_lazy("postdistrikt passer ikke til postnummer"),
    "municipality_code": gettext_lazy("ukendt kommunekode"),
    "cvr_is_phone": gettext_lazy("CVR er et telefonnummer"),
}


def run(*, trigger: str = "on_demand") -> QualityRun:
    """One control run: findings upserted by key, those not seen again resolved; the run holds
    the open findings per rule after it."""
    record = QualityRun.objects.create(trigger=trigger)
    try:
        hits: dict[str, Hit] = {}
        for check in RULES.values():
            for hit in check():
                hits.setdefault(hit.key, hit)
        with transaction.atomic():
            _upsert(record, hits)
            counts = defaultdict(int)
            for rule in Finding.objects.filter(resolved_at__isnull=True).values_list("rule", flat=True):
                counts[rule] += 1
            record.counts, record.status, record.finished_at = dict(counts), RunStatus.DONE, timezone.now()
            record.save(update_fields=["counts", "status", "finished_at"])
    except Exception as exc:
        QualityRun.objects.filter(pk=record.pk).update(status=RunStatus.FAILED, finished_at=timezone.now(),
                                                       error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    return record


def _upsert(record: QualityRun, hits: dict[str, Hit]) -> None:
    now = timezone.now()
    existing = dict(Finding.objects.filter(key__in=list(hits)).values_list("key", "pk"))
    Finding.objects.bulk_create([
        Finding(key=key, rule=h.rule, severity=h.severity, unit_id=h.unit_id, value=h.value[:300], message=h.message,
                first_run=record, last_run=record) for key, h in hits.items() if key not in existing], batch_size=2000)
    Finding.objects.filter(key__in=list(existing)).update(last_run=record, resolved_at=None)
    Finding.objects.filter(resolved_at__isnull=True).exclude(key__in=list(hits)).update(resolved_at=now, last_run=record)


def open_findings():
    return Finding.objects.filter(resolved_at__isnull=True)


def finding_case(*, actor, finding) -> object:
    """A finding becomes a case (source data-quality finding) in one click; the finding links to it."""
    from registry.cases.services import case_create, may_work
    from registry.errors import DomainError, NotAllowed
    from registry.models import CaseSource

    finding = Finding.objects.select_related("unit").filter(pk=getattr(finding, "pk", finding)).first()
    if finding is None:
        raise DomainError(_("Fundet findes ikke."))
    if not may_work(actor):
        raise NotAllowed(_("Du kan ikke oprette sager."))
    if finding.case_id:
        return finding.case
    with transaction.atomic():
        case = case_create(actor=actor, subject=_("Datakvalitet: %(rule)s – %(unit)s") % {
            "rule": RULE_LABELS.get(finding.rule, finding.rule), "unit": finding.unit.name},
            text=_("%(message)s\n\nFra datakvalitetskontrollen: regel %(rule)s, fund nr. %(id)s, først set %(when)s.") % {
                "message": finding.message, "rule": RULE_LABELS.get(finding.rule, finding.rule), "id": finding.pk,
                "when": timezone.localtime(finding.first_seen_at).strftime("%d-%m-%Y")},
            source=CaseSource.DATA_QUALITY, units=[finding.unit])
        finding.case = case
        finding.save(update_fields=["case"])
    return case
