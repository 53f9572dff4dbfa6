"""The read side at its edges: withdrawn units, dated moves of numbers and units, "took effect"
without false or missed events, hostile parameters, and feed items that never change."""

import datetime as dt

import pytest

from exports import activation
from registry.audit import audit_context
from registry.selectors import changelog_position
from registry.services.location_numbers import location_number_move
from registry.services.took_effect import record_took_effect
from registry.services.units import unit_close, unit_create, unit_move, unit_update, unit_withdraw
from tests.factories import CMD, gln

from .conftest import get_json

pytestmark = pytest.mark.django_db
TODAY = dt.date.today()
YESTERDAY = TODAY - dt.timedelta(days=1)


def test_a_withdrawn_unit_is_in_no_view_and_no_shak_mapping(api, tree):
    gone = unit_create(**CMD, level="OE", parent=tree["si"], name="Oprettet ved en fejl", shak="9001991",
                       from_date=dt.date(2020, 1, 1))
    unit_withdraw(**CMD, unit=gone.pk)
    assert api.get(f"/api/v1/units/{gone.pk}/?valid_on={TODAY}").status_code == 404
    assert get_json(api, f"/api/v1/shak/9001991/?date={YESTERDAY}")["results"] == []
    assert "9001991" not in api.get(f"/api/v1/shak-mapping.csv?date={YESTERDAY}").content.decode()


def test_a_location_number_moved_with_a_date_belonged_to_its_former_holder_before_it(api, tree):
    location_number_move(**CMD, location_number=tree["ln"].pk, to_unit=tree["oe"].pk, from_date=TODAY)
    then = get_json(api, f"/api/v1/units/{tree['leaf'].pk}/?valid_on={YESTERDAY}")["effective"]["location_number"]
    assert then["source"] == str(tree["si"].pk) and then["value"]["gln"] == gln(1)
    now = get_json(api, f"/api/v1/units/{tree['leaf'].pk}/")["effective"]["location_number"]
    assert now["source"] == str(tree["oe"].pk)
    assert get_json(api, f"/api/v1/units/{tree['si'].pk}/?valid_on={YESTERDAY}")["own"]["location_number"]["gln"] == gln(1)


def test_a_subtree_on_a_date_follows_the_tree_of_that_day_after_a_dated_move(api, tree, make_tree):
    other = make_tree(name="Klinikken Vesterbro")
    unit_move(**CMD, unit=tree["oe"].pk, new_parent=other["si"].pk, from_date=TODAY)
    old_then = [u["sor_id"] for u in get_json(api, f"/api/v1/units/{tree['si'].pk}/subtree/?valid_on={YESTERDAY}")["results"]]
    assert old_then == sorted([str(tree["oe"].pk), str(tree["leaf"].pk)])  # yesterday both were below it
    new_now = {u["sor_id"] for u in get_json(api, f"/api/v1/units/{other['si'].pk}/subtree/")["results"]}
    assert str(tree["oe"].pk) in new_now
    new_then = {u["sor_id"] for u in get_json(api, f"/api/v1/units/{other['si'].pk}/subtree/?valid_on={YESTERDAY}")["results"]}
    assert not new_then & {str(tree["oe"].pk), str(tree["leaf"].pk)}


def test_a_subtree_page_on_a_date_is_never_empty_while_more_follow(api, tree, make_tree):
    for i in range(3):
        unit_create(**CMD, level="OE", parent=tree["si"], name=f"Ny {i}", from_date=TODAY + dt.timedelta(days=5))
    body = get_json(api, f"/api/v1/units/{tree['ie'].pk}/subtree/?limit=1&valid_on={TODAY}")
    pages = [body["results"]]
    while body["next"]:
        body = get_json(api, body["next"])
        pages.append(body["results"])
    assert all(len(p) == 1 for p in pages) and len(pages) == 3  # the SI, OE and leaf; not the planned ones


def test_took_effect_is_not_written_for_a_unit_created_after_its_start_and_catches_up_a_missed_day(api, tree):
    start = changelog_position()
    late = unit_create(**CMD, level="OE", parent=tree["si"], name="Oprettet bagud", from_date=YESTERDAY)
    planned = unit_create(**CMD, level="OE", parent=tree["si"], name="Planlagt", from_date=TODAY + dt.timedelta(days=3))
    with activation.suspended():
        record_took_effect(TODAY + dt.timedelta(days=1), log=lambda _m: None)  # day 1: nothing for these
        # Days 2–4 the chain did not run; day 5 catches the start on day 3 up.
        record_took_effect(TODAY + dt.timedelta(days=5), log=lambda _m: None)
        record_took_effect(TODAY + dt.timedelta(days=5), log=lambda _m: None)
    events = [e for e in get_json(api, f"/api/v1/changes/?after={start}&limit=5000")["results"] if e["kind"] == "took_effect"]
    assert [(e["sor_id"], e["fields"]["status"]["new"]) for e in events] == [(str(planned.pk), "active")]
    assert str(late.pk) not in {e["sor_id"] for e in events}


def test_hostile_parameters_are_refused_with_400_not_a_server_error(api, tree):
    for url in ("/api/v1/units/?as_registered=9999-12-31", f"/api/v1/units/{tree['oe'].pk}/?valid_on=9999-12-31",
                "/api/v1/units/?search=%00", "/api/v1/changes/?after=1%00", "/api/v1/shak/1/"):
        response = api.get(url)
        assert response.status_code == 400, url
        assert response.json()["error"], url
    for url in ("/fhir/Organization?identifier=%00", "/fhir/Organization?identifier=https://www.gs1.org/gln|%00"):
        response = api.get(url)
        assert response.status_code == 400 and response.json()["resourceType"] == "OperationOutcome", url


def test_fhir_refusals_are_operation_outcomes_and_a_value_without_a_system_matches_nothing(api, tree):
    from fhir.resources.operationoutcome import OperationOutcome

    for response in (api.post(f"/fhir/Organization/{tree['oe'].pk}"),
                     api.get(f"/fhir/Organization/{tree['oe'].pk}", HTTP_ACCEPT="application/fhir+xml")):
        assert response.status_code in (405, 406)
        OperationOutcome.parse_obj(response.json())
        assert response["Content-Type"].startswith("application/fhir+json")
        assert "Kunne" not in response.content.decode()  # in English
    assert get_json(api, f"/fhir/Organization?identifier=|{tree['oe'].pk}")["total"] == 0


def test_a_feed_item_never_changes_after_it_was_published(api, tree, make_tree):
    start = changelog_position()
    unit_close(**CMD, unit=tree["leaf"].pk, to_date=dt.date(2030, 1, 1))
    first = get_json(api, f"/api/v1/changes/?after={start}")["results"]
    later = make_tree(name="Efterfølgeren")["oe"]
    with audit_context(**CMD):
        unit_update(**CMD, unit=tree["leaf"].pk, changes={"replaced_by": [later.pk]})
    again = get_json(api, f"/api/v1/changes/?after={start}&limit={len(first)}")["results"]
    assert again == first and first[0]["kind"] == "closed" and first[0]["successor"] is None
