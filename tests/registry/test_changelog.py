"""The change log: one event per row touched, with old and new values, effective-value events for
units below a change, and sequence numbers that a reader can page through without missing any."""

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from registry import changelog
from registry.audit import audit_context
from registry.models import (
    ChangeEvent,
    EdiMessageType,
    LocationMode,
    LocationNumber,
    Operation,
    Region,
    Unit,
)
from registry.selectors import change_feed, changelog_position
from registry.services.codes import code_retire
from registry.services.location_numbers import (
    location_number_assign,
    location_number_close,
    location_number_set_message_types,
)
from registry.services.units import unit_close, unit_move, unit_update
from tests.factories import CMD, gln, location_codes, test_database_url

ROOT = Path(__file__).resolve().parents[2]


def _events(**filters):
    return list(ChangeEvent.objects.filter(**filters).order_by("seq"))


def _last_op_events():
    return _events(operation=Operation.objects.order_by("-id").first())


def _replay(model_label, object_id, *, up_to=None):
    """The row rebuilt from its events alone, checking that each event's old values are the
    state the previous events left."""
    model = {"registry.unit": Unit, "registry.locationnumber": LocationNumber}[model_label]
    state = {f.attname: changelog.empty_value(f) for f in changelog.tracked_fields(model)}
    qs = ChangeEvent.objects.filter(model=model_label, object_id=str(object_id)).exclude(kind="effective_changed")
    if up_to is not None:
        qs = qs.filter(seq__lte=up_to)
    for event in qs.order_by("seq"):
        for name, (old, new) in event.changes.items():
            assert state[name] == old or (old is None and state[name] in ("", False, [])), (event.seq, name)
            state[name] = new
    return state


def _current(obj):
    return changelog.values_of(obj, changelog.tracked_attnames(type(obj)))


def _normalised(values, model):
    empties = {f.attname: changelog.empty_value(f) for f in changelog.tracked_fields(model)}
    return {k: (empties[k] if v in (None, "", False, []) and empties[k] in (None, "", False) else v)
            for k, v in values.items()}


@pytest.mark.django_db
def test_a_changed_field_is_logged_with_its_old_and_new_value(make_tree, support):
    ie = make_tree()["ie"]
    unit_update(actor=support, reason="Nyt nummer", origin="admin", unit=ie.pk, changes={"phone": "11223344"})
    (event,) = [e for e in _last_op_events() if e.kind != "effective_changed"]
    assert (event.entity, event.kind, event.object_id, event.unit_id) == ("unit", "changed", str(ie.pk), ie.pk)
    assert event.changes["phone"] == ["98765432", "11223344"]
    assert set(event.changes) <= {"phone", "updated_at_date"}
    assert event.seq is not None and event.sequenced_at is not None


@pytest.mark.django_db
def test_closing_and_reopening_a_unit_are_logged_as_such(make_tree):
    leaf = make_tree()["leaf"]
    unit_close(**CMD, unit=leaf.pk, to_date=dt.date(2030, 6, 30))
    (closed,) = [e for e in _last_op_events() if e.object_id == str(leaf.pk)]
    assert closed.kind == "closed" and closed.changes["to_date"] == [None, "2030-06-30"]
    unit_update(**CMD, unit=leaf.pk, changes={"to_date": None})
    (reopened,) = _last_op_events()
    assert reopened.kind == "reopened" and reopened.changes["to_date"] == ["2030-06-30", None]


