"""`make bench` section "changesets": the change-set engine on the national register.

- preview of moving a hospital with ≥ 500 units below it to another owner (target ≤ 2 s);
- a re-type of 2,000 units: creating the set from its CSV, and applying it (target ≤ 10 s).

The hospital (520 units below it) is created once in the bench database by the services; the
re-type takes 2,000 open units of the most used entity type each run and gives them another."""

from __future__ import annotations

import time

PREVIEW_TARGET_S = 2.0
APPLY_TARGET_S = 10.0
HOSPITAL = "Bench-hospital med 520 afsnit"


def _users():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from registry.roles import SOR_ADMIN, sync_roles

    sync_roles()
    users = []
    for name in ("bench-admin-1", "bench-admin-2"):
        user, _created = get_user_model().objects.get_or_create(username=name, defaults={"is_staff": True})
        user.groups.add(Group.objects.get(name=SOR_ADMIN))
        users.append(get_user_model().objects.get(pk=user.pk))  # fresh permission cache
    return users


def _hospital():
    from registry.audit import audit_context
    from registry.models import EntityType, Unit
    from registry.services.units import unit_create

    existing = Unit.objects.filter(name=HOSPITAL, level="SI").first()
    if existing is not None:
        return existing
    owner = Unit.objects.filter(level="IE", to_date__isnull=True).order_by("sor_id").first()
    kind = EntityType.objects.filter(retired=False).order_by("code").first()
    started = time.perf_counter()
    with audit_context(actor=None, reason="bench: a large hospital", origin="command"):
        si = unit_create(actor=None, reason="bench", origin="command", level="SI", parent=owner, name=HOSPITAL,
                         entity_type=kind, override_warnings=True, strict=False)
        for d in range(20):
            dept = unit_create(actor=None, reason="bench", origin="command", level="OE", parent=si,
                               name=f"Afdeling {d + 1}", override_warnings=True, strict=False)
            for s in range(25):
                unit_create(actor=None, reason="bench", origin="command", level="OE", parent=dept,
                            name=f"Afsnit {d + 1}.{s + 1}", override_warnings=True, strict=False)
    print(f"[bench] created {HOSPITAL} (520 units below it) in {time.perf_counter() - started:.1f} s")
    return si


def run(args) -> int:
    from django.db.models import Count

    from registry.changesets import engine
    from registry.models import EntityType, Unit

    author, approver = _users()
    hospital = _hospital()
    below = Unit.objects.filter(ancestors__contains=[hospital.sor_id]).count()
    other = Unit.objects.filter(level="IE", to_date__isnull=True).exclude(sor_id=hospital.owner_id).order_by("-sor_id").first()
    target = other.sor_id if hospital.owner_id != other.sor_id else hospital.owner_id
    cs = engine.changeset_create(actor=author, name="bench: flyt hospital", reason="bench", rows=engine.parse_changes_csv(
        f"change;sor_id;target;field;value\nmove;{hospital.sor_id};{target};;\n"))
    started = time.perf_counter()
    result = engine.preview(cs)
    seconds = time.perf_counter() - started
    print(f"[bench] preview: move a hospital with {below} units below it to another owner: {seconds:.2f} s "
          f"(target ≤ {PREVIEW_TARGET_S:.0f} s) {'PASS' if seconds <= PREVIEW_TARGET_S else 'FAIL'}; "
          f"{len(result['affected'])} units affected, {result['file_records_changed']} file records, "
          f"errors {result['errors']}")
    engine.changeset_cancel(actor=author, changeset=cs)

    used = (Unit.objects.filter(to_date__isnull=True, level="OE").values("entity_type_id")
            .order_by().annotate(n=Count("sor_id")).order_by("-n"))
    most = used[0]["entity_type_id"]
    new = EntityType.objects.filter(retired=False).exclude(pk=most).order_by("code").first()
    ids = list(Unit.objects.filter(to_date__isnull=True, level="OE", entity_type_id=most)
               .order_by("?").values_list("sor_id", flat=True)[:2000])
    text = "change;sor_id;target;field;value\n" + "".join(f"retype;{i};;;{new.code}\n" for i in ids)
    started = time.perf_counter()
    cs = engine.changeset_create(actor=author, name="bench: ny type", reason="bench",
                                 rows=engine.parse_changes_csv(text))
    create_s = time.perf_counter() - started
    started = time.perf_counter()
    cs = engine.changeset_submit(actor=author, changeset=cs)
    submit_s = time.perf_counter() - started
    engine.changeset_approve(actor=approver, changeset=cs)
    started = time.perf_counter()
    cs = engine.changeset_apply(actor=approver, changeset=cs)
    apply_s = time.perf_counter() - started
    print(f"[bench] re-type {len(ids):,} units: create {create_s:.1f} s, submit (validation) {submit_s:.1f} s, "
          f"apply {apply_s:.1f} s (target ≤ {APPLY_TARGET_S:.0f} s) {'PASS' if apply_s <= APPLY_TARGET_S else 'FAIL'}")
    return 0 if seconds <= PREVIEW_TARGET_S and apply_s <= APPLY_TARGET_S else 1
