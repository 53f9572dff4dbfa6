"""Change-sets (registry.changesets): each change type through the engine, inheritance effects
three levels down, the preview, all-or-nothing validation, stale changes and the four-eyes rules."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from registry.changesets import engine
from registry.errors import DomainError, NotAllowed, ValidationFailed
from registry.models import (
    ChangeEvent,
    EdiMessageType,
    EntityType,
    LocationMode,
    LocationNumber,
    Operation,
    OperationKind,
    Region,
    Unit,
)
from registry.roles import SOR_ADMIN
from registry.selectors import unit_effective_values
from registry.services.codes import code_retire
from registry.services.location_numbers import location_number_assign
from tests.factories import CMD, gln, location_codes

TODAY = timezone.localdate()


def rows(text: str) -> list[dict]:
    return engine.parse_changes_csv("change;sor_id;target;field;value\n" + text)


@pytest.fixture
def second_admin(personas):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("sor-admin-2", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=SOR_ADMIN))
    return user


def applied(author, approver, text, **kwargs):
    """Create, submit, approve when needed (by `approver`) and apply a set; return it."""
    cs = engine.changeset_create(actor=author, name=kwargs.pop("name", "Test"), reason="test", rows=rows(text), **kwargs)
    cs = engine.changeset_submit(actor=author, changeset=cs)
    if cs.status == "submitted":
        cs = engine.changeset_approve(actor=approver, changeset=cs)
    if cs.status == "approved":  # a set dated today applies when it is approved; a later one waits
        cs = engine.changeset_apply(actor=author if cs.approval == "policy" else approver, changeset=cs)
    return cs


def test_set_of_a_postal_address_reaches_three_levels_down_and_is_one_operation(make_tree, sor_admin, second_admin):
    tree = make_tree()
    before_ops = Operation.objects.count()
    cs = applied(sor_admin, second_admin, f"set;{tree['ie'].pk};;postal_street_name;Vestergade\n")
    assert cs.status == "applied"
    for key in ("si", "oe", "leaf"):
        assert unit_effective_values(Unit.objects.get(pk=tree[key].pk))["postal"].value["street_name"] == "Vestergade"
    op = Operation.objects.get(pk=cs.operation_id)
    assert op.kind == OperationKind.CHANGE_SET and op.provenance["change_set"] == cs.pk
    assert Operation.objects.count() == before_ops + 1
    effective = ChangeEvent.objects.filter(operation=op, kind="effective_changed").values_list("unit_id", flat=True)
    assert set(effective) >= {tree["si"].pk, tree["oe"].pk, tree["leaf"].pk}
    owner = Unit.objects.get(pk=tree["ie"].pk)
    assert owner.from_date == cs.effective_date and owner.updated_at_date == TODAY
    assert [e.code for e in cs.events.all()] == ["registry.changeset.created", "registry.changeset.submitted",
                                                 "registry.changeset.approved", "registry.changeset.applied"]
    assert cs.changes.get().inverse == [{"change": "set", "sor_id": str(owner.pk), "field": "postal_street_name",
                                         "value": "Østergade", "target": ""}]


def test_preview_lists_every_descendant_whose_values_change_and_writes_nothing(make_tree, sor_admin):
    tree = make_tree()
    cs = engine.changeset_create(actor=sor_admin, name="Adresse", reason="test",
                                 rows=rows(f"set;{tree['si'].pk};;virtual_present;ja\n"
                                           f"set;{tree['si'].pk};;phone;11223344\n"))
    events = ChangeEvent.objects.count()
    result = engine.preview(cs)
    assert result["errors"] == []
    assert set(result["affected"]) == {str(tree[k].pk) for k in ("si", "oe", "leaf")}
    leaf = next(u for u in result["units"] if u["sor_id"] == str(tree["leaf"].pk))
    assert leaf["changes"]["virtual"]["after"]["phone"] == "11223344"
    assert leaf["changes"]["virtual"]["before"]["phone"] == "98765432"
    assert result["routing_changed"] == []
    # The v2 file writes each unit's own values (consumers inherit): only the SI's record changes.
    assert result["file_records"] == [str(tree["si"].pk)]
    assert ChangeEvent.objects.count() == events
    assert Unit.objects.get(pk=tree["si"].pk).phone == ""


def test_moving_an_institution_to_another_owner_moves_its_subtree_and_the_preview_says_so(make_tree, sor_admin,
                                                                                           second_admin):
    private, region = make_tree(), make_tree(name="Region Nordjylland")
    cs = engine.changeset_create(actor=sor_admin, name="Regionsklinik", reason="overtaget af regionen",
                                 rows=rows(f"move;{private['si'].pk};{region['ie'].pk};;\n"))
    result = engine.preview(cs)
    moved = {u["sor_id"]: u["changes"] for u in result["units"]}
    assert set(moved) == {str(private[k].pk) for k in ("si", "oe", "leaf")}
    assert moved[str(private["leaf"].pk)]["owner"] == {"before": str(private["ie"].pk), "after": str(region["ie"].pk)}
    cs = engine.changeset_submit(actor=sor_admin, changeset=cs)
    assert cs.status == "submitted" and cs.risk == "high"
    cs = engine.changeset_approve(actor=second_admin, changeset=cs)
    assert cs.status == "applied"  # dated today: applied when approved
    leaf = Unit.objects.get(pk=private["leaf"].pk)
    assert leaf.owner_id == region["ie"].pk and leaf.ancestors[0] == region["ie"].pk
    # Every record the move changed carries the set's effective date; one history row per unit.
    for key in ("si", "oe", "leaf"):
        moved_unit = Unit.objects.get(pk=private[key].pk)
        assert moved_unit.from_date == cs.effective_date
        assert moved_unit.history.filter(operation_id=cs.operation_id).count() == 1


def test_a_refused_change_applies_nothing_and_names_the_change_and_the_unit(make_tree, sor_admin, second_admin):
    tree = make_tree()
    cs = engine.changeset_create(actor=sor_admin, name="Forkert", reason="test", rows=rows(
        f"set;{tree['oe'].pk};;name;Nyt navn\n"
        f"move;{tree['si'].pk};{tree['leaf'].pk};;\n"))  # an SI under an OE: refused
    with pytest.raises(ValidationFailed) as refused:
        engine.changeset_submit(actor=sor_admin, changeset=cs)
    assert "Ændring 2" in str(refused.value) and str(tree["si"].pk) in str(refused.value)
    cs.refresh_from_db()
    assert cs.status == "draft"
    assert Unit.objects.get(pk=tree["oe"].pk).name != "Nyt navn"


def test_apply_of_a_set_the_register_no_longer_allows_fails_and_writes_nothing(make_tree, sor_admin, second_admin):
    from registry.services.units import unit_close

    tree, other = make_tree(), make_tree(name="Lægerne Vestergade")
    cs = engine.changeset_create(actor=sor_admin, name="Omdøb og flyt", reason="test", rows=rows(
        f"rename;{tree['leaf'].pk};;;Omdøbt\n"
        f"move;{tree['oe'].pk};{other['si'].pk};;\n"), effective_date=TODAY + dt.timedelta(days=1))
    engine.changeset_submit(actor=sor_admin, changeset=cs)
    assert engine.changeset_approve(actor=second_admin, changeset=cs).status == "approved"  # waits for its date
    # Meanwhile the receiving institution is closed: the move is refused when the set is applied.
    unit_close(unit=other["si"].pk, to_date=TODAY - dt.timedelta(days=1), include_descendants=True, **CMD)
    events = ChangeEvent.objects.count()
    with pytest.raises(DomainError, match="Ændring 2"):
        engine.changeset_apply(actor=second_admin, changeset=cs, day=TODAY + dt.timedelta(days=1))
    cs.refresh_from_db()
    assert cs.status == "failed" and "lukket" in cs.status_reason and str(tree["oe"].pk) in cs.status_reason
    assert Unit.objects.get(pk=tree["leaf"].pk).name != "Omdøbt"
    assert ChangeEvent.objects.count() == events
    assert cs.events.last().code == "registry.changeset.failed"


def test_a_unit_changed_after_the_change_was_drafted_makes_the_set_stale(make_tree, sor_admin, second_admin):
    from registry.services.units import unit_update

    tree = make_tree()
    cs = engine.changeset_create(actor=sor_admin, name="Telefon", reason="test",
                                 rows=rows(f"set;{tree['oe'].pk};;name;Nyt navn\n"))
    unit_update(unit=tree["oe"].pk, changes={"name": "Rettet imens"}, **CMD)
    with pytest.raises(ValidationFailed, match="ændret, siden ændringen blev lavet"):
        engine.changeset_submit(actor=sor_admin, changeset=cs)
    assert Unit.objects.get(pk=tree["oe"].pk).name == "Rettet imens"


def test_four_eyes_high_risk_needs_another_sor_admin_and_nobody_approves_their_own(make_tree, sor_admin, second_admin,
                                                                                  support):
    tree = make_tree()
    cs = engine.changeset_create(actor=sor_admin, name="CVR", reason="test",
                                 rows=rows(f"set;{tree['ie'].pk};;cvr;12345678\n"))
    cs = engine.changeset_submit(actor=sor_admin, changeset=cs)
    assert (cs.status, cs.risk) == ("submitted", "high")
    with pytest.raises(NotAllowed, match="dit eget"):
        engine.changeset_approve(actor=sor_admin, changeset=cs)
    with pytest.raises(NotAllowed):
        engine.changeset_approve(actor=support, changeset=cs)
    with pytest.raises(DomainError, match="godkendt"):
        engine.changeset_apply(actor=sor_admin, changeset=cs)
    assert list(engine.waiting_for(second_admin)) == [cs]
    assert list(engine.waiting_for(sor_admin)) == []
    cs = engine.changeset_approve(actor=second_admin, changeset=cs)
    assert (cs.approved_by, cs.approval) == (second_admin, "person")


def test_a_low_risk_set_the_author_may_make_is_approved_by_the_policy(make_tree, support):
    tree = make_tree()
    cs = engine.changeset_create(actor=support, name="Ny telefon", reason="mail fra klinikken",
                                 rows=rows(f"set;{tree['oe'].pk};;phone;44556677\n"))
    cs = engine.changeset_submit(actor=support, changeset=cs)
    assert (cs.status, cs.approval, cs.risk) == ("applied", "policy", "low")  # dated today: applied at once
    assert Unit.objects.get(pk=tree["oe"].pk).phone == "44556677"


def test_support_proposing_a_high_risk_change_waits_for_a_sor_admin(make_tree, support, sor_admin):
    tree = make_tree()
    cs = engine.changeset_create(actor=support, name="Ydernummer", reason="mail",
                                 rows=rows(f"set;{tree['oe'].pk};;provider_number;019999\n"))
    cs = engine.changeset_submit(actor=support, changeset=cs)
    assert cs.status == "submitted"
    assert list(engine.waiting_for(sor_admin)) == [cs]
    cs = engine.changeset_approve(actor=sor_admin, changeset=cs)
    assert cs.status == "applied"  # dated today: applied when approved
    assert Unit.objects.get(pk=tree["oe"].pk).provider_number == "019999"


def test_a_past_effective_date_is_for_sor_admins_and_the_preview_warns_about_published_files(make_tree, support,
                                                                                            sor_admin):
    tree = make_tree()
    past = TODAY - dt.timedelta(days=30)
    with pytest.raises(NotAllowed, match="fortiden"):
        engine.changeset_create(actor=support, name="Rettelse", reason="x", effective_date=past,
                                rows=rows(f"set;{tree['oe'].pk};;phone;44556677\n"))
    cs = engine.changeset_create(actor=sor_admin, name="Rettelse", reason="x", effective_date=past,
                                 rows=rows(f"set;{tree['oe'].pk};;phone;44556677\n"))
    result = engine.preview(cs)
    assert result["past_effective_date"] and "publiceret" in result["notes"][0]


def test_a_bad_row_creates_nothing_and_every_bad_row_is_reported(make_tree, sor_admin):
    from registry.models import ChangeSet

    tree = make_tree()
    with pytest.raises(engine.ChangeRowsInvalid) as bad:
        engine.changeset_create(actor=sor_admin, name="x", reason="y", rows=rows(
            f"set;{tree['oe'].pk};;phone;44556677\n"
            "set;999999999999;;phone;1\n"
            f"frobnicate;{tree['oe'].pk};;;\n"
            f"set;{tree['oe'].pk};;patients_admitted;måske\n"))
    assert [e["row"] for e in bad.value.errors] == [3, 4, 5]
    assert "999999999999" in bad.value.errors[0]["message"]
    assert "frobnicate" in bad.value.errors[1]["message"]
    assert "ja eller nej" in bad.value.errors[2]["message"]
    assert not ChangeSet.objects.exists()


def _message_type(code):
    from registry.audit import audit_context

    standard, version = code.split(":")
    with audit_context(**CMD):
        return EdiMessageType.objects.get_or_create(code=code, defaults={
            "standard": standard, "version_code": version, "name_da": "Indlæggelsesrapport"})[0]


def _numbered_tree(make_tree, name="Lægerne Østergade"):
    tree = make_tree(name=name)
    _message_type("XDIS16:XD1631C")
    types = list(EdiMessageType.objects.filter(code__in=["XDIS16:XD1631C", "XDIS01:XD0134L"]))
    ln = location_number_assign(unit=tree["ie"], gln=gln(len(name)), message_types=types, **location_codes(), **CMD)
    for key in ("si", "oe", "leaf"):
        from registry.services.units import unit_update

        unit_update(unit=tree[key].pk, changes={"location_mode": LocationMode.INHERITED}, override_warnings=True, **CMD)
    return tree, ln


def test_location_number_moved_from_owner_to_institution_is_inherited_below_and_routing_is_previewed(
        make_tree, sor_admin, second_admin):
    tree, ln = _numbered_tree(make_tree)
    cs = engine.changeset_create(actor=sor_admin, name="Lokationsnumre til institutionerne", reason="SDS 2019",
                                 rows=rows(f"move_location_number;{tree['ie'].pk};{tree['si'].pk};;none\n"))
    result = engine.preview(cs)
    # The owner loses its number; the units below still route to the same number, now held by the SI.
    assert result["routing_changed"] == [str(tree["ie"].pk)]
    changes = {u["sor_id"]: u["changes"] for u in result["units"]}
    assert changes[str(tree["leaf"].pk)]["location_number_source"] == {"before": str(tree["ie"].pk),
                                                                       "after": str(tree["si"].pk)}
    cs = engine.changeset_submit(actor=sor_admin, changeset=cs)
    cs = engine.changeset_approve(actor=second_admin, changeset=cs)
    assert cs.status == "applied"  # dated today: applied when approved
    ln.refresh_from_db()
    assert ln.unit_id == tree["si"].pk and ln.from_date == TODAY
    owner = Unit.objects.get(pk=tree["ie"].pk)
    assert owner.location_mode == LocationMode.NONE and owner.from_date == TODAY
    assert Unit.objects.get(pk=tree["si"].pk).from_date == TODAY
    leaf = unit_effective_values(Unit.objects.get(pk=tree["leaf"].pk))["location_number"]
    assert (leaf.value.gln, leaf.source) == (ln.gln, tree["si"].pk)


def test_message_type_moved_to_a_new_version_on_every_number_that_has_the_old(make_tree, sor_admin, second_admin):
    """SDS's change log: XDIS16 XD1631C → XD1633C from 4 June 2014."""
    _message_type("XDIS16:XD1633C")
    first, ln1 = _numbered_tree(make_tree, "Lægerne A")
    second, ln2 = _numbered_tree(make_tree, "Lægerne Bbbbb")
    cs = engine.changeset_create(actor=sor_admin, name="XDIS16 ny version", reason="MedCom",
                                 rows=rows("message_types;;replace;;XDIS16:XD1631C>XDIS16:XD1633C\n"))
    assert cs.changes.count() >= 2
    result = engine.preview(cs)
    for tree in (first, second):
        assert {str(tree[k].pk) for k in ("ie", "si", "oe", "leaf")} <= set(result["routing_changed"])
    cs = engine.changeset_submit(actor=sor_admin, changeset=cs)
    cs = engine.changeset_approve(actor=second_admin, changeset=cs)
    assert cs.status == "applied"  # dated today: applied when approved
    for ln in (ln1, ln2):
        codes = set(LocationNumber.objects.get(pk=ln.pk).message_types.values_list("code", flat=True))
        assert codes == {"XDIS16:XD1633C", "XDIS01:XD0134L"}


