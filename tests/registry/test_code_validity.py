"""Code lists with validity: a retired code, or one outside its dates, cannot be chosen for new
data in any service or form; a unit keeps the code it has; an imported file's retired code is
kept and reported."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from registry.errors import ValidationFailed
from registry.models import EdiMessageType, EntityType, NetworkOperator, Unit
from registry.services.codes import code_retire, code_update
from registry.services.location_numbers import location_number_assign, location_number_set_message_types
from registry.services.units import unit_update
from registry.services.xml_import import import_sor_file
from tests.exports.xml_helpers import V1_SAMPLES
from tests.factories import CMD, gln, location_codes

pytestmark = pytest.mark.django_db


def _other_type(current_pk):
    return EntityType.objects.filter(retired=False).exclude(pk=current_pk).order_by("pk").first()


def test_a_retired_code_is_refused_for_new_data_naming_its_successor_and_a_unit_keeps_its_own(make_tree):
    si = make_tree()["si"]
    old, successor = _other_type(si.entity_type_id), EntityType.objects.filter(retired=False).order_by("-pk").first()
    code_retire(**CMD, obj=old, successor=successor)
    with pytest.raises(ValidationFailed) as refused:
        unit_update(**CMD, unit=si.pk, changes={"entity_type": old})
    assert "er udgået" in refused.value.errors["entity_type"][0] and str(successor) in refused.value.errors["entity_type"][0]
    assert Unit.objects.get(pk=si.pk).entity_type_id == si.entity_type_id
    # The unit's own type retires: it keeps it, and other edits still go through.
    code_retire(**CMD, obj=EntityType.objects.get(pk=si.entity_type_id))
    unit_update(**CMD, unit=si.pk, changes={"name": "Nyt navn"})
    assert Unit.objects.get(pk=si.pk).entity_type_id == si.entity_type_id


def test_a_code_outside_its_validity_dates_is_refused(make_tree):
    si = make_tree()["si"]
    later = _other_type(si.entity_type_id)
    code_update(**CMD, obj=later, changes={"valid_from": timezone.localdate() + dt.timedelta(days=1)})
    with pytest.raises(ValidationFailed):
        unit_update(**CMD, unit=si.pk, changes={"entity_type": later})
    code_update(**CMD, obj=later, changes={"valid_from": timezone.localdate()})  # the edge: valid from today
    unit_update(**CMD, unit=si.pk, changes={"entity_type": later})
    ended = _other_type(later.pk)
    code_update(**CMD, obj=ended, changes={"valid_to": timezone.localdate() - dt.timedelta(days=1)})
    with pytest.raises(ValidationFailed):
        unit_update(**CMD, unit=si.pk, changes={"entity_type": ended})


def test_location_numbers_refuse_retired_attribute_codes_and_message_types(make_tree):
    tree = make_tree()
    codes = location_codes()
    retired_operator = NetworkOperator.objects.exclude(pk=codes["network_operator"].pk).order_by("pk").first()
    code_retire(**CMD, obj=retired_operator)
    with pytest.raises(ValidationFailed) as refused:
        location_number_assign(**CMD, unit=tree["si"], gln=gln(9), **{**codes, "network_operator": retired_operator})
    assert "network_operator" in refused.value.errors
    ln = location_number_assign(**CMD, unit=tree["si"], gln=gln(9), **codes)
    mt = EdiMessageType.objects.order_by("pk").first()
    code_retire(**CMD, obj=mt)
    with pytest.raises(ValidationFailed) as refused:
        location_number_set_message_types(**CMD, location_number=ln, message_types=[mt])
    assert "message_types" in refused.value.errors


def test_the_unit_form_offers_usable_codes_and_the_one_the_unit_has(make_tree, sor_admin):
    si = make_tree()["si"]
    other = _other_type(si.entity_type_id)
    code_retire(**CMD, obj=other)
    code_retire(**CMD, obj=EntityType.objects.get(pk=si.entity_type_id))
    client = Client()
    client.force_login(sor_admin)
    form = client.get(f"/admin/registry/unit/{si.pk}/change/").context["adminform"].form
    offered = set(form.fields["entity_type"].queryset.values_list("pk", flat=True))
    assert si.entity_type_id in offered and other.pk not in offered


def test_an_imported_retired_code_is_kept_and_reported():
    praksis = next(p for p in V1_SAMPLES if p.name == "ONE_PRAKSIS.xml")
    first = import_sor_file(praksis, reason="første")
    unit = Unit.objects.filter(level="SI").first()
    code = EntityType.objects.get(pk=unit.entity_type_id)
    code_retire(**CMD, obj=code)
    second = import_sor_file(praksis, reason="igen")
    assert first.ok and second.ok
    assert second.retired_codes == {"enhedstype": [code.code]}
    assert "udgåede koder i filen" in second.summary()
    assert Unit.objects.get(pk=unit.pk).entity_type_id == code.pk
