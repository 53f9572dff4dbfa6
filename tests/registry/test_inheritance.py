"""Effective values at every level (sor-format.md §5), for one unit and for a whole owner tree."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.models import (
    LocationMode,
    LocationNumber,
    Unit,
)
from registry.selectors import owner_tree, unit_effective_values
from registry.services.location_numbers import location_number_assign, location_number_close
from registry.services.units import unit_create, unit_update
from tests.factories import CMD, location_codes


def _reload(tree):
    return {k: Unit.objects.get(pk=v.pk) for k, v in tree.items()}


@pytest.mark.django_db
def test_a_unit_without_own_values_inherits_everything_from_the_owner(make_tree):
    tree = make_tree()
    location_number_assign(unit=tree["ie"], gln="5790002401473", **location_codes(), **CMD)
    tree = _reload(tree)
    for key in ("si", "oe", "leaf"):
        values = unit_effective_values(tree[key])
        assert values["postal"].source == tree["ie"].sor_id and values["postal"].how == "inherited"
        assert values["postal"].value["street_name"] == "Østergade"
        assert values["visiting"].how == "postal"
        assert values["activity"].how == "visiting"
        assert values["virtual"].value["phone"] == "98765432" and values["virtual"].source == tree["ie"].sor_id
        assert values["location_number"].value.gln == "5790002401473"
        assert values["location_number"].how == "inherited"
    owner = unit_effective_values(tree["ie"])
    assert owner["postal"].how == "own" and owner["location_number"].how == "own"


@pytest.mark.django_db
def test_own_values_in_the_middle_of_the_tree_shadow_the_owner_for_everything_below(make_tree):
    tree = make_tree()
    unit_update(unit=tree["oe"], changes=dict(
        postal_present=True, postal_street_name="Algade", postal_building="3", postal_post_code="9000",
        postal_district_name="Aalborg", virtual_present=True, phone="99998888",
        visiting_present=True, visiting_street_name="Boulevarden", visiting_building="1",
        visiting_post_code="9000", visiting_district_name="Aalborg",
    ), **CMD)
    tree = _reload(tree)
    leaf = unit_effective_values(tree["leaf"])
    assert leaf["postal"].source == tree["oe"].sor_id and leaf["postal"].value["street_name"] == "Algade"
    # The leaf's visiting address is its OWN effective postal address (inherited from the OE),
    # not the OE's visiting address.
    assert leaf["visiting"].how == "postal" and leaf["visiting"].value["street_name"] == "Algade"
    assert leaf["virtual"].value["phone"] == "99998888"
    si = unit_effective_values(tree["si"])
    assert si["postal"].value["street_name"] == "Østergade"
    oe = unit_effective_values(tree["oe"])
    assert oe["visiting"].how == "own" and oe["activity"].value["street_name"] == "Boulevarden"


@pytest.mark.django_db
def test_location_number_none_stops_inheritance_and_a_closed_number_is_not_effective_after_its_date(make_tree):
    tree = make_tree()
    codes = location_codes()
    ie_ln = location_number_assign(unit=tree["ie"], gln="5790002401473", from_date=dt.date(2020, 1, 1), **codes, **CMD)
    unit_update(unit=tree["oe"], changes={"location_mode": LocationMode.NONE}, **CMD)
    location_number_assign(unit=tree["si"], gln="5790000173624", from_date=dt.date(2020, 1, 1), **codes, **CMD)
    tree = _reload(tree)
    assert unit_effective_values(tree["si"])["location_number"].value.gln == "5790000173624"
    assert unit_effective_values(tree["oe"])["location_number"].value is None
    assert unit_effective_values(tree["leaf"])["location_number"].value is None  # inherits "none"
    ie = Unit.objects.get(pk=tree["ie"].pk)
    assert unit_effective_values(ie, on=dt.date(2024, 6, 30))["location_number"].value.gln == "5790002401473"
    location_number_close(location_number=ie_ln, to_date=dt.date(2024, 6, 30), **CMD)
    ie = Unit.objects.get(pk=tree["ie"].pk)
    # After its ToDate the closed number is not the owner's number any more: it has none.
    after = unit_effective_values(ie, on=dt.date(2024, 7, 1))["location_number"]
    assert after.value is None and after.how == "none"


@pytest.mark.django_db
def test_the_current_location_number_is_the_one_valid_on_the_day_at_every_edge(make_tree):
    from registry.inheritance import location_number_in_file, location_number_on

    tree = make_tree()
    codes = location_codes()
    old = location_number_assign(unit=tree["si"], gln="5790002401473", from_date=dt.date(2020, 1, 1),
                                 **codes, **CMD)
    location_number_close(location_number=old, to_date=dt.date(2024, 6, 30), **CMD)
    location_number_assign(unit=tree["si"], gln="5790000173624", from_date=dt.date(2024, 7, 1), **codes, **CMD)
    lns = list(LocationNumber.objects.filter(unit_id=tree["si"].pk).order_by("from_date"))
    old, new = lns
    assert location_number_on(lns, dt.date(2019, 12, 31)) is None  # before the first one starts
    assert location_number_on(lns, dt.date(2020, 1, 1)) == old  # its FromDate
    assert location_number_on(lns, dt.date(2024, 6, 30)) == old  # its ToDate (inclusive)
    assert location_number_on(lns, dt.date(2024, 7, 1)) == new  # the day after: the successor
    assert location_number_on([old], dt.date(2024, 7, 1)) is None  # closed, no successor: none
    # Only the file keeps writing a closed number (with its dates), as SDS's own files do.
    assert location_number_in_file([old], dt.date(2024, 7, 1)) == old
    si = Unit.objects.get(pk=tree["si"].pk)
    leaf = Unit.objects.get(pk=tree["leaf"].pk)
    assert unit_effective_values(leaf, on=dt.date(2024, 6, 30))["location_number"].value == old
    assert unit_effective_values(leaf, on=dt.date(2024, 7, 1))["location_number"].value == new
    assert unit_effective_values(si, on=dt.date(2019, 6, 1))["location_number"].value is None


@pytest.mark.django_db
def test_a_location_number_starting_tomorrow_is_not_the_units_number_today(make_tree):
    from django.utils import timezone

    tree = make_tree()
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    location_number_assign(unit=tree["si"], gln="5790002401473", from_date=tomorrow, **location_codes(), **CMD)
    si = Unit.objects.get(pk=tree["si"].pk)
    assert unit_effective_values(si)["location_number"].value is None
    assert unit_effective_values(si, on=tomorrow)["location_number"].value.gln == "5790002401473"


@pytest.mark.django_db
def test_owner_tree_resolves_many_owners_in_a_bounded_number_of_queries(make_tree):
    trees = [make_tree(name=f"Ejer {i}") for i in range(6)]
    deeper = trees[0]["leaf"]
    for depth in range(4):
        deeper = unit_create(level="OE", parent=deeper, name=f"Niveau {depth}", **CMD)
    owner_ids = [t["ie"].sor_id for t in trees]
    with CaptureQueriesContext(connection) as queries:
        units, resolver = owner_tree(owner_ids, with_message_types=True)
        resolved = [resolver.all(u) for u in units]
    assert len(queries) <= 3
    assert len(units) == 6 * 4 + 4
    deepest = next(u for u in units if u.sor_id == deeper.sor_id)
    assert resolver.postal(deepest).source == trees[0]["ie"].sor_id
    assert all(r["virtual"].value for r in resolved)


@pytest.mark.django_db
def test_single_unit_resolution_is_two_queries_whatever_the_depth(make_tree):
    tree = make_tree()
    deeper = tree["leaf"]
    for depth in range(6):
        deeper = unit_create(level="OE", parent=deeper, name=f"Niveau {depth}", **CMD)
    with CaptureQueriesContext(connection) as queries:
        values = unit_effective_values(Unit.objects.get(pk=deeper.pk))
    assert len(queries) == 3  # the unit itself, its ancestors, location numbers
    assert values["postal"].source == tree["ie"].sor_id


@pytest.mark.django_db
def test_closing_a_units_own_number_leaves_it_with_none_never_silently_inheriting_the_parents(make_tree):
    from django.utils import timezone

    tree = make_tree()
    codes = location_codes()
    location_number_assign(unit=tree["ie"], gln="5790002401473", **codes, **CMD)
    own = location_number_assign(unit=tree["si"], gln="5790000173624", from_date=dt.date(2020, 1, 1), **codes, **CMD)
    today = timezone.localdate()
    location_number_close(location_number=own, to_date=today, **CMD)  # still valid today: still its own
    assert Unit.objects.get(pk=tree["si"].pk).location_mode == LocationMode.OWN
    location_number_close(location_number=own, to_date=today - dt.timedelta(days=1), **CMD)
    si, leaf = Unit.objects.get(pk=tree["si"].pk), Unit.objects.get(pk=tree["leaf"].pk)
    assert si.location_mode == LocationMode.NONE
    assert unit_effective_values(si)["location_number"].value is None  # not the owner's 5790002401473
    assert unit_effective_values(leaf)["location_number"].value is None


@pytest.mark.django_db
def test_choosing_inherited_says_where_messages_will_go_before_it_is_saved(make_tree):
    from registry.errors import ValidationFailed

    tree = make_tree()
    location_number_assign(unit=tree["ie"], gln="5790002401473", **location_codes(), **CMD)
    unit_update(unit=tree["oe"], changes={"location_mode": LocationMode.NONE}, **CMD)
    with pytest.raises(ValidationFailed) as warned:
        unit_update(unit=tree["oe"], changes={"location_mode": LocationMode.INHERITED}, **CMD)
    assert warned.value.only_warnings and "5790002401473" in warned.value.warnings["location_mode"][0]
    assert Unit.objects.get(pk=tree["oe"].pk).location_mode == LocationMode.NONE  # not saved
    unit_update(unit=tree["oe"], changes={"location_mode": LocationMode.INHERITED}, override_warnings=True, **CMD)
    leaf = Unit.objects.get(pk=tree["leaf"].pk)
    assert unit_effective_values(leaf)["location_number"].value.gln == "5790002401473"