def test_pharmacy_branches_renamed_by_pattern_every_new_name_listed(make_tree, sor_admin, second_admin):
    branch = make_tree(name="Apotek X")["si"]
    from registry.services.units import unit_update

    unit_update(unit=branch.pk, changes={"name": "Hobro Apotek, filial af Mariager Apotek"}, **CMD)
    cs = engine.changeset_create(actor=sor_admin, name="Apoteksfilialer", reason="SDS", rows=rows(
        "rename;;;,? ?filial af .*$;\n"))
    descriptions = [c.description for c in cs.changes.all()]
    assert any("'Hobro Apotek'" in d for d in descriptions)
    cs = engine.changeset_submit(actor=sor_admin, changeset=cs)
    cs = engine.changeset_approve(actor=second_admin, changeset=cs)
    assert cs.status == "applied"  # dated today: applied when approved
    assert Unit.objects.get(pk=branch.pk).name == "Hobro Apotek"


def test_retired_unit_type_replaced_by_its_successor_everywhere(make_tree, sor_admin, second_admin):
    trees = [make_tree(name=f"Klinik {n}") for n in "AB"]
    old = EntityType.objects.get(code="394761003")
    new = EntityType.objects.exclude(pk=old.pk).filter(retired=False).order_by("code").first()
    code_retire(obj=old, successor=new, **CMD)
    cs = engine.changeset_create(actor=sor_admin, name="Udgået type", reason="SDS",
                                 rows=rows("replace_code;;394761003;entity_type;\n"))
    assert {c.unit_id for c in cs.changes.all()} >= {t["si"].pk for t in trees}
    cs = engine.changeset_submit(actor=sor_admin, changeset=cs)
    cs = engine.changeset_approve(actor=second_admin, changeset=cs)
    assert cs.status == "applied"  # dated today: applied when approved
    assert not Unit.objects.filter(entity_type=old, to_date__isnull=True).exists()
    assert Unit.objects.get(pk=trees[0]["si"].pk).entity_type == new