@pytest.mark.django_db
def test_a_location_number_is_logged_when_assigned_closed_and_given_message_types(make_tree):
    si = make_tree()["si"]
    ln = location_number_assign(**CMD, unit=si, gln=gln(7), **location_codes())
    kinds = {(e.entity, e.kind) for e in _last_op_events()}
    assert ("location_number", "location_number_assigned") in kinds
    assert ("unit", "changed") in kinds  # the SI's location_mode became "own"
    assigned = next(e for e in _last_op_events() if e.entity == "location_number")
    assert assigned.unit_id == si.pk and assigned.changes["gln"] == [None, gln(7)]
    mt = EdiMessageType.objects.order_by("pk").first()
    location_number_set_message_types(**CMD, location_number=ln, message_types=[mt])
    (link,) = _last_op_events()
    assert (link.entity, link.kind, link.unit_id) == ("message_type_link", "message_types_changed", si.pk)
    assert link.changes["message_type_id"] == [None, mt.pk]
    location_number_set_message_types(**CMD, location_number=ln, message_types=[])
    (unlink,) = _last_op_events()
    assert unlink.changes["message_type_id"] == [mt.pk, None]
    location_number_close(**CMD, location_number=ln, to_date=dt.date(2031, 1, 31))
    closed = next(e for e in _last_op_events() if e.entity == "location_number")
    assert closed.kind == "location_number_closed" and closed.changes["to_date"] == [None, "2031-01-31"]


@pytest.mark.django_db
def test_retiring_a_code_is_logged_as_code_retired():
    region = Region.objects.get(code="1085")
    code_retire(**CMD, obj=region)
    (event,) = _last_op_events()
    assert (event.entity, event.kind, event.model) == ("code", "code_retired", "registry.region")
    assert event.unit_id is None and event.changes == {"retired": [False, True]}


@pytest.mark.django_db
def test_units_below_a_new_location_number_get_their_own_routing_events(make_tree):
    tree = make_tree()
    location_number_assign(**CMD, unit=tree["si"], gln=gln(11), **location_codes())
    effective = {e.unit_id: e for e in _last_op_events() if e.kind == "effective_changed"}
    for key in ("oe", "leaf"):
        changes = effective[tree[key].pk].changes
        assert changes["location_number"] == [None, gln(11)]
        assert changes["location_number.source"] == [None, str(tree["si"].pk)]
    assert tree["ie"].pk not in effective  # above the change: nothing inherited changed
    seqs = [e.seq for e in _last_op_events()]
    assert len(set(seqs)) == len(seqs) and None not in seqs


@pytest.mark.django_db
def test_a_parent_address_change_reaches_only_the_units_that_inherit_it(make_tree):
    tree = make_tree()
    unit_update(**CMD, unit=tree["oe"].pk, changes={"postal_present": True, "postal_street_name": "Algade",
                                                     "postal_building": "3", "postal_post_code": "9000",
                                                     "postal_district_name": "Aalborg"})
    unit_update(**CMD, unit=tree["ie"].pk, changes={"postal_street_name": "Vestergade"})
    effective = {e.unit_id: e.changes for e in _last_op_events() if e.kind == "effective_changed"}
    assert set(effective) == {tree["si"].pk}  # the OE (and its leaf) have their own postal address now
    assert effective[tree["si"].pk]["postal.street_name"] == ["Østergade", "Vestergade"]
    assert effective[tree["si"].pk]["visiting.street_name"] == ["Østergade", "Vestergade"]


@pytest.mark.django_db
def test_moving_an_institution_logs_a_move_and_new_routing_for_every_unit_below(make_tree):
    first, second = make_tree(), make_tree(name="Lægehuset Vest", region_code="1081")
    location_number_assign(**CMD, unit=second["ie"], gln=gln(21), **location_codes())
    unit_update(**CMD, unit=second["si"].pk, changes={"location_mode": LocationMode.INHERITED})
    unit_move(**CMD, unit=first["si"].pk, new_parent=second["ie"].pk)
    events = _last_op_events()
    moved = {e.unit_id: e for e in events if e.kind == "moved"}
    assert moved[first["si"].pk].changes["parent_id"] == [first["ie"].pk, second["ie"].pk]
    assert moved[first["leaf"].pk].changes["owner_id"] == [first["ie"].pk, second["ie"].pk]
    effective = {e.unit_id: e.changes for e in events if e.kind == "effective_changed"}
    assert set(effective) == {first[k].pk for k in ("si", "oe", "leaf")}
    for changes in effective.values():
        assert changes["location_number"] == [None, gln(21)]
        assert "virtual.email" not in changes  # the same e-mail on both owners: only its source changed
        assert changes["virtual.source"] == [str(first["ie"].pk), str(second["ie"].pk)]


