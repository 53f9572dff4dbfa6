"""The unit endpoints: own and effective values with their source, filters, dates, paging,
errors, conditional requests."""

import datetime as dt

import pytest

from registry.audit import audit_context
from registry.models import Unit
from registry.services.units import unit_update
from tests.factories import CMD, gln

from .conftest import get_json

pytestmark = pytest.mark.django_db


def test_a_unit_has_its_own_values_and_each_effective_block_names_the_unit_it_comes_from(api, tree):
    leaf = get_json(api, f"/api/v1/units/{tree['leaf'].pk}/")
    ie, si = str(tree["ie"].pk), str(tree["si"].pk)
    assert leaf["sor_id"] == str(tree["leaf"].pk) and isinstance(leaf["sor_id"], str)
    assert leaf["parent"] == str(tree["oe"].pk) and leaf["owner"] == ie and leaf["institution"] == si
    assert leaf["ancestors"] == [ie, si, str(tree["oe"].pk)]
    assert leaf["own"]["postal_address"] is None and leaf["own"]["virtual_addresses"] is None
    assert leaf["own"]["location_mode"] == "inherited" and leaf["own"]["location_number"] is None
    effective = leaf["effective"]
    assert effective["postal_address"]["source"] == ie and effective["postal_address"]["how"] == "inherited"
    assert effective["postal_address"]["value"]["street_name"] == "Østergade"
    assert effective["visiting_address"]["source"] == ie  # the visiting address falls back to the postal one
    assert effective["virtual_addresses"]["source"] == ie and effective["virtual_addresses"]["value"]["phone"] == "98765432"
    routed = effective["location_number"]
    assert routed["source"] == si and routed["value"]["gln"] == gln(1) and routed["value"]["unit"] == si
    assert sorted(t["code"] for t in routed["value"]["message_types"]) == sorted(t.code for t in tree["types"])
    si_doc = get_json(api, f"/api/v1/units/{si}/")
    assert si_doc["own"]["location_mode"] == "own" and si_doc["own"]["location_number"]["gln"] == gln(1)
    assert si_doc["effective"]["location_number"]["how"] == "own"
    owner = get_json(api, f"/api/v1/units/{ie}/")
    assert owner["cvr"] == "12345674" and owner["own"]["postal_address"]["post_code"] == "9700"
    assert owner["effective"]["postal_address"]["how"] == "own"


def test_each_search_kind_and_filter_finds_the_unit_and_only_matching_ones(api, tree, make_tree):
    other = make_tree(region_code="1084", name="Klinikken Vesterbro")

    def ids(query):
        return [u["sor_id"] for u in get_json(api, f"/api/v1/units/?{query}&limit=500")["results"]]

    oe, leaf = str(tree["oe"].pk), str(tree["leaf"].pk)
    assert ids("search=019062") == [oe]
    assert ids("search=19062") == [oe]  # leading zeros stripped, as SDM4 consumers do
    assert ids(f"search={gln(1)}") == [str(tree["si"].pk)]
    assert ids("search=12345674") == [str(tree["ie"].pk)]
    assert set(ids("search=vesterbro")) == {str(other[k].pk) for k in ("ie", "si", "oe", "leaf")}
    assert set(ids("level=OE")) == {oe, leaf, str(other["oe"].pk), str(other["leaf"].pk)}
    assert ids("type=394761003") == sorted([str(tree["si"].pk), str(other["si"].pk)])
    assert set(ids("region=1084")) == {str(other[k].pk) for k in ("ie", "si", "oe", "leaf")}
    assert set(ids(f"owner={tree['ie'].pk}")) == {str(tree[k].pk) for k in ("ie", "si", "oe", "leaf")}
    assert ids(f"owner={tree['ie'].pk}&level=OE&search=behandler") == [leaf]