def test_municipal_units_retyped_by_selection(make_tree, sor_admin, second_admin):
    trees = [make_tree(name=f"Kommune {n}", region_code="1084") for n in "AB"]
    new = EntityType.objects.filter(retired=False).exclude(code="394761003").order_by("code").first()
    region = Region.objects.get(code="1084")
    cs = engine.changeset_create(actor=sor_admin, name="Kommunale enheder", reason="kategori", rows=rows(
        f"retype;;level=SI&region={region.code};;{new.code}\n"))
    assert {c.unit_id for c in cs.changes.all()} == {t["si"].pk for t in trees}
    cs = engine.changeset_submit(actor=sor_admin, changeset=cs)
    cs = engine.changeset_approve(actor=second_admin, changeset=cs)
    assert cs.status == "applied"  # dated today: applied when approved
    assert {Unit.objects.get(pk=t["si"].pk).entity_type_id for t in trees} == {new.pk}


def test_create_close_and_reopen_through_a_set(make_tree, sor_admin, second_admin):
    tree = make_tree()
    applied(sor_admin, second_admin, f"create;;{tree['oe'].pk};;Ny sengeafdeling\n")
    new = Unit.objects.get(name="Ny sengeafdeling")
    assert new.parent_id == tree["oe"].pk and new.from_date == TODAY
    applied(sor_admin, second_admin, f"close;{tree['si'].pk};subtree;;{TODAY.isoformat()}\n")
    assert Unit.objects.filter(pk__in=[tree["si"].pk, new.pk], to_date__isnull=False).count() == 2
    applied(sor_admin, second_admin, f"reopen;{tree['si'].pk};;;\n")
    assert Unit.objects.get(pk=new.pk).to_date is None


