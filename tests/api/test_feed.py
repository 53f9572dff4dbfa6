"""The change feed: its items, inheritance-derived and "took effect" events, and paging under
concurrent writers in other processes."""

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exports import activation
from registry.audit import audit_context
from registry.models import ChangeEvent, Operation, Region
from registry.selectors import changelog_position
from registry.services.location_numbers import location_number_close
from registry.services.units import unit_close, unit_create, unit_update
from tests.factories import CMD, gln, test_database_url
from tests.registry.test_changelog import _WRITER

from .conftest import get_json

ROOT = Path(__file__).resolve().parents[2]


def feed_after(api, after):
    return get_json(api, f"/api/v1/changes/?after={after}&limit=5000")


@pytest.mark.django_db
def test_an_event_names_the_unit_its_fields_old_and_new_the_operation_and_the_commit_time(api, tree):
    start = changelog_position()
    unit_update(**CMD, unit=tree["oe"].pk, changes={"name": "Lægehuset", "provider_number": "019063"})
    body = feed_after(api, start)
    own = [e for e in body["results"] if e["sor_id"] == str(tree["oe"].pk)]
    assert len(own) == 1
    event = own[0]
    assert event["kind"] == "changed" and event["sequence"] == start + 1
    assert event["fields"]["name"] == {"old": "Lægerne Østergade ydernummer", "new": "Lægehuset"}
    assert event["fields"]["provider_number"] == {"old": "019062", "new": "019063"}
    op = Operation.objects.get(events__seq=event["sequence"])
    assert event["operation_id"] == str(op.uuid)
    assert event["committed_at"].endswith("Z")
    assert dt.datetime.fromisoformat(event["committed_at"]) == ChangeEvent.objects.get(seq=event["sequence"]).sequenced_at
    assert body["last_sequence"] == body["results"][-1]["sequence"] and body["next"] is None
    empty = feed_after(api, body["last_sequence"])
    assert empty == {"results": [], "next": None, "last_sequence": body["last_sequence"]}


@pytest.mark.django_db
def test_a_full_page_links_to_the_next_and_pages_never_overlap(api, tree):
    start = changelog_position()
    for i in range(7):
        unit_update(**CMD, unit=tree["leaf"].pk, changes={"name": f"Behandler {i}"})
    first = get_json(api, f"/api/v1/changes/?after={start}&limit=4")
    second = get_json(api, first["next"])
    assert [e["sequence"] for e in first["results"]] == list(range(start + 1, start + 5))
    assert [e["sequence"] for e in second["results"]] == list(range(start + 5, start + 8))
    assert second["next"] is None


@pytest.mark.django_db
def test_units_below_get_an_event_when_an_inherited_value_changes_above_them(api, tree):
    start = changelog_position()
    unit_update(**CMD, unit=tree["ie"].pk, changes={"phone": "11223344"})
    events = feed_after(api, start)["results"]
    by_unit = {e["sor_id"]: e for e in events}
    assert by_unit[str(tree["ie"].pk)]["kind"] == "changed"
    assert by_unit[str(tree["ie"].pk)]["fields"]["virtual_addresses.phone"] == {"old": "98765432", "new": "11223344"}
    for key in ("si", "oe", "leaf"):
        event = by_unit[str(tree[key].pk)]
        assert event["kind"] == "effective_changed"
        assert event["fields"]["effective.virtual_addresses.phone"] == {"old": "98765432", "new": "11223344"}


@pytest.mark.django_db
def test_location_number_message_type_and_code_events_name_what_they_concern(api, tree):
    start = changelog_position()
    location_number_close(**CMD, location_number=tree["ln"].pk, to_date=dt.date(2030, 1, 1))
    events = feed_after(api, start)["results"]
    closed = next(e for e in events if e["kind"] == "location_number_closed")
    assert closed["sor_id"] == str(tree["si"].pk) and closed["location_number"] == gln(1)
    assert closed["fields"]["valid_to"] == {"old": None, "new": "2030-01-01"}
    first = feed_after(api, 0)["results"]
    code = next(e for e in first if e.get("code_list") == "regions")
    assert code["code"] in {r.code for r in Region.objects.all()} and "sor_id" not in code
    link = next(e for e in first if e["kind"] == "message_types_changed")
    assert link["location_number"] == gln(1) and link["fields"]["message_type"]["new"] in {t.code for t in tree["types"]}


