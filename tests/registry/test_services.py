"""Services: history with who/why/origin/batch, conflicts, closing, moving, roles and regions."""

import datetime as dt

import pytest
from stdnum import verhoeff

from registry import identifiers as ids
from registry.errors import ConflictError, DomainError, NotAllowed, ValidationFailed
from registry.models import EdiMessageType, LocationNumber, NetworkOperator, Region, Unit
from registry.services.codes import code_create, code_retire, code_update
from registry.services.location_numbers import (
    location_number_assign,
    location_number_close,
    location_number_set_message_types,
    location_number_update,
)
from registry.services.units import unit_close, unit_create, unit_move, unit_update

CMD = dict(actor=None, reason="test", origin="command")


def _latest(model_obj):
    return model_obj.history.order_by("-history_id").first()


@pytest.mark.django_db
def test_unit_create_allocates_a_valid_sor_id_and_records_history(make_tree, sor_admin):
    tree = make_tree()
    unit = unit_create(actor=sor_admin, reason="Ny afdeling", origin="admin", level="OE", parent=tree["si"],
                       name="Ny afdeling")
    # Namespace 1000016, partition 00, a Verhoeff check digit over the rest, and never an id in use before.
    text = str(unit.sor_id)
    assert text[-10:-1] == "100001600"
    assert verhoeff.is_valid(text) and ids.check_sor_id(text) == ([], [])
    assert unit.sor_id not in {u.sor_id for u in tree.values()}
    assert ids.sor_id_for_sequence(ids.sequence_of_sor_id(unit.sor_id)) == unit.sor_id
    row = _latest(unit)
    assert (row.history_type, row.history_user, row.history_change_reason, row.origin) == (
        "+", sor_admin, "Ny afdeling", "admin")
    assert unit.owner_id == tree["ie"].sor_id and unit.ancestors == [tree["ie"].sor_id, tree["si"].sor_id]
    assert unit.region_id == tree["ie"].region_id


@pytest.mark.django_db
def test_unit_update_without_changes_writes_no_history(make_tree):
    tree = make_tree()
    before = Unit.history.count()
    unit_update(unit=tree["oe"], changes={"name": tree["oe"].name}, **CMD)
    assert Unit.history.count() == before


@pytest.mark.django_db
def test_closing_a_unit_with_open_children_is_refused_unless_they_close_too(make_tree, sor_admin):
    tree = make_tree()
    with pytest.raises(ValidationFailed) as refused:
        unit_close(actor=sor_admin, reason="Lukker", unit=tree["si"], to_date=dt.date(2026, 12, 31))
    assert "underenheder er stadig åbne" in str(refused.value)
    assert Unit.objects.get(pk=tree["si"].pk).to_date is None
    closed = unit_close(actor=sor_admin, reason="Klinikken lukker", unit=tree["si"], to_date=dt.date(2026, 12, 31),
                        include_descendants=True)
    assert {u.sor_id for u in closed} == {tree[k].sor_id for k in ("si", "oe", "leaf")}
    batches = {_latest(Unit.objects.get(pk=u.sor_id)).operation_id for u in closed}
    assert len(batches) == 1
    assert all(_latest(Unit.objects.get(pk=u.sor_id)).history_change_reason == "Klinikken lukker" for u in closed)


@pytest.mark.django_db
def test_closing_closes_the_units_own_location_numbers_in_the_same_batch(make_tree):
    tree = make_tree()
    ln = location_number_assign(unit=tree["oe"], gln="5790002401473", strict=False, **CMD)
    unit_close(unit=tree["oe"], to_date=dt.date(2027, 1, 31), include_descendants=True, **CMD)
    ln.refresh_from_db()
    assert ln.to_date == dt.date(2027, 1, 31)
    assert _latest(ln).operation_id == _latest(Unit.objects.get(pk=tree["oe"].pk)).operation_id


