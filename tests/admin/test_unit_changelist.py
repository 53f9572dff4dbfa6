"""The unit changelist: SOR search, filters whose choices come from code lists, and a query count
that does not grow with the page size (the register has ~150,000 units)."""

import datetime as dt
import re

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from registry.audit import audit_context
from registry.models import EntityType, Unit
from registry.services import bulk
from registry.services.units import allocate_sor_id, unit_close, unit_create, unit_update

pytestmark = pytest.mark.django_db

MAX_QUERIES = 20


@pytest.fixture
def many_units(make_tree):
    """A tree with `n` extra OEs under its SI (written with the history-aware bulk helper)."""

    def build(n):
        tree = make_tree()
        si = tree["si"]
        entity_type = EntityType.objects.get(code="394761003")
        units = [
            Unit(sor_id=allocate_sor_id(), level="OE", parent=si, owner_id=si.owner_id,
                 ancestors=[*si.ancestors, si.pk], name=f"Afdeling {i:03d}", region_id=si.region_id,
                 entity_type=entity_type, provider_number=f"{100000 + i:06d}",
                 from_date=dt.date(2020, 1, 1), first_from_date=dt.date(2020, 1, 1))
            for i in range(n)
        ]
        with audit_context(actor=None, reason="testdata", origin="command"):
            bulk.bulk_create(Unit, units)
        return tree

    return build


@pytest.fixture
def admin_client_for(sor_admin):
    client = Client()
    client.force_login(sor_admin)
    return client


def changelist_queries(client, url, per_page, monkeypatch):
    monkeypatch.setattr(admin.site._registry[Unit], "list_per_page", per_page)
    client.get(url)  # warm the session/permission caches the way a browsing user has them
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return response, len(ctx.captured_queries)


def test_changelist_query_count_does_not_grow_with_page_size(many_units, admin_client_for, monkeypatch):
    many_units(210)
    page20, n20 = changelist_queries(admin_client_for, "/admin/registry/unit/", 20, monkeypatch)
    page200, n200 = changelist_queries(admin_client_for, "/admin/registry/unit/", 200, monkeypatch)
    assert len(page20.context["cl"].result_list) == 20
    assert len(page200.context["cl"].result_list) == 200
    assert n20 <= MAX_QUERIES and n200 <= MAX_QUERIES, (n20, n200)
    assert n200 == n20


def test_search_by_ydernummer_finds_the_unit_within_the_query_budget(many_units, admin_client_for, monkeypatch):
    tree = many_units(30)
    response, n = changelist_queries(admin_client_for, f"/admin/registry/unit/?q={tree['oe'].provider_number}",
                                     100, monkeypatch)
    assert [u.pk for u in response.context["cl"].result_list] == [tree["oe"].pk]
    assert n <= MAX_QUERIES


@pytest.mark.parametrize(("term_of", "expected_key"), [
    (lambda t: str(t["leaf"].pk), "leaf"),        # SOR-ID
    (lambda t: "østergade BEHANDLER", "leaf"),    # part of the name, any case
    (lambda t: "1234 5674", "ie"),                # CVR (set on the owner), spaces ignored
])
def test_search_by_sor_id_name_and_cvr(make_tree, admin_client_for, term_of, expected_key):
    tree = make_tree(cvr="12345674")
    make_tree(region_code="1084", name="Klinik Hovedstaden")
    response = admin_client_for.get("/admin/registry/unit/", {"q": term_of(tree)})
    assert {u.pk for u in response.context["cl"].result_list} == {tree[expected_key].pk}


def test_filters_by_level_region_owner_type_and_status(make_tree, admin_client_for, sor_admin):
    nord = make_tree()
    hoved = make_tree(region_code="1084", name="Klinik Hovedstaden")
    unit_close(actor=sor_admin, reason="lukket", unit=nord["leaf"].pk, to_date=dt.date(2021, 1, 1))

    def found(**params):
        response = admin_client_for.get("/admin/registry/unit/", params)
        assert response.status_code == 200
        return {u.pk for u in response.context["cl"].result_list}

    assert found(level__exact="IE") == {nord["ie"].pk, hoved["ie"].pk}
    assert found(region=hoved["ie"].region_id) == {u.pk for u in hoved.values()}
    assert found(region="all") >= {u.pk for u in [*nord.values(), *hoved.values()]}
    assert found(owner__owner_type__id__exact=nord["ie"].owner_type_id) == {u.pk for u in [*nord.values(),
                                                                                          *hoved.values()]}
    assert found(status="closed") == {nord["leaf"].pk}
    assert nord["leaf"].pk not in found(status="active")


def test_filter_choices_come_from_code_lists_not_from_the_units(make_tree, admin_client_for):
    make_tree()
    response = admin_client_for.get("/admin/registry/unit/")
    specs = {spec.title: spec for spec in response.context["cl"].filter_specs}
    # Every entity type of the code list is offered even though only one is in use.
    entity_choices = list(specs["enhedstype"].choices(response.context["cl"]))
    assert len(entity_choices) > 10
    assert {"niveau", "enhedstype", "region (administrativ)", "ejertype", "status"} <= set(map(str, specs))