@pytest.mark.django_db
def test_a_closure_names_the_successor_the_unit_is_replaced_by(api, tree, make_tree):
    successor = make_tree(name="Lægehuset Ny")["oe"]
    start = changelog_position()
    with audit_context(**CMD):
        unit_update(**CMD, unit=tree["leaf"].pk, changes={"replaced_by": [successor.pk]})
        unit_close(**CMD, unit=tree["leaf"].pk, to_date=dt.date(2030, 6, 30))
    closure = next(e for e in feed_after(api, start)["results"] if e["kind"] == "closed")
    assert closure["sor_id"] == str(tree["leaf"].pk) and closure["successor"] == str(successor.pk)


@pytest.mark.django_db
def test_the_nightly_run_writes_took_effect_events_for_starts_closures_and_routing_once(api, tree, make_tree):
    day = dt.date.today() + dt.timedelta(days=30)
    planned = unit_create(**CMD, level="OE", parent=tree["si"], name="Ny filial", from_date=day)
    unit_close(**CMD, unit=tree["leaf"].pk, to_date=day - dt.timedelta(days=1))
    location_number_close(**CMD, location_number=tree["ln"].pk, to_date=day - dt.timedelta(days=1))
    start = changelog_position()
    with activation.suspended():
        from registry.services.took_effect import record_took_effect

        activation.register_activator("registry.took_effect")(lambda d, *, log: record_took_effect(d, log=log))
        activation.run_activators(day, log=lambda _m: None)
        events = feed_after(api, start)["results"]
        activation.run_activators(day, log=lambda _m: None)  # the chain run again for the same day
    assert feed_after(api, start)["results"] == events  # nothing written twice
    took = {e["sor_id"]: e["fields"]["status"] for e in events if e["kind"] == "took_effect"}
    assert took == {str(planned.pk): {"old": "planned", "new": "active"},
                    str(tree["leaf"].pk): {"old": "closing", "new": "closed"}}
    routing = {e["sor_id"]: e["fields"] for e in events if e["kind"] == "effective_changed"}
    # The SI's number ended yesterday: the SI and the units inheriting from it route nowhere now.
    assert set(routing) >= {str(tree["si"].pk), str(tree["oe"].pk)}
    assert routing[str(tree["oe"].pk)]["effective.location_number"] == {"old": gln(1), "new": None}
    assert all(e["operation_id"] == events[0]["operation_id"] for e in events)


def test_the_nightly_chain_registers_the_took_effect_activator_last():
    names = list(activation.activators())
    assert names[-1] == "registry.took_effect" and "registry.change_sets" in names


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_consumer_paging_the_feed_over_http_while_writers_commit_sees_every_event_once(api, make_tree):
    trees = [make_tree(name=f"Skriver {i}") for i in range(3)]
    start = changelog_position()
    env = {**os.environ, "DATABASE_URL": test_database_url(), "DJANGO_SETTINGS_MODULE": "sor_admin.settings"}
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, ",".join(str(t[k].pk) for k in ("ie", "si", "oe")),
                                 "10", str(i)], cwd=ROOT, env=env, stderr=subprocess.PIPE)
               for i, t in enumerate(trees)]
    seen, after, pages = [], start, 0
    deadline = time.monotonic() + 240
    while any(w.poll() is None for w in writers) and time.monotonic() < deadline:
        body = get_json(api, f"/api/v1/changes/?after={after}&limit=4")
        pages += 1
        seen.extend(e["sequence"] for e in body["results"])
        after = body["last_sequence"]
        if not body["results"]:
            time.sleep(0.005)
    for w in writers:
        assert w.wait(timeout=60) == 0, w.stderr.read().decode()[-3000:]
    url = f"/api/v1/changes/?after={after}&limit=4"
    while url:
        body = get_json(api, url)
        seen.extend(e["sequence"] for e in body["results"])
        url = body["next"]
    logged = list(ChangeEvent.objects.filter(seq__gt=start).order_by("seq").values_list("seq", flat=True))
    assert len(logged) == 3 * 10 * 3
    assert seen == logged == list(range(start + 1, start + 1 + len(logged)))  # no gap, no repeat
    assert pages > 10
