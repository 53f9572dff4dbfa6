"""The unit's history page: this unit's rows only, newest first, a field-by-field diff with who,
why, from where and which batch, location-number rows, and the unit as it was on a date."""

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from registry.models import Unit
from registry.services.location_numbers import location_number_assign
from registry.services.units import unit_update
from tests.factories import location_codes as _codes

from .admin_helpers import text_of

pytestmark = pytest.mark.django_db


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def history_url(unit, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/admin/registry/unit/{unit.pk}/history/" + (f"?{query}" if query else "")


def change_phone(unit, actor, phone, reason="Klinikken ringede"):
    current = Unit.objects.get(pk=unit.pk)
    return unit_update(actor=actor, reason=reason, origin="admin", unit=current,
                       changes={"phone": phone, "virtual_present": True}, expected_version=current.version)


def test_history_shows_a_field_by_field_diff_with_user_reason_origin_and_batch(make_tree, support, guest):
    ie = make_tree()["ie"]
    change_phone(ie, support, "11223344")
    page = client_for(guest).get(history_url(ie))  # a guest may read history
    assert page.status_code == 200
    entries = page.context["entries"]
    newest = entries[0]
    assert [(c.label, c.old, c.new) for c in newest.changes] == [("telefon", "98765432", "11223344")]
    assert newest.user == support and newest.record.origin == "admin"
    text = text_of(page)
    assert "Telefon: 98765432 → 11223344" in text
    assert "Klinikken ringede" in text and "support" in text and "administration" in text
    assert str(newest.record.operation_id) in text
    assert entries[-1].kind == "oprettet"  # the creation row lists the values it set
    assert any(c.label == "navn" and c.new == "Lægerne Østergade" for c in entries[-1].changes)


def test_history_lists_only_this_units_rows_newest_first(make_tree, sor_admin):
    tree = make_tree()
    change_phone(tree["ie"], sor_admin, "11111111", reason="først")
    change_phone(tree["ie"], sor_admin, "22222222", reason="dernæst")
    change_phone(tree["si"], sor_admin, "33333333", reason="en anden enhed")
    page = client_for(sor_admin).get(history_url(tree["ie"]))
    reasons = [e.record.history_change_reason for e in page.context["entries"]]
    assert reasons == ["dernæst", "først", "testdata"]


def test_history_shows_times_in_copenhagen_time(make_tree, sor_admin):
    ie = make_tree()["ie"]
    page = client_for(sor_admin).get(history_url(ie))
    record = page.context["entries"][0].record
    assert str(timezone.get_default_timezone()) == "Europe/Copenhagen"
    expected = record.history_date.astimezone(timezone.get_default_timezone()).strftime("%d-%m-%Y %H:%M:%S")
    assert expected in text_of(page)


def test_history_is_paginated_fifty_a_page_and_diffs_across_the_page_break(make_tree, sor_admin):
    ie = make_tree()["ie"]
    for i in range(51):
        change_phone(ie, sor_admin, f"{10000000 + i}", reason=f"ændring {i}")
    client = client_for(sor_admin)
    first = client.get(history_url(ie))
    assert len(first.context["entries"]) == 50
    assert first.context["page"]["pages"] == 2
    second = client.get(history_url(ie, p=2))
    entries = second.context["entries"]
    assert len(entries) == 2
    # The last row of page 1 ("ændring 1") was diffed against "ændring 0" on page 2.
    assert [(c.old, c.new) for c in first.context["entries"][-1].changes] == [("10000000", "10000001")]
    assert entries[-1].kind == "oprettet"


def test_history_page_query_count_does_not_grow_with_history(make_tree, sor_admin):
    ie = make_tree()["ie"]
    client = client_for(sor_admin)
    client.get(history_url(ie))
    with CaptureQueriesContext(connection) as few:
        client.get(history_url(ie))
    for i in range(60):
        change_phone(ie, sor_admin, f"{10000000 + i}")
    with CaptureQueriesContext(connection) as many:
        client.get(history_url(ie))
    assert len(many.captured_queries) <= 12
    assert len(many.captured_queries) <= len(few.captured_queries) + 1
    for query in many.captured_queries:
        if "registry_historicalunit" in query["sql"] and "history_date" in query["sql"]:
            assert '"registry_historicalunit"."sor_id" =' in query["sql"]


def test_as_of_shows_the_unit_as_it_was_at_the_end_of_that_day(make_tree, sor_admin):
    ie = make_tree()["ie"]
    old_row = ie.history.get()
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    # Pretend the unit was created yesterday, then changed today.
    type(old_row).objects.filter(pk=old_row.pk).update(
        history_date=timezone.now() - dt.timedelta(days=1))
    change_phone(ie, sor_admin, "11223344")
    client = client_for(sor_admin)
    then = client.get(history_url(ie, as_of=yesterday.isoformat(), mode="registered"))
    rows = {row.label: row.new for row in then.context["as_of_rows"]}
    assert rows["telefon"] == "98765432"
    assert "Som registreret pr." in text_of(then)
    now = client.get(history_url(ie, as_of=timezone.localdate().isoformat(), mode="registered"))
    assert {row.label: row.new for row in now.context["as_of_rows"]}["telefon"] == "11223344"
    before = client.get(history_url(ie, as_of="2001-01-01", mode="registered"))
    assert "Enheden fandtes ikke i registeret ved udgangen af 01-01-2001" in text_of(before)


def test_as_of_with_a_bad_date_says_how_to_write_it(make_tree, sor_admin):
    ie = make_tree()["ie"]
    page = client_for(sor_admin).get(history_url(ie, as_of="31-12-2024"))
    assert page.status_code == 200
    assert "“31-12-2024” er ikke en dato; skriv den som ÅÅÅÅ-MM-DD." in text_of(page)


def test_history_includes_the_units_location_number_rows(make_tree, sor_admin):
    oe = make_tree()["oe"]
    location_number_assign(actor=sor_admin, reason="Nyt GLN", unit=oe, gln="5790000123452", **_codes())
    page = client_for(sor_admin).get(history_url(oe))
    entries = page.context["location_entries"]
    assert [e.title for e in entries] == ["5790000123452"]
    assert "Nyt GLN" in text_of(page)


def test_specialities_in_history_show_code_and_danish_name_not_json(make_tree, sor_admin):
    oe = make_tree()["oe"]
    unit_update(actor=None, reason="Speciale", origin="command", unit=oe,
                changes={"specialities": [{"code": "408443003", "type": "51000095001"}]})
    page = text_of(client_for(sor_admin).get(history_url(oe)))
    assert "408443003 almen medicin (hovedspeciale)" in page
    assert '"code"' not in page and "{" not in page.split("408443003")[0][-40:]


def test_valid_on_a_date_before_it_was_recorded_shows_what_was_valid_then(make_tree, sor_admin):
    """The unit has applied since 01-01-2020 but was recorded only now: "som registreret" says it
    did not exist in the register then, "gældende" shows what was valid then, as known now."""
    ie = make_tree()["ie"]  # from_date and first_from_date 2020-01-01, recorded today
    client = client_for(sor_admin)
    valid = client.get(history_url(ie, as_of="2021-06-01"))  # the default question: valid then
    page = text_of(valid)
    assert "Gældende pr. 01-06-2021" in page and "fandtes ikke" not in page
    assert {row.label: row.new for row in valid.context["as_of_rows"]}["telefon"] == "98765432"
    registered = text_of(client.get(history_url(ie, as_of="2021-06-01", mode="registered")))
    assert "Som registreret pr. 01-06-2021" in registered and "fandtes ikke i registeret" in registered
    not_yet = text_of(client.get(history_url(ie, as_of="2019-06-01")))
    assert "endnu ikke gældende" in not_yet and "01-01-2020" in not_yet
