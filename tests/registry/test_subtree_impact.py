"""The one selector for "what changes below": effective values of a subtree before and after an
in-memory change of one unit, with nothing written."""

import pytest

from registry.models import ChangeEvent, Unit
from registry.selectors import subtree_effective_changes

pytestmark = pytest.mark.django_db


def test_taking_own_electronic_addresses_lists_the_unit_and_every_unit_below_that_inherits_them(make_tree):
    tree = make_tree()  # the owner has phone, e-mail; everything below inherits them
    si = tree["si"]
    before_events, before_rows = ChangeEvent.objects.count(), Unit.history.count()
    impact = subtree_effective_changes(si, {"virtual_present": True, "phone": "11223344", "email": "", "website": ""})
    by_unit = {(i["unit"].pk, i["block"]): i for i in impact}
    assert set(by_unit) == {(si.pk, "virtual"), (tree["oe"].pk, "virtual"), (tree["leaf"].pk, "virtual")}
    own = by_unit[(si.pk, "virtual")]
    assert own["before"]["email"] == "klinik@example.dk" and own["after"]["email"] == ""
    assert own["source_before"] == tree["ie"].pk and own["source_after"] == si.pk
    assert by_unit[(tree["leaf"].pk, "virtual")]["after"]["phone"] == "11223344"
    assert [i["unit"].pk for i in impact] == [si.pk, tree["oe"].pk, tree["leaf"].pk]  # the unit first, tree order
    # Nothing is written: no rows, no history, no events, and the unit is unchanged.
    assert (ChangeEvent.objects.count(), Unit.history.count()) == (before_events, before_rows)
    assert Unit.objects.get(pk=si.pk).virtual_present is False


def test_a_change_no_one_inherits_lists_only_the_unit(make_tree):
    tree = make_tree()
    impact = subtree_effective_changes(tree["leaf"], {"visiting_present": True, "visiting_street_name": "Nygade",
                                                      "visiting_post_code": "9700", "visiting_district_name": "Brønderslev"})
    assert {(i["unit"].pk, i["block"]) for i in impact} == {(tree["leaf"].pk, "visiting"), (tree["leaf"].pk, "activity")}


def test_an_unchanged_value_lists_nothing(make_tree):
    tree = make_tree()
    assert subtree_effective_changes(tree["oe"], {"phone": tree["oe"].phone}) == []


def test_units_closed_on_the_day_are_not_said_to_inherit_the_change(make_tree):
    import datetime as dt

    from registry.services.units import unit_close
    from tests.factories import CMD

    tree = make_tree()
    unit_close(unit=tree["leaf"], to_date=dt.date.today() - dt.timedelta(days=1), **CMD)
    impact = subtree_effective_changes(tree["si"], {"virtual_present": True, "phone": "11223344"})
    assert [i["unit"].pk for i in impact] == [tree["si"].pk, tree["oe"].pk]
