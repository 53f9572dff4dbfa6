"""Duplicate detection: rules that name groups of active units that may be one actor, each with a
score (0–100) and a plain Danish reason (issue 16, README "Duplicates").

Rules:
- `same_provider_number`: one ydernummer active at units of different owners (2018: receivers of
  EDI messages could not tell which owner sent them);
- `legacy_99`: a "99"-prefixed ydernummer (SDS's old way of hiding a duplicate) and the active
  unit holding the plain number it shadows;
- `same_cvr`: one CVR on several active owners;
- `same_location_number`: one location number active on two units;
- `similar_name_same_address`: the same or a very similar name (trigram similarity of the
  normalised names by PostgreSQL's pg_trgm, `SOR_DUPLICATE_NAME_SIMILARITY`, 0.6) at the same
  address, at the same level and type.

A run (`run`) records its counts per rule and upserts the groups by key (rule + SOR-IDs): a new
group is open; one dismissed as "not a duplicate" stays dismissed unless a value the rule compared
has changed; a merged one stays merged; an open one no rule finds any more is "gone".
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from registry.errors import DomainError, NotAllowed, ValidationFailed
from registry.models import DuplicateGroup, DuplicateRun, GroupStatus, Level, LocationNumber, RunStatus, Unit


@dataclass
class Candidate:
    rule: str
    unit_ids: list[int]
    score: int
    reason: str
    compared: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.rule}:{'-'.join(str(pk) for pk in sorted(self.unit_ids))}"


def _active_q(prefix: str = "") -> Q:
    today = timezone.localdate()
    return Q(**{f"{prefix}to_date__isnull": True}) | Q(**{f"{prefix}to_date__gte": today})


def _names(ids) -> dict[int, str]:
    return dict(Unit.objects.filter(pk__in=list(ids)).values_list("sor_id", "name"))


def _list(ids, names) -> str:
    return ", ".join(f"{names.get(pk, '?')} ({pk})" for pk in sorted(ids))


# -- the rules ----------------------------------------------------------------------------------------

def same_provider_number() -> list[Candidate]:
    rows = (Unit.objects.filter(_active_q()).exclude(provider_number="").values("provider_number")
            .annotate(owners=Count("owner", distinct=True)).filter(owners__gt=1).values_list("provider_number", flat=True))
    values = list(rows)
    by_value = defaultdict(list)
    for pk, value, owner in Unit.objects.filter(_active_q(), provider_number__in=values).values_list(
            "sor_id", "provider_number", "owner_id"):
        by_value[value].append((pk, owner))
    names = _names(pk for units in by_value.values() for pk, _o in units)
    out = []
    for value, units in sorted(by_value.items()):
        ids = [pk for pk, _o in units]
        owners = sorted({o for _pk, o in units})
        out.append(Candidate("same_provider_number", ids, 90,
                             _("Ydernummer %(v)s er aktivt hos %(n)d forskellige ejere: %(units)s. Modtagere af "
                               "EDI-beskeder kan ikke se, hvilken ejer der sender.")
                             % {"v": value, "n": len(owners), "units": _list(ids, names)},
                             {str(pk): {"provider_number": value, "owner": str(o)} for pk, o in units}))
    return out


def legacy_99() -> list[Candidate]:
    legacy = list(Unit.objects.filter(_active_q(), provider_number__regex=r"^99[0-9]{6}$")
                  .values_list("sor_id", "provider_number"))
    # The unit it shadows may be closed by now: the 99-number still only hid it and is cleaned up.
    plain = defaultdict(list)
    for pk, value in Unit.objects.filter(provider_number__in=[v[2:] for _pk, v in legacy]).values_list(
            "sor_id", "provider_number"):
        plain[value].append(pk)
    names = _names([pk for pk, _v in legacy] + [pk for ids in plain.values() for pk in ids])
    out = []
    for pk, value in legacy:
        shadowed = plain.get(value[2:], [])
        if not shadowed:
            continue  # a 99-number with nothing to shadow is a data-quality finding, not a duplicate
        out.append(Candidate("legacy_99", [pk, *shadowed], 80,
                             _("%(unit)s har ydernummer %(v)s: det gamle skjul af en dublet af ydernummer %(plain)s, "
                               "som %(others)s har. Læg dem sammen, så forsvinder 99-nummeret.")
                             % {"unit": f"{names.get(pk, '?')} ({pk})", "v": value, "plain": value[2:],
                                "others": _list(shadowed, names)},
                             {str(pk): {"provider_number": value}, **{str(s): {"provider_number": value[2:]}
                                                                      for s in shadowed}}))
    return out


def same_cvr() -> list[Candidate]:
    owners = Unit.objects.filter(_active_q(), level=Level.OWNER).exclude(cvr="")
    values = list(owners.values("cvr").annotate(n=Count("sor_id")).filter(n__gt=1).values_list("cvr", flat=True))
    by_value = defaultdict(list)
    for pk, value in owners.filter(cvr__in=values).values_list("sor_id", "cvr"):
        by_value[value].append(pk)
    names = _names(pk for ids in by_value.values() for pk in ids)
    return [Candidate("same_cvr", ids, 60,
                      _("CVR-nummer %(v)s står på %(n)d aktive institutionsejere: %(units)s. Én virksomhed er som regel "
                        "én ejer.") % {"v": value, "n": len(ids), "units": _list(ids, names)},
                      {str(pk): {"cvr": value} for pk in ids})
            for value, ids in sorted(by_value.items())]


def same_location_number() -> list[Candidate]:
    active = LocationNumber.objects.filter(_active_q()).filter(_active_q("unit__"))
    values = list(active.values("gln").annotate(n=Count("unit", distinct=True)).filter(n__gt=1)
                  .values_list("gln", flat=True))
    by_value = defaultdict(set)
    for gln, unit in active.filter(gln__in=values).values_list("gln", "unit_id"):
        by_value[gln].add(unit)
    names = _names(pk for ids in by_value.values() for pk in ids)
    return [Candidate("same_location_number", sorted(ids), 100,
                      _("Lokationsnummer %(v)s er aktivt på %(n)d enheder: %(units)s. En besked til nummeret kan ikke "
                        "nå frem til den rette.") % {"v": value, "n": len(ids), "units": _list(ids, names)},
                      {str(pk): {"gln": value} for pk in sorted(ids)})
            for value, ids in sorted(by_value.items())]


_LEGAL_FORMS = re.compile(r"\b(aps|a/s|as|i/s|is|ivs|p/s|k/s|v/|v)\b")


def normalise_name(name: str) -> str:
    """Lower case; æ/ø/å as ae/oe/aa (and accents dropped); 'ApS', 'A/S', 'I/S', 'v/' and
    punctuation removed; spaces collapsed."""
    text = name.lower().replace("æ", "ae").replace("ø", "oe").replace("å", "aa")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = _LEGAL_FORMS.sub(" ", text)
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return " ".join(text.split())


def similarities(pairs: list[tuple[str, str]]) -> list[float]:
    """PostgreSQL pg_trgm's `similarity()` of each pair of (normalised) names, in one query."""
    if not pairs:
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT similarity(a, b) FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS t(a, b, n) "
                       "ORDER BY n", [[a for a, _b in pairs], [b for _a, b in pairs]])
        return [row[0] for row in cursor.fetchall()]


