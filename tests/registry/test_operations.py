"""The recorded operation behind every write, and the guard that refuses a write outside one."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from registry.audit import AuditError, audit_context, operation_start
from registry.models import ChangeEvent, LocationNumberMessageType, Operation, OperationKind, Region, Unit
from registry.services import bulk
from registry.services.codes import code_update
from registry.services.units import unit_update
from tests.factories import CMD

pytestmark = pytest.mark.django_db


def _db_name(sor_id):
    """The name as the database holds it, read past any object in memory."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM registry_unit WHERE sor_id = %s", [sor_id])
        return cursor.fetchone()[0]


def test_a_save_outside_an_operation_leaves_the_row_unchanged(make_tree):
    oe = Unit.objects.get(pk=make_tree()["oe"].pk)
    history_before = oe.history.count()
    oe.name = "Uden om servicen"
    with pytest.raises(AuditError):
        oe.save()
    assert _db_name(oe.pk) != "Uden om servicen"
    assert oe.history.count() == history_before


def test_bulk_and_copy_writes_outside_an_operation_are_refused_before_writing(make_tree):
    oe = Unit.objects.get(pk=make_tree()["oe"].pk)
    oe.name = "Massevis"
    with pytest.raises(AuditError):
        bulk.bulk_update(Unit, [oe], ["name"])
    assert _db_name(oe.pk) != "Massevis"
    clone = Unit(sor_id=oe.pk + 10_000_000_000, level="IE", owner_id=oe.pk + 10_000_000_000, name="Kopi",
                 from_date=dt.date(2020, 1, 1), first_from_date=dt.date(2020, 1, 1))
    with pytest.raises(AuditError):
        bulk.copy_create(Unit, [clone])
    with pytest.raises(AuditError):
        bulk.bulk_create(Unit, [clone])
    assert not Unit.objects.filter(pk=clone.sor_id).exists()


def test_a_delete_outside_an_operation_is_refused(make_tree):
    from registry.models import EdiMessageType
    from registry.services.location_numbers import location_number_assign
    from tests.factories import gln, location_codes

    ln = location_number_assign(**CMD, unit=make_tree()["si"], gln=gln(1), message_types=[EdiMessageType.objects.first()],
                                **location_codes())
    link = LocationNumberMessageType.objects.get(location_number=ln)
    with CaptureQueriesContext(connection) as queries, pytest.raises(AuditError), transaction.atomic():
        link.delete()
    assert not [q for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("DELETE")]
    assert LocationNumberMessageType.objects.filter(pk=link.pk).exists()


def test_queryset_writes_and_many_to_many_changes_are_refused_outside_an_operation(make_tree):
    from registry.models import EdiMessageType, LocationNumber
    from registry.services.location_numbers import location_number_assign
    from tests.factories import gln, location_codes

    tree = make_tree()
    ln = location_number_assign(**CMD, unit=tree["si"], gln=gln(2), **location_codes())
    with pytest.raises(AuditError), transaction.atomic():
        Unit.objects.filter(pk=tree["oe"].pk).update(name="Uden om")
    assert _db_name(tree["oe"].pk) != "Uden om"
    with pytest.raises(AuditError), transaction.atomic():
        Unit.objects.bulk_update([Unit(sor_id=tree["oe"].pk, name="Uden om")], ["name"])
    with pytest.raises(AuditError), transaction.atomic():
        LocationNumber.objects.get(pk=ln.pk).message_types.add(EdiMessageType.objects.first())
    assert not LocationNumberMessageType.objects.filter(location_number=ln).exists()
    # The many-to-many manager writes no history even inside an operation: refused there too.
    with pytest.raises(AuditError), audit_context(**CMD):
        LocationNumber.objects.get(pk=ln.pk).message_types.add(EdiMessageType.objects.first())


def test_an_operation_cannot_be_written_to_after_it_ended(make_tree):
    ie = make_tree()["ie"]
    with audit_context(**CMD) as ctx:
        pass
    assert ctx.operation_id is None  # it wrote nothing and was removed; reading the id writes nothing
    with pytest.raises(AuditError, match="ended"):
        ctx.op.mark_written()
    with audit_context(**CMD) as ctx:
        unit_update(**CMD, unit=ie.pk, changes={"name": "Efter"})
    assert Operation.objects.filter(pk=ctx.operation_id).exists()


def test_every_history_row_of_a_service_call_points_to_its_operation(make_tree, support):
    ie = make_tree()["ie"]
    unit = unit_update(actor=support, reason="Klinikken ringede", origin="admin", unit=ie.pk,
                       changes={"phone": "11223344", "email": "ny@example.dk"})
    record = unit.history.order_by("-history_id").first()
    op = Operation.objects.get(pk=record.operation_id)
    assert (op.kind, op.origin, op.actor, op.reason) == (OperationKind.ADMIN_EDIT, "admin", support, "Klinikken ringede")
    assert op.finished_at is not None and op.finished_at >= op.started_at
    own = ChangeEvent.objects.filter(operation=op).exclude(kind="effective_changed")
    assert list(own.values_list("kind", "object_id")) == [("changed", str(ie.pk))]


