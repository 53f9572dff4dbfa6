"""`make bench` section "quality": the duplicate run and the data-quality control run on the bench
register (target ≤ 60 s each, issue 16), and how many of the generator's planted duplicates each
rule found (target: all of them).

The planted ydernumre are read from the generating operation's provenance; a bench register made
before the generator recorded them is compared with the generator's planned counts instead."""

from __future__ import annotations

import time

TARGET_S = 60.0


def _planted(owners: int) -> tuple[dict | None, dict]:
    from registry.models import Operation

    op = Operation.objects.filter(reason__startswith="sor_generate", provenance__has_key="planted_numbers").first()
    planned = {"dup": max(2, owners // 2500), "legacy": max(1, owners // 5000)}
    return (op.provenance["planted_numbers"] if op else None), planned


def _active_owners(number: str) -> int:
    from django.db.models import Q
    from django.utils import timezone

    from registry.models import Unit

    today = timezone.localdate()
    return (Unit.objects.filter(provider_number=number).filter(Q(to_date__isnull=True) | Q(to_date__gte=today))
            .values("owner").distinct().count())


def run(args) -> int:
    from registry.models import DuplicateGroup
    from registry.quality import control, duplicates

    started = time.perf_counter()
    record = duplicates.run(trigger="bench")
    dup_s = time.perf_counter() - started
    print(f"[bench] duplicate run: {dup_s:.1f} s (target ≤ {TARGET_S:.0f} s: {'PASS' if dup_s <= TARGET_S else 'FAIL'}); "
          f"groups per rule: {record.counts}")
    planted, planned = _planted(args.owners)
    groups = DuplicateGroup.objects.filter(status="open")
    found_dup = {g.compared[str(g.unit_ids[0])]["provider_number"] for g in groups.filter(rule="same_provider_number")}
    found_legacy = {v["provider_number"] for g in groups.filter(rule="legacy_99") for v in g.compared.values()
                    if v["provider_number"].startswith("99")}
    if planted:
        # A planted duplicate whose unit the generator has since closed is no duplicate today.
        dup = {v for v in planted.get("dup", []) if _active_owners(v) >= 2}
        legacy = {v for v in planted.get("legacy", []) if _active_owners(v) >= 1}
        print(f"[bench] planted duplicates found: same_provider_number {len(dup & found_dup)} of {len(dup)} still "
              f"active ({len(planted.get('dup', []))} planted), legacy_99 {len(legacy & found_legacy)} of {len(legacy)} "
              f"still active ({len(planted.get('legacy', []))} planted) "
              f"({'PASS' if dup <= found_dup and legacy <= found_legacy else 'FAIL'})")
        extra = groups.filter(rule="similar_name_same_address")
        for g in extra[:5]:
            print(f"[bench] not planted, found by similar_name_same_address: {g.reason}")
    else:
        print(f"[bench] planted duplicates (planned counts; this register predates their record): "
              f"same_provider_number {len(found_dup)} found of {planned['dup']} planned, legacy_99 {len(found_legacy)} "
              f"of {planned['legacy']}")
    started = time.perf_counter()
    quality = control.run(trigger="bench")
    control_s = time.perf_counter() - started
    print(f"[bench] control run: {control_s:.1f} s (target ≤ {TARGET_S:.0f} s: "
          f"{'PASS' if control_s <= TARGET_S else 'FAIL'}); open findings per rule: {quality.counts}")
    return 0