def _address_key(street, building, post_code) -> tuple | None:
    street = normalise_name(street or "")
    if not street or not post_code:
        return None
    return street, (building or "").strip().lower(), post_code.strip()


def similar_name_same_address() -> list[Candidate]:
    threshold = settings.SOR_DUPLICATE_NAME_SIMILARITY
    buckets = defaultdict(list)
    rows = Unit.objects.filter(_active_q(), postal_present=True).values_list(
        "sor_id", "name", "level", "entity_type_id", "owner_type_id", "owner_id", "postal_street_name",
        "postal_building", "postal_post_code")
    for pk, name, level, entity_type, owner_type, owner, street, building, post_code in rows.iterator(chunk_size=5000):
        address = _address_key(street, building, post_code)
        if address is None:
            continue
        kind = (level, owner_type if level == Level.OWNER else entity_type)
        buckets[(kind, address)].append((pk, name, owner))
    pairs = []
    for (_kind, address), units in buckets.items():
        if len(units) < 2 or len(units) > 200:  # a hospital's many wards at one address are not candidates
            continue
        normalised = [(pk, name, owner, normalise_name(name)) for pk, name, owner in units]
        for i, (pk_a, name_a, owner_a, norm_a) in enumerate(normalised):
            for pk_b, name_b, owner_b, norm_b in normalised[i + 1:]:
                if owner_a == owner_b and owner_a is not None and pk_a != owner_a and pk_b != owner_b:
                    continue  # two units of one owner at its address: its own structure, not a duplicate
                pairs.append((address, pk_a, name_a, norm_a, pk_b, name_b, norm_b))
    out = []
    for start in range(0, len(pairs), 5000):
        chunk = pairs[start:start + 5000]
        scores = similarities([(p[3], p[6]) for p in chunk])
        for (address, pk_a, name_a, _na, pk_b, name_b, _nb), score in zip(chunk, scores, strict=True):
            if score < threshold:
                continue
            ids = sorted([pk_a, pk_b])
            out.append(Candidate(
                "similar_name_same_address", ids, round(score * 100),
                _("%(a)s (%(ida)s) og %(b)s (%(idb)s) har %(similar)s navn og samme adresse (%(street)s %(building)s, "
                  "%(post)s) og samme type.")
                % {"a": name_a, "ida": pk_a, "b": name_b, "idb": pk_b,
                   "similar": _("samme") if score >= 0.999 else _("næsten samme (%(p)d %%)") % {"p": round(score * 100)},
                   "street": address[0], "building": address[1], "post": address[2]},
                {str(pk_a): {"name": name_a, "address": list(address)}, str(pk_b): {"name": name_b,
                                                                                  "address": list(address)}}))
    return out


