"""Change-sets over time (issue 13): conflicts between pending sets, cancellation, revert from
the stored inverses (every effective value back, a later change never overwritten) and the
withdrawal of a unit a set created."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from exports.models import ExportRun
from registry.changesets import engine
from registry.errors import DomainError
from registry.models import LocationMode, LocationNumber, Operation, Unit
from registry.roles import SOR_ADMIN
from registry.services.location_numbers import location_number_assign
from registry.services.units import allocate_sor_id, unit_update
from tests.factories import CMD, gln, location_codes

TODAY = timezone.localdate()
TOMORROW = TODAY + dt.timedelta(days=1)


def rows(text: str) -> list[dict]:
    return engine.parse_changes_csv("change;sor_id;target;field;value\n" + text)


@pytest.fixture
def second_admin(personas):
    user = get_user_model().objects.create_user("sor-admin-2", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=SOR_ADMIN))
    return user


def submitted(author, text, name="Sæt", **kwargs):
    cs = engine.changeset_create(actor=author, name=name, reason="test", rows=rows(text), **kwargs)
    return engine.changeset_submit(actor=author, changeset=cs)


def test_two_pending_sets_on_one_field_conflict_and_the_later_waits_until_one_is_cancelled(
        make_tree, sor_admin, second_admin):
    tree = make_tree()
    first = submitted(sor_admin, f"set;{tree['oe'].pk};;provider_number;011111\n", effective_date=TOMORROW)
    later = submitted(sor_admin, f"set;{tree['oe'].pk};;provider_number;022222\n"
                                 f"set;{tree['oe'].pk};;phone;33334444\n", effective_date=TOMORROW)
    # Both pages show it, each from its own side.
    [on_first] = engine.conflicts(first)
    [on_later] = engine.conflicts(later)
    assert (on_first["other"], on_first["unit"], on_first["field"], on_first["blocks"]) == (
        str(later.pk), str(tree["oe"].pk), "provider_number", False)
    assert (on_later["other"], on_later["blocks"]) == (str(first.pk), True)
    assert "ydernummer" in on_later["message"] and f"nr. {first.pk}" in on_later["message"]
    # The one submitted later cannot be approved; the first can.
    with pytest.raises(DomainError, match="konflikt"):
        engine.changeset_approve(actor=second_admin, changeset=later)
    assert engine.changeset_approve(actor=second_admin, changeset=first).status == "approved"
    with pytest.raises(DomainError, match="konflikt"):
        engine.changeset_approve(actor=second_admin, changeset=later)
    # Cancelling the first resolves it.
    engine.changeset_cancel(actor=sor_admin, changeset=first, note="dublet")
    assert engine.conflicts(later) == []
    assert engine.changeset_approve(actor=second_admin, changeset=later).status == "approved"


def test_sets_on_different_fields_of_one_unit_do_not_conflict_and_show_as_planned(make_tree, sor_admin):
    tree = make_tree()
    a = submitted(sor_admin, f"set;{tree['oe'].pk};;provider_number;011111\n", effective_date=TOMORROW)
    b = submitted(sor_admin, f"rename;{tree['oe'].pk};;;Nyt navn\n", effective_date=TOMORROW)
    assert engine.conflicts(a) == [] and engine.conflicts(b) == []
    pending = engine.pending_by_unit([tree["oe"].pk, tree["leaf"].pk])
    assert pending == {tree["oe"].pk: [a, b]}


def test_two_sets_moving_one_location_number_conflict(make_tree, sor_admin, second_admin):
    tree = make_tree()
    number = location_number_assign(unit=tree["oe"], gln=gln(7), **location_codes(), **CMD)
    a = submitted(sor_admin, f"move_location_number;{tree['oe'].pk};{tree['si'].pk};{number.gln};inherited\n",
                  effective_date=TOMORROW)
    b = submitted(sor_admin, f"close_location_number;{tree['oe'].pk};;{number.gln};\n", effective_date=TOMORROW)
    [conflict] = engine.conflicts(b)
    assert conflict["other"] == str(a.pk) and conflict["unit"] == f"ln:{number.gln}" and conflict["blocks"]


def _effective_of(tree_list):
    ids = [u.pk for tree in tree_list for u in tree.values()]
    return engine._effective(ids, TODAY)


def test_revert_brings_every_effective_value_back(make_tree, sor_admin, second_admin):
    private, region = make_tree(), make_tree(name="Region Hovedstaden", region_code="1084")
    number = location_number_assign(unit=private["oe"], gln=gln(8), **location_codes(), **CMD)
    before = _effective_of([private, region])
    cs = submitted(sor_admin,
                   f"move;{private['si'].pk};{region['ie'].pk};;\n"
                   f"move_location_number;{private['oe'].pk};{private['si'].pk};{number.gln};inherited\n"
                   f"set;{private['si'].pk};;phone;70707070\n"
                   f"rename;{private['leaf'].pk};;;Behandler 2\n"
                   f"close;{private['leaf'].pk};;;{TODAY.isoformat()}\n", name="Omorganisering")
    cs = engine.changeset_approve(actor=second_admin, changeset=cs)
    assert cs.status == "applied"
    changed = _effective_of([private, region])
    assert changed != before
    assert changed[private["leaf"].pk]["location_number"] == number.gln  # inherited from the institution now

    inverse = engine.changeset_revert(actor=sor_admin, changeset=cs)
    cs.refresh_from_db()
    assert cs.status == "reverted" and inverse.reverts == cs and inverse.status == "draft"
    assert engine.summary(cs)["inverse"] == str(inverse.pk)
    # Last change first: reopen, rename back, old phone, the number back, the unit back.
    assert [c.kind for c in inverse.changes.all()] == ["reopen", "rename", "set", "move_location_number", "move"]
    assert inverse.risk == "high"
    inverse = engine.changeset_submit(actor=sor_admin, changeset=inverse)
    inverse = engine.changeset_approve(actor=second_admin, changeset=inverse)
    assert inverse.status == "applied", inverse.status_reason
    assert _effective_of([private, region]) == before
    assert Unit.objects.get(pk=private["oe"].pk).location_mode == LocationMode.OWN
    assert [e.code for e in cs.events.all()][-2:] == ["registry.changeset.reverted", "registry.changeset.revert_applied"]


def test_revert_does_not_overwrite_a_later_change_and_names_it(make_tree, sor_admin, second_admin):
    tree = make_tree()
    cs = submitted(sor_admin, f"set;{tree['si'].pk};;phone;70707070\nrename;{tree['oe'].pk};;;Nyt navn\n")
    cs = engine.changeset_approve(actor=second_admin, changeset=cs)
    unit_update(unit=tree["si"].pk, changes={"phone": "12121212"}, override_warnings=True, **CMD)  # later
    inverse = engine.changeset_revert(actor=sor_admin, changeset=cs)
    assert [(c.kind, c.unit_id) for c in inverse.changes.all()] == [("rename", tree["oe"].pk)]
    [conflict] = engine.revert_conflicts(inverse)
    assert conflict["change"] == 1 and "telefon" in conflict["message"].lower() and "12121212" in conflict["message"]
    assert engine.summary(inverse)["revert_conflicts"] == [conflict]


def test_a_cancelled_revert_leaves_the_original_applied(make_tree, sor_admin, second_admin):
    tree = make_tree()
    cs = engine.changeset_approve(actor=second_admin, changeset=submitted(sor_admin, f"rename;{tree['oe'].pk};;;X\n"))
    inverse = engine.changeset_revert(actor=sor_admin, changeset=cs)
    with pytest.raises(DomainError):
        engine.changeset_revert(actor=sor_admin, changeset=cs)  # reverted already
    engine.changeset_cancel(actor=sor_admin, changeset=inverse)
    cs.refresh_from_db()
    assert cs.status == "applied" and cs.events.last().code == "registry.changeset.revert_dropped"


def test_reverting_a_created_unit_never_published_withdraws_it_and_its_sor_id_is_never_reused(
        make_tree, sor_admin, second_admin):
    tree = make_tree()
    cs = engine.changeset_approve(actor=second_admin, changeset=submitted(
        sor_admin, f"create;;{tree['si'].pk};;Ny afdeling\n"))
    created = Unit.objects.get(parent=tree["si"], name="Ny afdeling")
    location_number_assign(unit=created, gln=gln(9), **location_codes(), **CMD)
    assert cs.changes.get().inverse == [{"change": "withdraw", "sor_id": str(created.pk), "target": "",
                                         "field": "", "value": ""}]
    inverse = engine.changeset_revert(actor=sor_admin, changeset=cs)
    assert [c.kind for c in inverse.changes.all()] == ["withdraw"]
    inverse = engine.changeset_approve(actor=second_admin, changeset=engine.changeset_submit(actor=sor_admin,
                                                                                            changeset=inverse))
    assert inverse.status == "applied", inverse.status_reason
    assert not Unit.objects.filter(pk=created.pk).exists()
    assert not LocationNumber.objects.filter(gln=gln(9)).exists()
    # History keeps the unit and its removal, in the inverse's operation.
    last = Unit.history.filter(sor_id=created.pk).order_by("-history_id").first()
    assert last.history_type == "-" and last.operation_id == inverse.operation_id
    # The sequence may be set back (e.g. restored), the id still is not handed out again.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT setval('registry_sor_id_seq', %s, false)", [int(str(created.pk)[:-10])])
    assert allocate_sor_id() != created.pk


def test_reverting_a_created_unit_that_was_published_closes_it(make_tree, sor_admin, second_admin):
    tree = make_tree()
    cs = engine.changeset_approve(actor=second_admin, changeset=submitted(
        sor_admin, f"create;;{tree['si'].pk};;Ny afdeling\n"))
    created = Unit.objects.get(parent=tree["si"], name="Ny afdeling")
    now = timezone.now()
    ExportRun.objects.create(snapshot_date=TODAY, status="succeeded", started_at=now + dt.timedelta(seconds=1),
                             published_at=now + dt.timedelta(seconds=5))
    inverse = engine.changeset_revert(actor=sor_admin, changeset=cs)
    inverse = engine.changeset_approve(actor=second_admin, changeset=engine.changeset_submit(actor=sor_admin,
                                                                                            changeset=inverse))
    assert inverse.status == "applied", inverse.status_reason
    unit = Unit.objects.get(pk=created.pk)
    assert unit.to_date == TODAY  # closed, never removed: a published file held it
    assert Operation.objects.get(pk=inverse.operation_id).provenance["change_set"] == inverse.pk