@pytest.mark.django_db
def test_move_rewrites_ancestors_and_owner_of_the_whole_subtree(make_tree):
    a, b = make_tree(name="A"), make_tree(name="B")
    unit_move(unit=a["oe"], new_parent=b["si"], **CMD)
    leaf = Unit.objects.get(pk=a["leaf"].pk)
    assert leaf.owner_id == b["ie"].sor_id
    assert leaf.ancestors == [b["ie"].sor_id, b["si"].sor_id, a["oe"].sor_id]
    with pytest.raises(DomainError, match="under sig selv"):
        unit_move(unit=b["oe"], new_parent=b["leaf"], **CMD)
    with pytest.raises(DomainError, match="kan ikke ligge under"):
        unit_move(unit=b["si"], new_parent=a["si"], **CMD)


@pytest.mark.django_db
def test_second_save_from_a_stale_version_is_refused_and_the_first_change_stays(make_tree, support, sor_admin):
    tree = make_tree()
    seen = Unit.objects.get(pk=tree["ie"].pk).version
    unit_update(actor=support, reason="Ny telefon", origin="admin", unit=tree["ie"], changes={"phone": "11112222"},
                expected_version=seen)
    with pytest.raises(ConflictError) as conflict:
        unit_update(actor=sor_admin, reason="Anden telefon", origin="admin", unit=tree["ie"],
                    changes={"phone": "33334444"}, expected_version=seen)
    assert "support" in str(conflict.value) and "ikke gemt" in str(conflict.value)
    assert Unit.objects.get(pk=tree["ie"].pk).phone == "11112222"


@pytest.mark.django_db
def test_cvr_warning_can_be_overridden_with_a_reason(make_tree, sor_admin):
    tree = make_tree()
    with pytest.raises(ValidationFailed) as warned:
        unit_update(actor=sor_admin, reason="CVR", unit=tree["ie"], changes={"cvr": "35095749"})
    assert warned.value.only_warnings
    unit_update(actor=sor_admin, reason="CVR bekræftet i CVR-registret", unit=tree["ie"], changes={"cvr": "35095749"},
                override_warnings=True)
    assert _latest(Unit.objects.get(pk=tree["ie"].pk)).history_change_reason == "CVR bekræftet i CVR-registret"


@pytest.mark.django_db
def test_duplicate_ydernummer_under_another_owner_is_a_warning(make_tree, sor_admin):
    a = make_tree(name="A")
    b = make_tree(name="B")
    with pytest.raises(ValidationFailed) as warned:
        unit_update(actor=sor_admin, reason="yder", unit=b["leaf"], changes={"provider_number": a["oe"].provider_number})
    assert "findes allerede" in str(warned.value)


@pytest.mark.django_db
def test_support_desk_may_change_contact_data_but_not_register_data(make_tree, support):
    tree = make_tree()
    unit_update(actor=support, reason="Ny mail", unit=tree["ie"], changes={"email": "ny@example.dk"})
    with pytest.raises(NotAllowed, match="kontaktdata"):
        unit_update(actor=support, reason="Navn", unit=tree["ie"], changes={"name": "Nyt navn"})
    with pytest.raises(NotAllowed):
        unit_close(actor=support, reason="Luk", unit=tree["leaf"], to_date=dt.date(2027, 1, 1))
    with pytest.raises(NotAllowed):
        code_update(actor=support, reason="Navn", obj=NetworkOperator.objects.first(), changes={"name_da": "x"})


@pytest.mark.django_db
def test_regional_administrator_maintains_only_their_own_region(make_tree, regional):
    own = make_tree(region_code="1081", name="Nord")
    other = make_tree(region_code="1084", name="Hovedstaden")
    unit_update(actor=regional, reason="Navn", unit=own["oe"], changes={"name": "Nyt navn"})
    with pytest.raises(NotAllowed, match="ikke til din region"):
        unit_update(actor=regional, reason="Navn", unit=other["oe"], changes={"name": "Nyt navn"})
    with pytest.raises(NotAllowed):
        unit_create(actor=regional, reason="Ny", level="OE", parent=other["si"], name="Ny")
    with pytest.raises(NotAllowed):
        unit_update(actor=regional, reason="Flyt region", unit=own["oe"],
                    changes={"region": Region.objects.get(code="1084")})
    assert Unit.objects.get(pk=other["oe"].pk).name != "Nyt navn"


