"""The operation page: every row an operation touched, paginated, reached from a history entry."""

import re

import pytest
from django.test import Client

from registry.audit import audit_context
from registry.models import ChangeEvent, Operation, Unit
from registry.services.units import unit_update
from sor_admin.admin.operations import EVENTS_PER_PAGE
from tests.factories import CMD

from .admin_helpers import text_of

pytestmark = pytest.mark.django_db


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def test_a_history_entry_links_to_its_operation_page_listing_the_rows_it_touched(make_tree, support, guest):
    tree = make_tree()
    unit_update(actor=support, reason="Ny e-mail fra klinikken", origin="admin", unit=tree["ie"].pk,
                changes={"email": "ny@example.dk"})
    op = Operation.objects.order_by("-id").first()
    history = client_for(guest).get(f"/admin/registry/unit/{tree['ie'].pk}/history/")
    link = f"/admin/registry/operation/{op.pk}/change/"
    assert re.search(rf'<td class="sor-batch"><a href="{link}"', history.content.decode())
    page = client_for(guest).get(link)
    assert page.status_code == 200
    assert page.context["operation"] == op
    rows = page.context["rows"]
    events = {(r["event"].object_id, r["event"].kind) for r in rows}
    # The owner's own change, and the three units below that inherit its e-mail.
    assert events == {(str(tree["ie"].pk), "changed")} | {(str(tree[k].pk), "effective_changed")
                                                          for k in ("si", "oe", "leaf")}
    own = next(r for r in rows if r["event"].kind == "changed")
    assert ("e-mail", "klinik@example.dk", "ny@example.dk") in own["changes"]
    assert own["object"]["text"] == f"Lægerne Østergade ({tree['ie'].pk})"
    inherited = next(r for r in rows if r["event"].object_id == str(tree["leaf"].pk))
    assert ("nedarvet elektroniske adresser: e-mail", "klinik@example.dk", "ny@example.dk") in inherited["changes"]
    text = text_of(page)
    assert "Ny e-mail fra klinikken" in text and "support" in text and "administration" in text
    assert "1 række ændret; 3 enheder med ændrede nedarvede værdier" in text


def test_the_operation_page_names_codes_location_numbers_and_dates_as_staff_know_them(make_tree, guest):
    from registry.models import Municipality
    from registry.services.location_numbers import location_number_assign
    from tests.factories import gln, location_codes

    tree = make_tree()
    location_number_assign(**CMD, unit=tree["si"], gln=gln(5), **location_codes())
    op = Operation.objects.order_by("-id").first()
    rows = client_for(guest).get(f"/admin/registry/operation/{op.pk}/change/").context["rows"]
    ln_row = next(r for r in rows if r["event"].entity == "location_number")
    assert ln_row["object"]["text"] == gln(5) and ln_row["object"]["unit"].startswith("Lægerne Østergade klinik")
    changes = {label: new for label, _old, new in ln_row["changes"]}
    assert changes["region"] == str(location_codes()["region"])  # a code's name, not its database id
    assert re.fullmatch(r"\d\d-\d\d-\d{4}", changes["gældende fra"])
    migration = Operation.objects.filter(kind="migration").order_by("id").first()
    municipality = Municipality.objects.order_by("pk").first()
    page = client_for(guest).get(f"/admin/registry/operation/{migration.pk}/change/?p=1")
    assert page.context["page"].paginator.num_pages > 1
    found = ChangeEvent.objects.filter(operation=migration, model="registry.municipality").order_by("id").first()
    index = list(ChangeEvent.objects.filter(operation=migration).order_by("id").values_list("id", flat=True)).index(found.id)
    page = client_for(guest).get(f"/admin/registry/operation/{migration.pk}/change/?p={index // EVENTS_PER_PAGE + 1}")
    row = next(r for r in page.context["rows"] if r["event"].id == found.id)
    assert row["object"]["text"] == str(municipality)
    assert dict((label, new) for label, _o, new in row["changes"])["region"] == str(municipality.region)


def test_the_operation_page_is_paginated_and_reads_only_its_own_events(make_tree, sor_admin):
    trees = [make_tree(name=f"Klinik {i}") for i in range(3)]
    units = [Unit.objects.get(pk=t[k].pk) for t in trees for k in ("ie", "si", "oe", "leaf")]
    with audit_context(actor=sor_admin, reason="Mange navne", origin="admin") as ctx:
        for round_ in range(9):
            for unit in units:
                unit_update(actor=sor_admin, reason="", origin="admin", unit=unit.pk,
                            changes={"name": f"{unit.name[:40]} {round_}"})
    total = ChangeEvent.objects.filter(operation_id=ctx.operation_id).count()
    assert total == 9 * len(units) > EVENTS_PER_PAGE
    client = client_for(sor_admin)
    url = f"/admin/registry/operation/{ctx.operation_id}/change/"
    first, last = client.get(url), client.get(url + "?p=2")
    assert len(first.context["rows"]) == EVENTS_PER_PAGE
    assert len(last.context["rows"]) == total - EVENTS_PER_PAGE
    seen = [r["event"].pk for r in first.context["rows"]] + [r["event"].pk for r in last.context["rows"]]
    assert sorted(seen) == sorted(ChangeEvent.objects.filter(operation_id=ctx.operation_id).values_list("pk", flat=True))
    assert first.context["page"].paginator.count == total


def test_operations_are_read_only_for_every_role(personas, make_tree):
    make_tree()
    op = Operation.objects.order_by("-id").first()
    for login in ("sor-admin", "support", "region-nord", "guest"):
        client = client_for(personas[login])
        assert client.get("/admin/registry/operation/add/").status_code == 403, login
        assert client.post(f"/admin/registry/operation/{op.pk}/delete/", {"post": "yes"}).status_code == 403, login
        listing = client.get("/admin/registry/operation/")
        assert listing.status_code == 200 and op in listing.context["cl"].result_list, login
        assert not listing.context["cl"].model_admin.get_actions(listing.wsgi_request), login
    assert Operation.objects.filter(pk=op.pk).exists()
    assert client_for(personas["outsider"]).get("/admin/registry/operation/").status_code == 403


def test_a_command_operation_shows_no_actor_and_its_kind(make_tree, guest):
    make_tree()
    op = Operation.objects.filter(reason=CMD["reason"]).order_by("-id").first()
    assert op.actor is None
    page = client_for(guest).get(f"/admin/registry/operation/{op.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert re.search(r'id="operation-kind">\s*kommando', html)
    assert re.search(r"<dt>Udført af</dt><dd>—</dd>", html)


def test_a_child_units_history_shows_what_it_inherited_from_a_change_above_and_links_the_operation(
        make_tree, support, guest):
    tree = make_tree()
    unit_update(actor=support, reason="Nyt telefonnummer til hele klinikken", origin="admin", unit=tree["ie"].pk,
                changes={"phone": "11223344"})
    op = Operation.objects.order_by("-id").first()
    page = client_for(guest).get(f"/admin/registry/unit/{tree['leaf'].pk}/history/")
    rows = page.context["inherited_rows"]
    assert [r["event"].operation_id for r in rows] == [op.pk]
    assert ("nedarvet elektroniske adresser: telefon", "98765432", "11223344") in rows[0]["changes"]
    html = page.content.decode()
    table = html[html.index('id="inherited-history"'):]
    assert f'href="/admin/registry/operation/{op.pk}/change/"' in table
    assert "Nyt telefonnummer til hele klinikken" in table and "support" in table
    assert client_for(guest).get(f"/admin/registry/unit/{tree['ie'].pk}/history/").context["inherited_rows"] == []
