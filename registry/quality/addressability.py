"""The addressability report (issue 16): for every active location number, whether a message to it
reaches the unit meant: its check digit, whether it is unique, the unit that owns it and the units
that inherit it, its EDI message types, and whether it is marked non-active or internal only.
One pass over the owner trees (`selectors.owner_tree`), so it is the same inheritance the file uses."""

from __future__ import annotations

from collections import Counter, defaultdict

import tablib
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from registry import identifiers as ids
from registry.models import LocationNumber, Region
from registry.selectors import owner_tree

HEADERS = ("lokationsnummer", "kontrolciffer", "unikt", "ejes af (SOR-ID)", "ejes af", "institutionsejer", "region",
           "arves af (antal)", "arves af (SOR-ID'er)", "EDI-meddelelsestyper", "ikke aktiv", "kun intern", "problem")


def report(*, region: str = "", problems_only: bool = False, chunk: int = 500) -> list[dict]:
    today = timezone.localdate()
    active_q = Q(to_date__isnull=True) | Q(to_date__gte=today)
    numbers = LocationNumber.objects.filter(active_q).filter(Q(unit__to_date__isnull=True) | Q(unit__to_date__gte=today))
    if region:
        numbers = numbers.filter(unit__region__code=region)
    counts = Counter(numbers.values_list("gln", flat=True))
    region_codes = dict(Region.objects.values_list("pk", "code"))
    owners = sorted(set(numbers.values_list("unit__owner_id", flat=True)))
    rows = []
    for start in range(0, len(owners), chunk):
        units, resolver = owner_tree(owners[start:start + chunk], with_message_types=True)
        by_id = {u.sor_id: u for u in units}
        inheritors: dict[int, list[int]] = defaultdict(list)
        own: dict[int, object] = {}
        for unit in units:
            if unit.to_date is not None and unit.to_date < today:
                continue
            resolved = resolver.location_number(unit)
            if resolved.value is None:
                continue
            if resolved.source == unit.sor_id:
                own[resolved.value.pk] = resolved.value
            else:
                inheritors[resolved.value.pk].append(unit.sor_id)
        for ln_list in resolver.location_numbers.values():
            for ln in ln_list:
                if (ln.to_date is not None and ln.to_date < today) or ln.unit_id not in by_id:
                    continue
                holder = by_id[ln.unit_id]
                if holder.to_date is not None and holder.to_date < today:
                    continue
                holder_region = region_codes.get(holder.region_id, "")
                if region and holder_region != region:
                    continue
                errors, _w = ids.check_gln(ln.gln)
                owner = by_id.get(holder.owner_id)
                problems = []
                if errors:
                    problems.append(errors[0])
                if counts[ln.gln] > 1:
                    problems.append(_("på %(n)d aktive enheder") % {"n": counts[ln.gln]})
                types = sorted(mt.code for mt in ln.message_types.all())
                if not types and not ln.non_active:
                    problems.append(_("ingen EDI-meddelelsestyper"))
                if holder.first_from_date and holder.first_from_date > today:
                    problems.append(_("ejes af en fremtidig enhed (fra %(d)s)") % {
                        "d": holder.first_from_date.strftime("%d-%m-%Y")})
                elif ln.pk not in own and not inheritors.get(ln.pk):
                    problems.append(_("ingen enhed bruger det i dag"))
                row = {"gln": ln.gln, "check": _("ja") if not errors else errors[0],
                       "unique": _("ja") if counts[ln.gln] == 1 else _("nej"), "holder": str(holder.sor_id),
                       "holder_name": holder.name, "owner": owner.name if owner else "",
                       "region": holder_region,
                       "inherited_by_count": len(inheritors.get(ln.pk, [])),
                       "inherited_by": " ".join(str(pk) for pk in inheritors.get(ln.pk, [])[:50]),
                       "message_types": " ".join(types), "non_active": _("ja") if ln.non_active else _("nej"),
                       "only_internal": _("ja") if ln.only_internal else _("nej"), "problem": "; ".join(problems)}
                if problems_only and not problems:
                    continue
                rows.append(row)
    return sorted(rows, key=lambda r: r["gln"])


def dataset(rows: list[dict]) -> tablib.Dataset:
    data = tablib.Dataset(headers=list(HEADERS))
    for r in rows:
        data.append([r["gln"], r["check"], r["unique"], r["holder"], r["holder_name"], r["owner"], r["region"],
                     r["inherited_by_count"], r["inherited_by"], r["message_types"], r["non_active"],
                     r["only_internal"], r["problem"]])
    return data

