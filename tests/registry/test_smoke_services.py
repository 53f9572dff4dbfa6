import pytest

from registry.audit import AuditError
from registry.models import Unit
from registry.services.units import unit_update


@pytest.mark.django_db
def test_each_service_write_leaves_history_with_reason_origin_and_batch(make_tree, support):
    tree = make_tree()
    ie = Unit.objects.get(pk=tree["ie"].pk)
    unit_update(actor=support, reason="Klinikken ringede", origin="admin", unit=ie,
                changes={"phone": "11223344"}, expected_version=ie.version)
    latest = ie.history.order_by("-history_id").first()
    assert latest.phone == "11223344"
    assert latest.history_user == support
    assert latest.history_change_reason == "Klinikken ringede"
    assert latest.origin == "admin"
    assert latest.operation_id is not None


@pytest.mark.django_db
def test_save_outside_a_service_is_refused(make_tree):
    tree = make_tree()
    unit = Unit.objects.get(pk=tree["oe"].pk)
    unit.name = "Uden om servicen"
    with pytest.raises(AuditError):
        unit.save()