def test_an_operation_that_changes_nothing_is_not_recorded(make_tree):
    ie = make_tree()["ie"]
    before = Operation.objects.count()
    unit_update(**CMD, unit=ie.pk, changes={"phone": ie.phone})
    assert Operation.objects.count() == before


def test_a_failed_operation_leaves_no_operation_rows_or_events(make_tree):
    ie = make_tree()["ie"]
    ops, events = Operation.objects.count(), ChangeEvent.objects.count()
    with pytest.raises(RuntimeError), audit_context(**CMD):
        unit_update(**CMD, unit=ie.pk, changes={"phone": "11111111"})
        raise RuntimeError("stop")
    assert (Operation.objects.count(), ChangeEvent.objects.count()) == (ops, events)
    assert Unit.objects.get(pk=ie.pk).phone == "98765432"


def test_a_nested_context_joins_the_outer_operation_and_a_child_gets_its_own(make_tree):
    tree = make_tree()
    with audit_context(actor=None, reason="Omorganisering", origin="command") as outer:
        unit_update(actor=None, reason="trin 1", origin="admin", unit=tree["ie"].pk, changes={"name": "Nyt navn"})
        with audit_context(actor=None, reason="ændringssæt 7", origin="command", kind=OperationKind.CHANGE_SET,
                           child=True) as inner:
            unit_update(actor=None, reason="", origin="admin", unit=tree["si"].pk, changes={"name": "Ny klinik"})
    ie_row = Unit.objects.get(pk=tree["ie"].pk).history.order_by("-history_id").first()
    si_row = Unit.objects.get(pk=tree["si"].pk).history.order_by("-history_id").first()
    assert ie_row.operation_id == outer.operation_id
    assert ie_row.history_change_reason == "trin 1" and ie_row.origin == "command"  # the outer origin wins
    assert si_row.operation_id == inner.operation_id != outer.operation_id
    child = Operation.objects.get(pk=inner.operation_id)
    assert (child.parent_id, child.kind, child.reason) == (outer.operation_id, "change_set", "ændringssæt 7")


def test_an_operation_under_a_committed_parent_records_the_parent(make_tree):
    ie = make_tree()["ie"]
    run = operation_start(kind=OperationKind.TASK, origin="task", actor=None, reason="Natlig kørsel")
    with audit_context(actor=None, reason="ændringssæt 1", origin="task", parent=run) as ctx:
        unit_update(actor=None, reason="", origin="task", unit=ie.pk, changes={"phone": "33333333"})
    assert Operation.objects.get(pk=ctx.operation_id).parent == run
    assert list(run.children.all()) == [Operation.objects.get(pk=ctx.operation_id)]


def test_sor_load_codes_writes_one_history_row_and_one_event_per_changed_code():
    region = Region.objects.get(code="1081")
    original = region.name_da
    code_update(**CMD, obj=region, changes={"name_da": "Nordjylland (forkert)"})
    rows_before = region.history.count()
    call_command("sor_load_codes", reason="Kodelister genindlæst")
    region.refresh_from_db()
    assert region.name_da == original
    assert region.history.count() == rows_before + 1  # never two history rows for one write
    newest = region.history.order_by("-history_id").first()
    op = Operation.objects.get(pk=newest.operation_id)
    assert (op.kind, op.origin, op.reason) == ("command", "command", "Kodelister genindlæst")
    event = ChangeEvent.objects.get(operation=op)
    assert (event.entity, event.object_id, event.kind) == ("code", str(region.pk), "changed")
    assert event.changes == {"name_da": ["Nordjylland (forkert)", original]}
    ops = Operation.objects.count()
    call_command("sor_load_codes")
    assert Operation.objects.count() == ops  # nothing changed: no operation, no rows, no events


def test_the_code_lists_of_the_migration_are_one_operation_with_an_event_per_code():
    first = Region.history.order_by("history_id").first()
    op = Operation.objects.get(pk=first.operation_id)
    assert (op.kind, op.origin) == ("migration", "migration")
    events = ChangeEvent.objects.filter(operation=op)
    assert events.filter(model="registry.region").count() == Region.objects.count()
    assert not events.filter(seq__isnull=True).exists()
    region = events.get(model="registry.region", object_id=str(first.id))
    assert region.kind == "created" and region.changes["code"] == [None, first.code]


def test_a_refused_step_rolled_back_inside_an_operation_does_not_take_the_operation_with_it(make_tree):
    tree = make_tree()
    with audit_context(**CMD) as ctx:
        try:
            with transaction.atomic():  # a step that wrote, then was refused, and is handled
                unit_update(**CMD, unit=tree["si"].pk, changes={"name": "Forkert"})
                raise RuntimeError("afvist")
        except RuntimeError:
            pass
        unit_update(**CMD, unit=tree["oe"].pk, changes={"name": "Rigtigt"})
    connection.check_constraints()  # the deferred foreign keys hold: the operation row is there
    row = Unit.objects.get(pk=tree["oe"].pk).history.order_by("-history_id").first()
    assert row.operation_id == ctx.operation_id and Operation.objects.filter(pk=ctx.operation_id).exists()
    assert Unit.objects.get(pk=tree["si"].pk).name != "Forkert"
    assert list(ChangeEvent.objects.filter(operation_id=ctx.operation_id).values_list("object_id", flat=True)) == [
        str(tree["oe"].pk)]