def test_cancel_and_reject(make_tree, sor_admin, second_admin):
    tree = make_tree()
    cs = engine.changeset_create(actor=sor_admin, name="x", reason="y", rows=rows(f"set;{tree['ie'].pk};;cvr;11111111\n"))
    engine.changeset_cancel(actor=sor_admin, changeset=cs, note="fejl")
    cs.refresh_from_db()
    assert cs.status == "cancelled" and cs.status_reason == "fejl"
    cs2 = engine.changeset_create(actor=sor_admin, name="x", reason="y", rows=rows(f"set;{tree['ie'].pk};;cvr;11111111\n"))
    engine.changeset_submit(actor=sor_admin, changeset=cs2)
    with pytest.raises(NotAllowed):
        engine.changeset_reject(actor=sor_admin, changeset=cs2)
    cs2 = engine.changeset_reject(actor=second_admin, changeset=cs2, note="ikke dokumenteret")
    assert cs2.status == "rejected"
    with pytest.raises(DomainError):
        engine.changeset_apply(actor=second_admin, changeset=cs2)


def test_a_high_risk_set_is_applied_by_a_sor_admin_and_a_refused_applier_does_not_fail_it(make_tree, support,
                                                                                          sor_admin):
    tree, other = make_tree(), make_tree(name="Lægerne Vestergade")
    tomorrow = TODAY + dt.timedelta(days=1)
    cs = engine.changeset_create(actor=support, name="Flyt", reason="mail", effective_date=tomorrow,
                                 rows=rows(f"move;{tree['oe'].pk};{other['si'].pk};;\n"))
    cs = engine.changeset_submit(actor=support, changeset=cs)
    engine.changeset_approve(actor=sor_admin, changeset=cs)
    with pytest.raises(NotAllowed, match="SOR-administrator"):
        engine.changeset_apply(actor=support, changeset=cs, day=tomorrow)
    cs.refresh_from_db()
    assert cs.status == "approved"
    engine.changeset_apply(actor=sor_admin, changeset=cs, day=tomorrow)
    assert Unit.objects.get(pk=tree["oe"].pk).parent_id == other["si"].pk