@pytest.mark.django_db
def test_every_unit_and_location_number_can_be_rebuilt_from_the_log(make_tree):
    tree = make_tree()
    ln = location_number_assign(**CMD, unit=tree["si"], gln=gln(31), **location_codes())
    position_after_assign = changelog_position()
    unit_update(**CMD, unit=tree["oe"].pk, changes={"name": "Nyt navn", "phone": "44444444", "virtual_present": True})
    location_number_close(**CMD, location_number=ln, to_date=dt.date(2032, 2, 29))
    unit_close(**CMD, unit=tree["oe"].pk, to_date=dt.date(2033, 1, 1), include_descendants=True)
    for unit in Unit.objects.filter(owner_id=tree["ie"].pk):
        assert _normalised(_replay("registry.unit", unit.pk), Unit) == _normalised(_current(unit), Unit)
    current_ln = LocationNumber.objects.get(pk=ln.pk)
    assert _replay("registry.locationnumber", ln.pk) == _current(current_ln)
    # A past state: the number as it stood right after it was assigned (still open then).
    assert _replay("registry.locationnumber", ln.pk, up_to=position_after_assign)["to_date"] is None
    oe_then = _replay("registry.unit", tree["oe"].pk, up_to=position_after_assign)
    assert oe_then["name"] == tree["oe"].name and oe_then["to_date"] is None


@pytest.mark.django_db
def test_sequence_numbers_are_contiguous_and_their_times_never_go_back(make_tree):
    start = changelog_position()
    tree = make_tree()
    for phone in ("11111111", "22222222", "33333333"):
        unit_update(**CMD, unit=tree["ie"].pk, changes={"phone": phone})
    events = change_feed(after=start, limit=10_000)
    assert [e.seq for e in events] == list(range(start + 1, start + 1 + len(events)))
    assert all(a.sequenced_at <= b.sequenced_at for a, b in zip(events, events[1:], strict=False))
    assert len(change_feed(after=start, limit=3)) == 3
    assert {e.unit_id for e in change_feed(after=start, unit_id=tree["ie"].pk)} == {tree["ie"].pk}


@pytest.mark.django_db
def test_events_of_an_open_transaction_have_no_sequence_number_until_the_operation_ends(make_tree):
    ie = make_tree()["ie"]
    with audit_context(**CMD) as ctx:
        unit_update(**CMD, unit=ie.pk, changes={"phone": "12121212"})
        pending = ChangeEvent.objects.get(operation_id=ctx.operation_id)
        assert pending.seq is None
        position = changelog_position()
    pending.refresh_from_db()
    assert pending.seq == position + 1  # numbered when the operation ended, after everything before it
    assert not ChangeEvent.objects.filter(operation_id=ctx.operation_id, seq__isnull=True).exists()