def test_modified_since_lists_units_changed_since_including_those_whose_inherited_values_changed(api, tree, make_tree):
    other = make_tree(name="Klinikken Vesterbro")
    from registry.models import ChangeEvent

    since = ChangeEvent.objects.order_by("-seq").first().sequenced_at + dt.timedelta(microseconds=1)
    unit_update(**CMD, unit=tree["ie"].pk, changes={"phone": "11223344"})
    found = [u["sor_id"] for u in get_json(api, f"/api/v1/units/?modified_since={since.isoformat()}".replace("+", "%2B"))["results"]]
    # The owner itself and the three below it, which inherit the phone; not the other tree.
    assert found == sorted(str(tree[k].pk) for k in ("ie", "si", "oe", "leaf"))
    assert str(other["ie"].pk) not in found


def test_status_filter_and_valid_on_leave_out_units_not_valid_that_day(api, tree, make_tree):
    planned = make_tree(name="Den nye klinik")
    unit_update(**CMD, unit=planned["ie"].pk, changes={"first_from_date": dt.date(2030, 1, 1), "from_date": dt.date(2030, 1, 1)})
    ids = {u["sor_id"] for u in get_json(api, "/api/v1/units/?status=planned&limit=500")["results"]}
    assert ids == {str(planned["ie"].pk)}
    on_2019 = get_json(api, "/api/v1/units/?valid_on=2019-06-01&limit=500")["results"]
    assert on_2019 == []  # the register's units start in 2020
    assert str(planned["ie"].pk) not in {u["sor_id"] for u in get_json(api, "/api/v1/units/?valid_on=2026-06-01&limit=500")["results"]}
    response = api.get(f"/api/v1/units/{tree['oe'].pk}/?valid_on=2019-06-01")
    assert response.status_code == 404 and "not valid on 2019-06-01" in response.json()["error"]


def test_valid_on_shows_the_version_valid_that_day_before_and_after_a_dated_change(api, tree):
    oe = tree["oe"].pk
    unit_update(**CMD, unit=oe, changes={"name": "Lægehuset ved Åen"}, from_date=dt.date(2025, 1, 1))
    assert get_json(api, f"/api/v1/units/{oe}/?valid_on=2024-12-31")["name"] == "Lægerne Østergade ydernummer"
    after = get_json(api, f"/api/v1/units/{oe}/?valid_on=2025-01-01")
    assert after["name"] == "Lægehuset ved Åen" and after["view"] == {"mode": "valid_on", "date": "2025-01-01"}
    assert get_json(api, f"/api/v1/units/{oe}/")["name"] == "Lægehuset ved Åen"
    listed = get_json(api, "/api/v1/units/?valid_on=2024-06-01&search=019062")["results"]
    assert [u["name"] for u in listed] == ["Lægerne Østergade ydernummer"]


def test_as_registered_gives_what_the_register_said_at_the_end_of_that_day(api, tree):
    oe = tree["oe"].pk
    # The tree was registered a year ago (history moved back); today the name is corrected
    # without a new FromDate: "valid on" any day gives the new name, "as registered" last month the old.
    with audit_context(**CMD):
        Unit.history.filter(sor_id__in=[tree[k].pk for k in ("ie", "si", "oe", "leaf")]).update(
            history_date=dt.datetime(2025, 12, 1, 12, tzinfo=dt.UTC))
        type(tree["ln"]).history.filter(id=tree["ln"].pk).update(history_date=dt.datetime(2025, 12, 1, 12, tzinfo=dt.UTC))
    unit_update(**CMD, unit=oe, changes={"name": "Rettet navn"})
    then = get_json(api, f"/api/v1/units/{oe}/?as_registered=2026-11-01")
    assert then["name"] == "Lægerne Østergade ydernummer" and then["view"]["mode"] == "as_registered"
    assert then["effective"]["location_number"]["value"]["gln"] == gln(1)
    assert then["effective"]["postal_address"]["source"] == str(tree["ie"].pk)
    assert get_json(api, f"/api/v1/units/{oe}/?valid_on=2026-11-01")["name"] == "Rettet navn"
    gone = api.get(f"/api/v1/units/{oe}/?as_registered=2025-11-30")
    assert gone.status_code == 404 and "not registered yet" in gone.json()["error"]
    listed = get_json(api, "/api/v1/units/?as_registered=2026-11-01&search=rettet")["results"]
    assert listed == []  # the name it had then does not match
    assert [u["name"] for u in get_json(api, "/api/v1/units/?as_registered=2026-11-01&search=019062")["results"]] == [
        "Lægerne Østergade ydernummer"]