def test_assign_and_close_location_numbers_and_add_and_remove_message_types(make_tree, sor_admin, second_admin):
    tree = make_tree()
    codes = location_codes()
    spec = ",".join(f"{k}={v.code}" for k, v in codes.items())
    number = gln(4711)
    applied(sor_admin, second_admin, f"assign_location_number;{tree['si'].pk};;\"{spec}\";{number}\n")
    ln = LocationNumber.objects.get(gln=number)
    assert ln.unit_id == tree["si"].pk and ln.from_date == TODAY
    assert Unit.objects.get(pk=tree["si"].pk).location_mode == LocationMode.OWN
    _message_type("XDIS16:XD1631C")
    applied(sor_admin, second_admin, f"message_types;{tree['si'].pk};add;;XDIS16:XD1631C\n")
    assert list(ln.message_types.values_list("code", flat=True)) == ["XDIS16:XD1631C"]
    applied(sor_admin, second_admin, f"message_types;{tree['si'].pk};remove;{number};XDIS16:XD1631C\n")
    assert not ln.message_types.exists()
    # A number that started today cannot close yesterday (the default: the day before the effective date).
    cs = engine.changeset_create(actor=sor_admin, name="Luk", reason="x",
                                 rows=rows(f"close_location_number;{tree['si'].pk};;;\n"))
    with pytest.raises(ValidationFailed, match="før lokationsnummeret blev gældende"):
        engine.changeset_submit(actor=sor_admin, changeset=cs)
    applied(sor_admin, second_admin, f"close_location_number;{tree['si'].pk};;{number};{TODAY.isoformat()}\n")
    ln.refresh_from_db()
    assert ln.to_date == TODAY