RULES = {
    "same_provider_number": same_provider_number,
    "legacy_99": legacy_99,
    "same_cvr": same_cvr,
    "same_location_number": same_location_number,
    "similar_name_same_address": similar_name_same_address,
}
RULE_LABELS = {
    "same_provider_number": _("samme ydernummer hos flere ejere"),
    "legacy_99": _("99-ydernummer og den enhed, det skjuler"),
    "same_cvr": _("samme CVR på flere ejere"),
    "same_location_number": _("samme lokationsnummer på to enheder"),
    "similar_name_same_address": _("samme eller næsten samme navn på samme adresse"),
}


# -- a run ----------------------------------------------------------------------------------------------

def run(*, trigger: str = "on_demand", actor=None) -> DuplicateRun:
    """One duplicate run over the whole register; the run row says what it found per rule. A
    failure is recorded on the run (status failed) and raised."""
    record = DuplicateRun.objects.create(trigger=trigger, started_by=actor if getattr(actor, "pk", None) else None)
    try:
        candidates = []
        counts = {}
        for name, rule in RULES.items():
            found = rule()
            counts[name] = len(found)
            candidates += found
        with transaction.atomic():
            _upsert(record, candidates)
            record.counts, record.status, record.finished_at = counts, RunStatus.DONE, timezone.now()
            record.save(update_fields=["counts", "status", "finished_at"])
    except Exception as exc:
        DuplicateRun.objects.filter(pk=record.pk).update(status=RunStatus.FAILED, finished_at=timezone.now(),
                                                         error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    return record


def _upsert(record: DuplicateRun, candidates: list[Candidate]) -> None:
    existing = {g.key: g for g in DuplicateGroup.objects.select_for_update().filter(
        key__in=[c.key for c in candidates])}
    seen = set()
    for c in candidates:
        seen.add(c.key)
        group = existing.get(c.key)
        if group is None:
            DuplicateGroup.objects.create(rule=c.rule, key=c.key, unit_ids=sorted(c.unit_ids), score=c.score,
                                          reason=c.reason, compared=c.compared, first_run=record, last_run=record)
            continue
        if group.status == GroupStatus.DISMISSED and group.compared != c.compared:
            group.status = GroupStatus.OPEN  # a value the rule compared changed: look again
        elif group.status == GroupStatus.GONE:
            group.status = GroupStatus.OPEN
        group.score, group.reason, group.compared, group.last_run = c.score, c.reason, c.compared, record
        group.save(update_fields=["status", "score", "reason", "compared", "last_run"])
    DuplicateGroup.objects.filter(status=GroupStatus.OPEN).exclude(key__in=seen).update(status=GroupStatus.GONE,
                                                                                         last_run=record)


# Rules about owners: their groups may be merged as owners (the units follow their owner).
OWNER_LEVEL_RULES = {"same_provider_number"}


def pending_merge(group) -> object | None:
    """The group's merge set that is not finished (draft, submitted or approved), if any."""
    from registry.models import ChangeSet

    return ChangeSet.objects.filter(provenance__duplicate_group=getattr(group, "pk", group),
                                    status__in=["draft", "submitted", "approved"]).first()


def reopen(*, actor, group) -> DuplicateGroup:
    """Undo "ikke en dublet": the group is open again."""
    from registry.permissions import is_system

    if not is_system(actor) and not actor.has_perm("registry.change_duplicategroup"):
        raise NotAllowed(_("Du kan ikke genåbne mulige dubletter."))
    with transaction.atomic():
        group = DuplicateGroup.objects.select_for_update().get(pk=getattr(group, "pk", group))
        if group.status != GroupStatus.DISMISSED:
            raise DomainError(_("Gruppen er %(s)s, ikke afvist.") % {"s": group.get_status_display()})
        group.status, group.dismissed_reason, group.dismissed_by, group.dismissed_at = GroupStatus.OPEN, "", None, None
        group.save(update_fields=["status", "dismissed_reason", "dismissed_by", "dismissed_at"])
    return group


def merge_draft(*, actor, group, survivor, fields=(), numbers: str = "move", effective_date=None):
    """The merge of a group as a change-set draft (one `merge` row per other unit of the group,
    into `survivor`): previewed, approved by a second SOR-administrator and applied like any set;
    the group is "merged" when it is applied."""
    from registry.changesets import engine

    group = DuplicateGroup.objects.filter(pk=getattr(group, "pk", group)).first() \
        if str(getattr(group, "pk", group)).isdigit() else None
    if group is None:
        raise DomainError(_("Gruppen findes ikke."))
    if group.status != GroupStatus.OPEN:
        raise DomainError(_("Gruppen er %(s)s, ikke åben.") % {"s": group.get_status_display()})
    pending = pending_merge(group)
    if pending is not None:
        raise DomainError(_("Gruppen har allerede ændringssæt %(id)s (%(s)s); gør det færdigt eller annullér det først.")
                          % {"id": pending.pk, "s": pending.get_status_display()})
    text = str(getattr(survivor, "pk", survivor)).strip()
    survivor = int(text) if text.isdigit() else None
    units = {u.pk: u for u in Unit.objects.filter(pk__in=group.unit_ids)}
    # The survivor is a unit of the group or one of their owners/parents: two owners sharing a
    # ydernummer are merged as owners (their units follow), not only the two units.
    chains = {pk: [*(u.ancestors or []), pk] for pk, u in units.items()}
    if survivor is not None and survivor not in units and group.rule not in OWNER_LEVEL_RULES:
        raise ValidationFailed({"survivor": [_("Denne regel gælder enhederne selv: vælg en af dem (%(ids)s), ikke en ejer.")
                                             % {"ids": ", ".join(map(str, group.unit_ids))}]})
    if survivor is None or not any(survivor in chain for chain in chains.values()):
        raise ValidationFailed({"survivor": [_("SOR-ID %(id)s er hverken en enhed i gruppen (%(ids)s) eller en af "
                                               "deres overordnede.") % {"id": text, "ids": ", ".join(map(str, group.unit_ids))}]})
    if survivor in units:  # the other units of the group at its level
        others = sorted(pk for pk, u in units.items() if pk != survivor and u.level == units[survivor].level
                        and survivor not in chains[pk])
    else:  # an owner (or parent) of one: the others' ancestors at the same depth
        depth = next(chain.index(survivor) for chain in chains.values() if survivor in chain)
        others = sorted({chain[depth] for chain in chains.values() if len(chain) > depth and survivor not in chain})
    rows = [{"change": "merge", "sor_id": str(pk), "target": str(survivor), "field": ",".join(fields),
             "value": numbers} for pk in others]
    if not rows:
        raise ValidationFailed({"survivor": [_("Ingen anden enhed i gruppen er på samme niveau som %(id)s.")
                                             % {"id": survivor}]})
    return engine.changeset_create(
        actor=actor, name=(_("Sammenlægning af dubletter: %(names)s → %(survivor)s") % {
            "names": ", ".join(f"{n} ({pk})" for pk, n in Unit.objects.filter(pk__in=[int(r["sor_id"]) for r in rows])
                               .values_list("sor_id", "name")),
            "survivor": Unit.objects.filter(pk=survivor).values_list("name", flat=True).first()})[:200],
        reason=(_("Dubletgruppe %(id)s (%(rule)s): %(reason)s") % {"id": group.pk, "rule": group.rule,
                                                                  "reason": group.reason})[:2000],
        effective_date=effective_date, rows=rows, provenance={"duplicate_group": group.pk})


def merge_event(cs, code: str) -> None:
    """Called by the engine when a merge set is applied (or its revert is)."""
    status = GroupStatus.MERGED if code == "applied" and not cs.reverts_id else GroupStatus.OPEN
    DuplicateGroup.objects.filter(pk=cs.provenance["duplicate_group"]).update(status=status)


def open_groups():
    return DuplicateGroup.objects.filter(status=GroupStatus.OPEN)


def dismiss(*, actor, group, reason: str) -> DuplicateGroup:
    """"Not a duplicate", remembered with its reason: the group stays away until a value the rule
    compared changes."""
    from registry.permissions import is_system

    if not is_system(actor) and not actor.has_perm("registry.change_duplicategroup"):
        raise NotAllowed(_("Du kan ikke afvise mulige dubletter."))
    if not (reason or "").strip():
        raise ValidationFailed({"reason": [_("Skriv, hvorfor det ikke er en dublet.")]})
    with transaction.atomic():
        group = DuplicateGroup.objects.select_for_update().filter(pk=getattr(group, "pk", group)).first() \
            if str(getattr(group, "pk", group)).isdigit() else None
        if group is None:
            raise DomainError(_("Gruppen findes ikke."))
        if group.status != GroupStatus.OPEN:
            raise DomainError(_("Gruppen er %(s)s, ikke åben.") % {"s": group.get_status_display()})
        group.status, group.dismissed_reason = GroupStatus.DISMISSED, reason.strip()
        group.dismissed_by = actor if getattr(actor, "pk", None) else None
        group.dismissed_at = timezone.now()
        group.save(update_fields=["status", "dismissed_reason", "dismissed_by", "dismissed_at"])
    return group