def test_pages_follow_next_through_every_unit_once_in_sor_id_order(api, make_tree):
    for i in range(3):
        make_tree(name=f"Klinik {i}")
    seen, url = [], "/api/v1/units/?limit=5"
    pages = 0
    while url:
        body = get_json(api, url)
        seen.extend(u["sor_id"] for u in body["results"])
        url = body["next"]
        pages += 1
    everything = [str(pk) for pk in Unit.objects.order_by("sor_id").values_list("sor_id", flat=True)]
    assert seen == everything and len(seen) == 12 and pages == 3


def test_subtree_lists_every_unit_below_and_not_the_unit_itself(api, tree):
    body = get_json(api, f"/api/v1/units/{tree['ie'].pk}/subtree/?limit=2")
    first = [u["sor_id"] for u in body["results"]]
    rest = [u["sor_id"] for u in get_json(api, body["next"])["results"]]
    assert first + rest == sorted(str(tree[k].pk) for k in ("si", "oe", "leaf"))
    assert get_json(api, f"/api/v1/units/{tree['leaf'].pk}/subtree/")["results"] == []


def test_bad_parameters_are_refused_with_an_error_naming_them(api, tree):
    cases = {
        "/api/v1/units/?valid_on=2026-02-30": "valid_on",
        "/api/v1/units/?level=XX": "level",
        "/api/v1/units/?limit=0": "limit",
        "/api/v1/units/?limit=abc": "limit",
        "/api/v1/units/?owner=12a": "owner",
        "/api/v1/units/?type=424242": "type",
        "/api/v1/units/?valid_on=2026-01-01&as_registered=2026-01-01": "valid_on and as_registered",
        "/api/v1/units/?modified_since=yesterday": "modified_since",
        "/api/v1/units/９０/": "sor_id",
        "/api/v1/changes/?after=-1": "after",
        "/api/v1/location-numbers/123/": "gln",
    }
    for url, name in cases.items():
        response = api.get(url)
        assert response.status_code == 400, url
        assert response.json()["error"].startswith(name), (url, response.json())
    missing = api.get("/api/v1/units/12345678901/")
    assert missing.status_code == 404 and missing.json() == {"error": "No unit has SOR-ID 12345678901."}
    assert api.get("/api/v1/codes/nonsense/").status_code == 404


def test_an_unchanged_answer_is_304_with_its_etag_and_a_change_gives_a_new_one(api, tree):
    url = f"/api/v1/units/{tree['oe'].pk}/"
    first = api.get(url)
    etag = first["ETag"]
    assert first.status_code == 200 and etag and first["Cache-Control"] == "no-cache"
    again = api.get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b""
    unit_update(**CMD, unit=tree["oe"].pk, changes={"name": "Nyt navn"})
    changed = api.get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag and changed.json()["name"] == "Nyt navn"


def test_location_number_shows_its_holder_rows_and_the_units_routed_to_it(api, tree):
    body = get_json(api, f"/api/v1/location-numbers/{gln(1)}/")
    assert body["current"]["unit"] == str(tree["si"].pk)
    assert body["routed_to"] == sorted(str(tree[k].pk) for k in ("si", "oe", "leaf"))
    assert len(body["rows"]) == 1 and body["rows"][0]["valid_from"] == "2020-01-01"
    assert api.get(f"/api/v1/location-numbers/{gln(2)}/").status_code == 404


def test_code_lists_give_every_code_with_its_validity(api, db):
    lists = get_json(api, "/api/v1/codes/")["results"]
    assert {entry["list"] for entry in lists} >= {"regions", "entity-types", "edi-message-types"}
    regions = get_json(api, "/api/v1/codes/regions/")["results"]
    assert [r["code"] for r in regions] == ["1081", "1082", "1083", "1084", "1085"]
    assert regions[0]["name"] == "Region Nordjylland" and "successor" in regions[0]