def test_moving_a_number_with_inherited_leaves_the_holder_inheriting_from_its_parent(make_tree, sor_admin,
                                                                                   second_admin):
    tree = make_tree()
    number = gln(4712)
    location_number_assign(unit=tree["si"], gln=number, **location_codes(), **CMD)
    applied(sor_admin, second_admin, f"move_location_number;{tree['si'].pk};{tree['oe'].pk};;inherited\n")
    assert Unit.objects.get(pk=tree["si"].pk).location_mode == LocationMode.INHERITED
    # The leaf below the OE inherits the moved number from its new holder, three levels below the owner.
    from registry.services.units import unit_update

    unit_update(unit=tree["leaf"].pk, changes={"location_mode": LocationMode.INHERITED}, override_warnings=True, **CMD)
    leaf = unit_effective_values(Unit.objects.get(pk=tree["leaf"].pk))["location_number"]
    assert (leaf.value.gln, leaf.source) == (number, tree["oe"].pk)


def test_set_many_sets_one_field_on_every_unit_of_a_selection(make_tree, sor_admin, support):
    trees = [make_tree(name=f"Klinik {n}") for n in "AB"]
    selection = "level=OE&name=ydernummer"
    # The support desk may not change local codes itself: its low-risk set waits for a SOR-administrator.
    mine = engine.changeset_create(actor=support, name="Lokalkode", reason="region",
                                   rows=rows(f"set_many;;{selection};local_code;K42\n"))
    assert engine.changeset_submit(actor=support, changeset=mine).status == "submitted"
    cs = engine.changeset_create(actor=sor_admin, name="Lokalkode", reason="region",
                                 rows=rows(f"set_many;;{selection};local_code;K42\n"))
    assert {c.unit_id for c in cs.changes.all()} >= {t["oe"].pk for t in trees}
    # The support desk's set, submitted first, writes the same fields: cancelled, it no longer blocks.
    assert {c["other"] for c in engine.conflicts(cs)} == {str(mine.pk)}
    engine.changeset_cancel(actor=support, changeset=mine)
    cs = engine.changeset_submit(actor=sor_admin, changeset=cs)
    assert (cs.status, cs.approval, cs.risk) == ("applied", "policy", "low")
    assert {Unit.objects.get(pk=t["oe"].pk).local_code for t in trees} == {"K42"}
    assert Unit.objects.get(pk=trees[0]["leaf"].pk).local_code == ""