@pytest.mark.django_db
def test_guest_and_outsider_change_nothing(make_tree, guest, outsider):
    tree = make_tree()
    for user in (guest, outsider):
        with pytest.raises(NotAllowed):
            unit_update(actor=user, reason="x", unit=tree["ie"], changes={"phone": "12121212"})
        with pytest.raises(NotAllowed):
            unit_create(actor=user, reason="x", level="OE", parent=tree["si"], name="x")


@pytest.mark.django_db
def test_active_location_numbers_are_unique_and_the_clash_names_the_holder(make_tree):
    a, b = make_tree(name="A"), make_tree(name="B")
    location_number_assign(unit=a["ie"], gln="5790002401473", strict=False, **CMD)
    with pytest.raises(ValidationFailed) as clash:
        location_number_assign(unit=b["ie"], gln="5790002401473", strict=False, **CMD)
    assert "allerede aktivt på A" in str(clash.value)
    with pytest.raises(ValidationFailed, match="12 \\(mangler"):
        location_number_assign(unit=b["ie"], gln="579000240147", strict=False, **CMD)
    assert LocationNumber.objects.count() == 1


@pytest.mark.django_db
def test_location_number_services_leave_history(make_tree, sor_admin):
    tree = make_tree()
    ln = location_number_assign(actor=sor_admin, reason="Nyt nummer", unit=tree["si"], gln="5790000173624",
                                strict=False)
    location_number_update(actor=sor_admin, reason="Note", location_number=ln, changes={"note": "Testnote"})
    types = list(EdiMessageType.objects.filter(standard__in=["RPT01", "DIS01"]))
    location_number_set_message_types(actor=sor_admin, reason="Typer", location_number=ln, message_types=types)
    location_number_close(actor=sor_admin, reason="Lukket", location_number=ln, to_date=dt.date(2027, 1, 1))
    reasons = list(ln.history.order_by("history_id").values_list("history_change_reason", "origin"))
    assert reasons == [("Nyt nummer", "admin"), ("Note", "admin"), ("Lukket", "admin")]
    links = ln.message_type_links.model.history.filter(location_number_id=ln.pk)
    assert links.count() == 2 and {h.history_change_reason for h in links} == {"Typer"}
    unit = Unit.objects.get(pk=tree["si"].pk)
    assert unit.location_mode == "own" and _latest(unit).history_change_reason == "Nyt nummer"


@pytest.mark.django_db
def test_code_keeps_its_row_when_renamed_and_can_be_retired_to_a_successor(sor_admin):
    old = code_create(actor=sor_admin, reason="Ny leverandør", model=NetworkOperator, code="12341000035001",
                      name_da="Gammel")
    renamed = code_update(actor=sor_admin, reason="Nyt navn", obj=old, changes={"name_da": "Ny"})
    assert renamed.pk == old.pk and renamed.code == "12341000035001"
    successor = NetworkOperator.objects.get(code="41000035001")
    retired = code_retire(actor=sor_admin, reason="Fusion", obj=renamed, successor=successor)
    assert retired.retired and retired.successor == successor
    assert [h.history_change_reason for h in retired.history.order_by("history_id")] == [
        "Ny leverandør", "Nyt navn", "Fusion"]
    with pytest.raises(DomainError):
        code_update(actor=sor_admin, reason="Kode", obj=retired, changes={"code": "1"})


@pytest.mark.django_db
def test_new_units_get_18_digit_sor_ids_no_real_sds_file_uses(make_tree):
    unit = make_tree()["ie"]
    assert ids.sequence_of_sor_id(unit.sor_id) >= ids.FIRST_ALLOCATED_SEQUENCE
    assert len(str(unit.sor_id)) == 18 and not ids.check_sor_id(unit.sor_id)[0]


@pytest.mark.django_db
def test_the_demo_logins_include_a_second_sor_administrator():
    from registry.personas import ensure_personas
    from registry.roles import SOR_ADMIN

    users = ensure_personas()
    assert {g.name for g in users["sor-admin2"].groups.all()} == {SOR_ADMIN}
    assert users["sor-admin2"].check_password("sor-admin2") and users["sor-admin2"] != users["sor-admin"]