_WRITER = """
import os, random, sys, time, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sor_admin.settings")
django.setup()
from registry.audit import audit_context
from registry.services.units import unit_update
units = [int(x) for x in sys.argv[1].split(",")]
rnd = random.Random(int(sys.argv[3]))
for i in range(int(sys.argv[2])):
    with audit_context(actor=None, reason=f"skriver {sys.argv[3]} nr. {i}", origin="command"):
        for sor_id in units:
            unit_update(actor=None, reason="", origin="command", unit=sor_id,
                        changes={"name": f"Skriver {sys.argv[3]} {rnd.randrange(10**6)}"})
            time.sleep(rnd.random() * 0.03)
"""


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_reader_paging_during_concurrent_writers_sees_every_event_once(make_tree):
    """Four processes commit overlapping transactions (each sleeps between its writes, so the
    order they start in is not the order they commit in); a reader pages with after=N all the
    while. Every event must reach it exactly once, in sequence order, with no gap."""
    trees = [make_tree(name=f"Skriver {i}") for i in range(4)]
    start = changelog_position()
    env = {**os.environ, "DATABASE_URL": test_database_url(), "DJANGO_SETTINGS_MODULE": "sor_admin.settings"}
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER,
                          ",".join(str(t[k].pk) for k in ("ie", "si", "oe")), "12", str(i)],
                         cwd=ROOT, env=env, stderr=subprocess.PIPE)
        for i, t in enumerate(trees)
    ]
    seen, after, pages = [], start, 0
    deadline = time.monotonic() + 240
    while any(w.poll() is None for w in writers) and time.monotonic() < deadline:
        page = change_feed(after=after, limit=5)
        pages += 1
        if page:
            seen.extend(e.seq for e in page)
            after = page[-1].seq
        else:
            time.sleep(0.005)
    for w in writers:
        assert w.wait(timeout=60) == 0, w.stderr.read().decode()[-3000:]
    while page := change_feed(after=after, limit=50):
        seen.extend(e.seq for e in page)
        after = page[-1].seq
    everything = list(ChangeEvent.objects.filter(seq__gt=start).order_by("seq").values_list("seq", flat=True))
    assert len(everything) == 4 * 12 * 3  # one event per update, none lost
    assert seen == everything == list(range(start + 1, start + 1 + len(everything)))
    assert pages > 10  # the reader really read while the writers wrote
    assert not ChangeEvent.objects.filter(seq__isnull=True).exists()


@pytest.mark.django_db
def test_sor_changelog_prints_the_events_after_a_position_as_json_with_sor_ids_as_strings(make_tree, capsys):
    import json

    from django.core.management import call_command
    from django.core.management.base import CommandError

    start = changelog_position()
    ie = make_tree()["ie"]
    unit_update(**CMD, unit=ie.pk, changes={"name": "Nyt navn"})
    call_command("sor_changelog", after=start, limit=10000, unit=ie.pk, json=True)
    out = json.loads(capsys.readouterr().out)
    assert out["after"] == start and out["events"][-1]["seq"] == out["last"]
    assert [e["kind"] for e in out["events"]] == ["created", "changed"]
    assert out["events"][-1]["unit"] == str(ie.pk) and out["events"][-1]["changes"]["name"][1] == "Nyt navn"
    call_command("sor_changelog", after=out["last"], json=True)
    assert json.loads(capsys.readouterr().out)["events"] == []
    with pytest.raises(CommandError, match="--limit"):
        call_command("sor_changelog", limit=0)


@pytest.mark.django_db
def test_bulk_and_copy_created_rows_are_logged_exactly_as_a_single_save_logs_them(make_tree):
    from registry import identifiers as ids
    from registry.models import OwnerType
    from registry.services import bulk

    def owner(seq):
        sor_id = ids.sor_id_for_sequence(seq)
        return Unit(sor_id=sor_id, level="IE", owner_id=sor_id, name="Lægerne Østergade",
                    owner_type=OwnerType.objects.get(name_da="privat"), region=Region.objects.get(code="1081"),
                    postal_present=True, postal_street_name="Østergade", replaces=[], ancestors=[],
                    specialities=[{"code": "408443003", "type": "51000095001"}],
                    from_date=dt.date(2020, 1, 1), first_from_date=dt.date(2020, 1, 1), location_mode="none")

    start = changelog_position()
    with audit_context(**CMD):
        owner(800001).save(force_insert=True)  # the one-row path: signals
    with audit_context(**CMD):
        bulk.bulk_create(Unit, [owner(800002)])
    with audit_context(**CMD):
        bulk.copy_create(Unit, [owner(800003 + i) for i in range(changelog.COPY_THRESHOLD + 5)])

    def changes(seq):
        found = ChangeEvent.objects.get(model="registry.unit", object_id=str(ids.sor_id_for_sequence(seq)))
        assert found.kind == "created"
        return {k: v for k, v in found.changes.items() if k != "owner_id"}

    assert changes(800001) == changes(800002) == changes(800003)
    assert changes(800001)["replaces"] == [None, []]  # an empty collection is not "no collection"
    assert "cvr" not in changes(800001)  # empty values are left out
    seqs = list(ChangeEvent.objects.filter(seq__gt=start).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(start + 1, start + 1 + changelog.COPY_THRESHOLD + 7))