def test_a_closed_unit_cannot_be_moved(make_tree, sor_admin):
    from registry.services.units import unit_close

    tree, other = make_tree(), make_tree(name="Lægerne Vestergade")
    unit_close(unit=tree["leaf"].pk, to_date=TODAY - dt.timedelta(days=1), **CMD)
    cs = engine.changeset_create(actor=sor_admin, name="Flyt", reason="x",
                                 rows=rows(f"move;{tree['leaf'].pk};{other['si'].pk};;\n"))
    with pytest.raises(ValidationFailed, match="lukket og kan ikke flyttes"):
        engine.changeset_submit(actor=sor_admin, changeset=cs)


def test_bad_bytes_and_look_alike_digits_are_row_errors_not_tracebacks(make_tree, sor_admin):
    tree = make_tree()
    with pytest.raises(engine.ChangeRowsInvalid, match="NUL"):
        engine.parse_changes_csv(f"change;sor_id;target;field;value\nset;{tree['oe'].pk};;name;a\x00b\n".encode())
    with pytest.raises(engine.ChangeRowsInvalid) as bad:
        engine.changeset_create(actor=sor_admin, name="x", reason="y", rows=rows(
            "set;²;;phone;1\n"
            f"set;{tree['oe'].pk};;geo_parent_relation;²\n"
            f"set;{tree['oe'].pk};;geo_parent_relation;99999999\n"))
    messages = [e["message"] for e in bad.value.errors]
    assert "SOR-ID ² findes ikke" in messages[0]
    assert "helt tal" in messages[1] and "højst være 32767" in messages[2]


def test_a_change_after_a_number_moved_in_the_same_set_finds_the_number_where_it_is(make_tree, sor_admin,
                                                                                  second_admin):
    tree = make_tree()
    number = gln(4713)
    location_number_assign(unit=tree["si"], gln=number, message_types=[_message_type("XDIS16:XD1631C")],
                           **location_codes(), **CMD)
    applied(sor_admin, second_admin, f"move_location_number;{tree['si'].pk};{tree['oe'].pk};;none\n"
                                     f"message_types;{tree['si'].pk};remove;{number};XDIS16:XD1631C\n")
    ln = LocationNumber.objects.get(gln=number)
    assert ln.unit_id == tree["oe"].pk and not ln.message_types.exists()


def test_who_added_changes_to_a_set_may_not_approve_it(make_tree, sor_admin, second_admin):
    tree = make_tree()
    cs = engine.changeset_create(actor=sor_admin, name="Tom", reason="x")
    engine.changeset_add(actor=second_admin, changeset=cs, rows=rows(f"rename;{tree['oe'].pk};;;Andet navn\n"))
    engine.changeset_submit(actor=sor_admin, changeset=cs)
    with pytest.raises(NotAllowed, match="eget"):
        engine.changeset_approve(actor=second_admin, changeset=cs)


def test_a_change_of_a_closed_unit_is_refused_with_a_message_and_the_preview_lists_warnings(make_tree, sor_admin):
    from registry.services.units import unit_close

    tree = make_tree()
    unit_close(unit=tree["leaf"].pk, to_date=TODAY - dt.timedelta(days=10), **CMD)
    cs = engine.changeset_create(actor=sor_admin, name="x", reason="y",
                                 rows=rows(f"set;{tree['leaf'].pk};;name;Nyt\n"))
    result = engine.preview(cs)
    assert "Lukkedatoen ligger før" in result["errors"][0]["message"]
    cs = engine.changeset_create(actor=sor_admin, name="x", reason="y",
                                 rows=rows(f"set;{tree['oe'].pk};;phone;44556677\n"))
    warnings = engine.preview(cs)["warnings"]
    assert warnings and warnings[0]["unit"] == str(tree["oe"].pk) and "elektroniske adresser" in warnings[0]["message"]
