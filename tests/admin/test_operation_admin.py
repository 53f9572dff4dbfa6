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
    assert ("email", "klinik@example.dk", "ny@example.dk") in own["changes"]
    text = text_of(page)
    assert "Ny e-mail fra klinikken" in text and "support" in text and "4 rækker ændret" in text


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


def test_operations_are_read_only_for_every_role(sor_admin, make_tree):
    make_tree()
    op = Operation.objects.order_by("-id").first()
    client = client_for(sor_admin)
    assert client.get("/admin/registry/operation/add/").status_code == 403
    assert client.post(f"/admin/registry/operation/{op.pk}/delete/").status_code in (403, 302)
    assert Operation.objects.filter(pk=op.pk).exists()
    listing = client.get("/admin/registry/operation/")
    assert listing.status_code == 200 and op in listing.context["cl"].result_list


def test_a_command_operation_shows_no_actor_and_its_kind(make_tree, guest):
    make_tree()
    op = Operation.objects.filter(reason=CMD["reason"]).order_by("-id").first()
    page = client_for(guest).get(f"/admin/registry/operation/{op.pk}/change/")
    assert page.status_code == 200
    assert re.search(r'id="operation-kind">\s*kommando', page.content.decode())
