"""SHAK ↔ SOR on a date: before and after a dated change; not inherited; the CSV table."""

import datetime as dt

import pytest

from registry.services.units import unit_update
from tests.factories import CMD

from .conftest import get_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def department(tree):
    unit_update(**CMD, unit=tree["oe"].pk, changes={"shak": "8001010"}, from_date=dt.date(2021, 1, 1))
    unit_update(**CMD, unit=tree["oe"].pk, changes={"shak": "8001020"}, from_date=dt.date(2025, 7, 1))
    return tree


def test_a_shak_code_maps_to_the_unit_carrying_it_on_the_date_before_and_after_a_change(api, department):
    oe = str(department["oe"].pk)
    before = get_json(api, "/api/v1/shak/8001010/?date=2025-06-30")
    assert [u["sor_id"] for u in before["results"]] == [oe] and before["date"] == "2025-06-30"
    assert get_json(api, "/api/v1/shak/8001010/?date=2025-07-01")["results"] == []
    assert [u["sor_id"] for u in get_json(api, "/api/v1/shak/8001020/?date=2025-07-01")["results"]] == [oe]
    assert get_json(api, "/api/v1/shak/8001020/?date=2025-06-30")["results"] == []
    assert get_json(api, "/api/v1/shak/8001010/?date=2020-06-01")["results"] == []  # no code yet then
    assert [u["sor_id"] for u in get_json(api, "/api/v1/shak/8001020/")["results"]] == [oe]  # today


def test_a_units_own_shak_code_on_a_date_and_none_for_the_unit_below_it(api, department):
    oe, leaf = department["oe"].pk, department["leaf"].pk
    assert get_json(api, f"/api/v1/units/{oe}/shak/?date=2022-01-01")["shak"] == "8001010"
    assert get_json(api, f"/api/v1/units/{oe}/shak/?date=2026-01-01")["shak"] == "8001020"
    assert get_json(api, f"/api/v1/units/{oe}/shak/?date=2020-06-01")["shak"] is None
    assert get_json(api, f"/api/v1/units/{leaf}/shak/")["shak"] is None  # SHAK is not inherited
    assert api.get(f"/api/v1/units/{oe}/shak/?date=2019-01-01").status_code == 404  # not valid then


def test_the_mapping_table_is_a_csv_of_every_unit_with_a_code_on_the_date(api, department):
    response = api.get("/api/v1/shak-mapping.csv?date=2025-06-30")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert 'filename="shak-sor-2025-06-30.csv"' in response["Content-Disposition"]
    lines = response.content.decode().splitlines()
    assert lines[0].split(";")[:3] == ["ShakCode", "SorId", "Name"]
    assert [line.split(";")[:2] for line in lines[1:]] == [["8001010", str(department["oe"].pk)]]
    today = api.get("/api/v1/shak-mapping.csv").content.decode().splitlines()
    assert [line.split(";")[:2] for line in today[1:]] == [["8001020", str(department["oe"].pk)]]
    assert api.get("/api/v1/shak/80-01/").status_code == 400