@pytest.mark.django_db
def test_a_bulk_update_of_location_numbers_logs_the_unit_they_belong_to(make_tree):
    from registry.services import bulk

    si = make_tree()["si"]
    ln = location_number_assign(**CMD, unit=si, gln=gln(41), **location_codes())
    obj = LocationNumber.objects.get(pk=ln.pk)
    obj.note = "rettet i import"
    with audit_context(**CMD):
        bulk.bulk_update(LocationNumber, [obj], ["note"])
    event = ChangeEvent.objects.filter(model="registry.locationnumber", kind="changed").latest("seq")
    assert event.unit_id == si.pk and event.changes == {"note": ["", "rettet i import"]}
    assert event in change_feed(after=event.seq - 1, unit_id=si.pk)


@pytest.mark.django_db
def test_a_child_operation_and_its_parent_log_an_inherited_change_once(make_tree):
    tree = make_tree()
    with audit_context(actor=None, reason="forælder", origin="command"):
        unit_update(**CMD, unit=tree["ie"].pk, changes={"email": "a@example.dk"})
        with audit_context(actor=None, reason="barn", origin="command", child=True) as child:
            unit_update(**CMD, unit=tree["ie"].pk, changes={"email": "b@example.dk"})
    leaf_events = list(ChangeEvent.objects.filter(unit_id=tree["leaf"].pk, kind="effective_changed").order_by("seq"))
    # Each change once, by the operation that made it, in the order it was made.
    assert [(e.changes["virtual.email"], e.operation_id) for e in leaf_events] == [
        (["klinik@example.dk", "a@example.dk"], Operation.objects.get(pk=child.operation_id).parent_id),
        (["a@example.dk", "b@example.dk"], child.operation_id)]


@pytest.mark.django_db
def test_a_save_with_update_fields_logs_only_what_it_wrote(make_tree):
    oe = Unit.objects.get(pk=make_tree()["oe"].pk)
    stale = Unit.objects.get(pk=oe.pk)
    unit_update(**CMD, unit=oe.pk, changes={"name": "Først"})
    stale.name = "Kun navnet"
    with audit_context(**CMD):
        stale.save(update_fields=["name"])
    (event,) = _last_op_events()
    assert event.changes == {"name": ["Først", "Kun navnet"]}
    assert _replay("registry.unit", oe.pk)["name"] == "Kun navnet"


@pytest.mark.django_db
def test_bulk_numbering_inside_a_rolled_back_savepoint_leaves_no_gap(make_tree):
    from registry import identifiers as ids
    from registry.services import bulk

    ie = make_tree()["ie"]
    start = changelog_position()

    def owners():
        return [Unit(sor_id=ids.sor_id_for_sequence(700000 + i), level="IE", owner_id=ids.sor_id_for_sequence(700000 + i),
                     name="Kopi", from_date=dt.date(2020, 1, 1), first_from_date=dt.date(2020, 1, 1))
                for i in range(changelog.COPY_THRESHOLD + 10)]

    with audit_context(**CMD):
        try:
            with audit_context(actor=None, reason="barn", origin="command", child=True):
                bulk.copy_create(Unit, owners())
                raise RuntimeError("afvist")
        except RuntimeError:
            pass
        unit_update(**CMD, unit=ie.pk, changes={"name": "Efter"})
    seqs = list(ChangeEvent.objects.filter(seq__gt=start).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(start + 1, start + 1 + len(seqs))) and len(seqs) == 1