def _status_cells(html: str) -> dict[int, str]:
    """SOR-ID → the text of its row's status cell in the changelist table."""
    cells = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S):
        sor_id = re.search(r'name="_selected_action" value="(\d+)"', row)
        status = re.search(r'<td class="field-status_display">(.*?)</td>', row, re.S)
        if sor_id and status:
            cells[int(sor_id.group(1))] = status.group(1).strip()
    return cells


def test_changelist_status_cells_say_planned_active_closing_and_closed_in_danish(make_tree, admin_client_for,
                                                                               sor_admin):
    tree = make_tree()
    today = timezone.localdate()
    unit_close(actor=sor_admin, reason="lukket", unit=tree["leaf"].pk, to_date=dt.date(2021, 1, 1))
    unit_close(actor=sor_admin, reason="lukkes", unit=tree["oe"].pk, to_date=today)  # ToDate is inclusive
    planned = unit_create(actor=sor_admin, reason="ny", level="OE", parent=tree["si"], name="Kommer snart",
                          from_date=today + dt.timedelta(days=1))
    cells = _status_cells(admin_client_for.get("/admin/registry/unit/").content.decode())
    assert cells[tree["leaf"].pk] == "lukket"
    assert cells[tree["oe"].pk] == f"lukkes {today:%d-%m-%Y}"  # closing today, with its date
    assert cells[planned.pk] == "fremtidig"
    assert cells[tree["si"].pk] == cells[tree["ie"].pk] == "aktiv"


def test_status_filter_follows_the_first_from_date_not_the_date_of_the_latest_change(make_tree, admin_client_for,
                                                                                    sor_admin):
    tree = make_tree()
    # A change dated tomorrow (FromDate) does not make a started unit "planned".
    unit_update(actor=sor_admin, reason="ændring", unit=tree["oe"].pk,
                changes={"from_date": timezone.localdate() + dt.timedelta(days=1)})

    def found(status):
        response = admin_client_for.get("/admin/registry/unit/", {"status": status})
        return {u.pk for u in response.context["cl"].result_list}

    assert tree["oe"].pk in found("active") and tree["oe"].pk not in found("planned")


def test_a_unit_with_many_children_links_to_the_full_filtered_list(many_units, admin_client_for):
    tree = many_units(55)
    page = admin_client_for.get(f"/admin/registry/unit/{tree['si'].pk}/change/")
    link = f"/admin/registry/unit/?parent__sor_id__exact={tree['si'].pk}"
    assert link in page.content.decode()
    children = admin_client_for.get(link)
    assert children.status_code == 200
    assert len(children.context["cl"].result_list) == 56  # the tree's OE and the 55 added


def test_index_page_offers_a_unit_search(admin_client_for):
    html = admin_client_for.get("/admin/").content.decode()
    assert 'action="/admin/registry/unit/"' in html and 'name="q"' in html


def test_the_list_shows_parent_and_owner_with_links_so_namesakes_can_be_told_apart(make_tree, admin_client_for):
    import re

    first = make_tree(name="Lægerne Torvet")
    second = make_tree(name="Lægerne Torvet", region_code="1082")
    html = admin_client_for.get("/admin/registry/unit/?q=Lægerne Torvet behandler&region=all").content.decode()
    rows = re.findall(r"<tr>.*?</tr>", html, re.S)
    for tree in (first, second):
        row = next(r for r in rows if f"/admin/registry/unit/{tree['leaf'].pk}/change/" in r)
        parent = re.search(r'<td class="field-parent_link">(.*?)</td>', row, re.S).group(1)
        owner = re.search(r'<td class="field-owner_link">(.*?)</td>', row, re.S).group(1)
        assert f"/admin/registry/unit/{tree['oe'].pk}/change/" in parent
        assert f"/admin/registry/unit/{tree['ie'].pk}/change/" in owner


def test_sorting_by_ydernummer_puts_blanks_last(make_tree, admin_client_for):
    tree = make_tree()
    column = admin_client_for.get("/admin/registry/unit/").context["cl"].list_display.index("provider_display")
    response = admin_client_for.get(f"/admin/registry/unit/?o={column}")
    result = [u.pk for u in response.context["cl"].result_list]
    assert result[0] == tree["oe"].pk  # the one with a ydernummer first, the blanks after
    assert all(Unit.objects.get(pk=pk).provider_number == "" for pk in result[1:])


def test_the_fast_unit_rows_are_the_markup_djangos_result_list_would_write(make_tree, sor_admin):
    from django.contrib import admin
    from django.contrib.admin.templatetags.admin_list import result_list
    from django.test import RequestFactory

    from registry.models import Unit
    from registry.services.units import unit_close
    from sor_admin.templatetags.sor_list import sor_result_list_context

    tree = make_tree()
    make_tree(name="Anden Praksis", provider_number="019063")
    unit_close(actor=None, reason="lukket", origin="command", unit=tree["leaf"], to_date=tree["leaf"].from_date)
    request = RequestFactory().get("/admin/registry/unit/", {"region": "all", "o": "2.-10"})
    request.user = sor_admin
    model_admin = admin.site._registry[Unit]
    cl = model_admin.get_changelist_instance(request)
    cl.formset = None  # as changelist_view sets it for a list without list_editable
    ours = [[str(cell) for cell in row] for row in sor_result_list_context(cl)["results"]]
    djangos = [[str(cell) for cell in row] for row in result_list(cl)["results"]]
    assert len(ours) == Unit.objects.count() and ours == djangos
