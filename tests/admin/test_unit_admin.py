"""The unit admin through the test client: each persona's rights, saving through the services with a
reason, errors and warnings on the form, concurrent edits, region scoping and closing."""

import datetime as dt

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory

from registry.errors import NotAllowed
from registry.models import Unit
from registry.services.units import unit_update

from .admin_helpers import change_url, form_data, form_errors, messages_of, text_of

pytestmark = pytest.mark.django_db


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def fresh(unit):
    return Unit.objects.get(pk=unit.pk)


def test_support_desk_changes_phone_with_a_reason(make_tree, support):
    unit = make_tree()["ie"]
    client = client_for(support)
    page = client.get(change_url(unit))
    assert page.status_code == 200
    response = client.post(change_url(unit), form_data(page, phone="11223344", reason="Klinikken ringede"))
    assert response.status_code == 302, form_errors(response)
    saved = fresh(unit)
    assert saved.phone == "11223344"
    latest = saved.history.order_by("-history_id").first()
    assert (latest.history_user, latest.history_change_reason, latest.origin) == (support, "Klinikken ringede", "admin")


def test_support_desk_sees_register_data_read_only_and_cannot_change_the_name(make_tree, support):
    unit = make_tree()["ie"]
    client = client_for(support)
    page = client.get(change_url(unit))
    form = page.context["adminform"].form
    assert "phone" in form.fields
    assert "name" not in form.fields and "provider_number" not in form.fields
    data = form_data(page, reason="Forsøg")
    data["name"] = "Nyt navn"  # a forged field is ignored: it is not on the support desk's form
    client.post(change_url(unit), data)
    assert fresh(unit).name == unit.name
    with pytest.raises(NotAllowed):
        unit_update(actor=support, reason="x", unit=unit.pk, changes={"name": "Nyt navn"})


def test_a_change_without_a_reason_is_refused_and_nothing_is_saved(make_tree, sor_admin):
    unit = make_tree()["ie"]
    client = client_for(sor_admin)
    page = client.get(change_url(unit))
    response = client.post(change_url(unit), form_data(page, phone="11223344", reason=""))
    assert response.status_code == 200
    assert "Skriv en begrundelse for ændringen." in form_errors(response)["reason"]
    assert fresh(unit).phone == unit.phone


def test_a_field_error_from_the_service_is_shown_on_that_field(make_tree, sor_admin):
    unit = make_tree()["ie"]
    client = client_for(sor_admin)
    page = client.get(change_url(unit))
    response = client.post(change_url(unit), form_data(page, postal_post_code="97", reason="Ret postnummer"))
    assert response.status_code == 200
    assert any("4 cifre" in msg for msg in form_errors(response)["postal_post_code"])
    summary = response.content.decode().split('id="sor-error-summary"')[1].split("</div>")[0]
    assert "postnummer" in summary and "Et postnummer har 4 cifre" in summary  # listed at the top too
    assert fresh(unit).postal_post_code == "9700"


def test_a_warning_blocks_until_staff_tick_save_despite_warnings(make_tree, sor_admin):
    oe = make_tree()["oe"]
    client = client_for(sor_admin)
    page = client.get(change_url(oe))
    warned = client.post(change_url(oe), form_data(page, provider_number="99019062", reason="Dublet"))
    assert warned.status_code == 200
    errors = form_errors(warned)
    assert any("starter med 99" in msg for msg in errors["provider_number"])
    assert "override_warnings" in errors
    assert fresh(oe).provider_number != "99019062"
    saved = client.post(change_url(oe), form_data(warned, override_warnings=True))
    assert saved.status_code == 302, form_errors(saved)
    assert fresh(oe).provider_number == "99019062"


def test_a_warning_only_page_is_styled_as_warning_with_save_anyway_at_the_top(make_tree, sor_admin):
    oe = make_tree()["oe"]
    client = client_for(sor_admin)
    page = client.get(change_url(oe))
    warned = client.post(change_url(oe), form_data(page, provider_number="99019062", reason="Dublet"))
    html = warned.content.decode()
    assert 'class="errornote"' not in html  # nothing says the form cannot be saved
    summary = html.split('id="sor-warning-summary"')[1].split("</div>")[0]
    assert "starter med 99" in summary
    assert 'name="override_warnings" value="on"' in summary  # the save-anyway button sits with the warnings
    row = html.split("field-provider_number")[1].split("</div>")[0]
    assert '<li class="sor-warning">Advarsel:' in row  # the field's message is a warning, not an error
    assert html.index('id="sor-warning-summary"') < html.index('id="id_provider_number"')
    saved = client.post(change_url(oe), {**form_data(warned), "override_warnings": "on"})
    assert saved.status_code == 302, form_errors(saved)
    assert fresh(oe).provider_number == "99019062"


def test_an_error_beside_a_warning_keeps_the_error_summary_and_no_save_anyway(make_tree, sor_admin):
    oe = make_tree()["oe"]
    client = client_for(sor_admin)
    page = client.get(change_url(oe))
    response = client.post(change_url(oe), form_data(page, provider_number="99019062", postal_post_code="97",
                                                     postal_present=True, reason="Dublet"))
    html = response.content.decode()
    assert "starter med 99" in html.split('id="sor-warning-summary"')[1].split("</div>")[0]
    assert 'id="sor-save-anyway"' not in html  # an error must be fixed first
    assert "4 cifre" in html.split('id="sor-error-summary"')[1].split("</div>")[0]
    assert fresh(oe).provider_number != "99019062"


def test_second_of_two_concurrent_edits_gets_a_conflict_and_the_first_stays(make_tree, sor_admin, support):
    unit = make_tree()["ie"]
    first, second = client_for(sor_admin), client_for(support)
    page_first, page_second = first.get(change_url(unit)), second.get(change_url(unit))
    ok = first.post(change_url(unit), form_data(page_first, phone="11111111", reason="Første"))
    assert ok.status_code == 302, form_errors(ok)
    conflict = second.post(change_url(unit), form_data(page_second, phone="22222222", reason="Anden"))
    assert conflict.status_code == 200
    assert any("er ændret af sor-admin" in msg for msg in form_errors(conflict)["__all__"])
    assert fresh(unit).phone == "11111111"
    assert fresh(unit).history.count() == 2  # creation + the first change only


def test_guest_can_view_a_unit_but_not_change_it(make_tree, guest):
    unit = make_tree()["ie"]
    client = client_for(guest)
    page = client.get(change_url(unit))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="reason"' not in html and 'name="phone"' not in html
    assert "98765432" in html  # but reads the values
    response = client.post(change_url(unit), {"phone": "11223344", "reason": "x"})
    assert response.status_code == 403
    assert fresh(unit).phone == unit.phone


def test_outsider_gets_no_access_to_units(make_tree, outsider):
    unit = make_tree()["ie"]
    client = client_for(outsider)
    assert client.get("/admin/registry/unit/").status_code == 403
    assert client.get(change_url(unit)).status_code == 403


def test_regional_administrator_reads_another_regions_unit_but_cannot_change_or_close_it(make_tree, regional):
    other = make_tree(region_code="1084", name="Klinik Hovedstaden")["ie"]
    own = make_tree()["ie"]
    client = client_for(regional)
    get = client.get(change_url(other))
    assert get.status_code == 200  # SOR is public: every staff role reads the whole register
    html = get.content.decode()
    assert 'name="_save"' not in html and 'name="reason"' not in html  # shown read-only
    assert "Luk enhed" not in html
    post = client.post(change_url(other), {"phone": "11223344", "reason": "Forsøg", "seen_version": other.version})
    assert post.status_code == 403
    assert fresh(other).phone == other.phone
    assert client.get(f"/admin/registry/unit/{other.pk}/history/").status_code == 200
    refused = client.get(f"/admin/registry/unit/{other.pk}/close/")  # a link followed by URL: told why
    assert refused.status_code == 302 and refused["Location"] == change_url(other)
    assert any(f"ikke ret til at lukke {other}" in m and "Din rolle: Regional administrator" in m
               for m in messages_of(refused))
    assert client.post(f"/admin/registry/unit/{other.pk}/close/", {"to_date": "2030-01-01",
                                                                   "reason": "Forsøg"}).status_code == 403
    assert fresh(other).to_date is None
    # The list opens on the administrator's own region; "Alle regioner" shows the rest.
    listed = {u.pk for u in client.get("/admin/registry/unit/").context["cl"].result_list}
    assert own.pk in listed and other.pk not in listed
    everything = {u.pk for u in client.get("/admin/registry/unit/", {"region": "all"}).context["cl"].result_list}
    assert {own.pk, other.pk} <= everything
    with pytest.raises(NotAllowed):
        unit_update(actor=regional, reason="x", unit=other.pk, changes={"phone": "11223344"})


def test_regional_administrator_maintains_units_of_own_region(make_tree, regional):
    own = make_tree()["si"]
    client = client_for(regional)
    page = client.get(change_url(own))
    assert page.status_code == 200
    response = client.post(change_url(own), form_data(page, name="Lægerne Østergade, klinikken",
                                                      reason="Navneændring"))
    assert response.status_code == 302, form_errors(response)
    assert fresh(own).name == "Lægerne Østergade, klinikken"


def test_change_page_shows_tree_children_and_where_effective_values_come_from(make_tree, sor_admin):
    tree = make_tree()
    client = client_for(sor_admin)
    page = client.get(change_url(tree["oe"]))
    html = page.content.decode()
    text = text_of(page)
    assert f'href="/admin/registry/unit/{tree["ie"].pk}/change/"' in html  # breadcrumb to the owner
    assert f'href="/admin/registry/unit/{tree["si"].pk}/change/"' in html
    assert f'href="/admin/registry/unit/{tree["leaf"].pk}/change/"' in html  # child
    assert "IE: Lægerne Østergade › SI: Lægerne Østergade klinik › OE: Lægerne Østergade ydernummer" in text
    assert "Østergade 70, 9700 Brønderslev arvet fra IE: Lægerne Østergade" in text
    assert "= egen besøgsadresse" in text or "= egen postadresse" in text
    own = client.get(change_url(tree["ie"]))
    assert "Østergade 70, 9700 Brønderslev egen" in text_of(own)


def test_sor_admin_adds_a_unit_under_a_chosen_parent(make_tree, sor_admin):
    si = make_tree()["si"]
    client = client_for(sor_admin)
    page = client.get("/admin/registry/unit/add/")
    data = form_data(page, level="OE", parent=str(si.pk), name="Ny afdeling", reason="Ny enhed")
    response = client.post("/admin/registry/unit/add/", data)
    assert response.status_code == 302, form_errors(response)
    created = Unit.objects.get(name="Ny afdeling")
    assert (created.parent_id, created.owner_id, created.region_id) == (si.pk, si.owner_id, si.region_id)
    assert created.history.get().history_change_reason == "Ny enhed"


def test_adding_an_owner_under_a_parent_is_refused_with_a_message(make_tree, sor_admin):
    si = make_tree()["si"]
    client = client_for(sor_admin)
    page = client.get("/admin/registry/unit/add/")
    response = client.post("/admin/registry/unit/add/",
                           form_data(page, level="IE", parent=str(si.pk), name="Forkert", reason="x"))
    assert response.status_code == 200
    assert any("institutionsejer kan ikke have en overordnet" in m for m in form_errors(response)["__all__"])
    assert not Unit.objects.filter(name="Forkert").exists()


def test_closing_a_unit_and_its_children_through_the_admin(make_tree, sor_admin):
    tree = make_tree()
    client = client_for(sor_admin)
    url = f"/admin/registry/unit/{tree['oe'].pk}/close/"
    page = client.get(url)
    assert page.status_code == 200
    refused = client.post(url, {"to_date": "2026-12-31", "reason": "Lukker", "seen_version": tree["oe"].version})
    assert refused.status_code == 200
    assert "1 underenhed er stadig åben efter" in text_of(refused)  # the leaf below the OE
    assert fresh(tree["oe"]).to_date is None
    done = client.post(url, {"to_date": "2026-12-31", "reason": "Lukker", "include_descendants": "on",
                             "seen_version": tree["oe"].version})
    assert done.status_code == 302
    assert fresh(tree["oe"]).to_date == dt.date(2026, 12, 31)
    assert fresh(tree["leaf"]).to_date == dt.date(2026, 12, 31)
    assert Unit.objects.filter(pk=tree["leaf"].pk).exists()


def test_support_desk_may_not_close_units(make_tree, support):
    unit = make_tree()["oe"]
    client = client_for(support)
    assert "Luk enhed" not in client.get(change_url(unit)).content.decode()
    response = client.post(f"/admin/registry/unit/{unit.pk}/close/",
                           {"to_date": "2026-12-31", "reason": "x", "seen_version": unit.version})
    assert response.status_code == 403
    assert fresh(unit).to_date is None


def test_no_delete_permission_or_action_anywhere(make_tree, sor_admin, personas):
    unit = make_tree()["ie"]
    superuser = type(sor_admin).objects.create_superuser("root", password="root")
    request = RequestFactory().get("/admin/")
    for user in (superuser, sor_admin, personas["support"], personas["region-nord"]):
        request.user = user
        for model, model_admin in admin.site._registry.items():
            if model._meta.app_label != "registry":
                continue
            assert not model_admin.has_delete_permission(request), model
            assert "delete_selected" not in model_admin.get_actions(request), model
    client = client_for(superuser)
    assert client.get(f"/admin/registry/unit/{unit.pk}/delete/").status_code == 403
    assert client.post(f"/admin/registry/unit/{unit.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Unit.objects.filter(pk=unit.pk).exists()


def test_regional_administrator_adds_units_only_under_own_region(make_tree, regional):
    own = make_tree()["si"]
    other = make_tree(region_code="1084", name="Klinik Hovedstaden")["si"]
    client = client_for(regional)
    page = client.get("/admin/registry/unit/add/")
    refused = client.post("/admin/registry/unit/add/",
                          form_data(page, level="OE", parent=str(other.pk), name="Fremmed", reason="x"))
    assert refused.status_code == 200
    assert "parent" in form_errors(refused)
    assert not Unit.objects.filter(name="Fremmed").exists()
    added = client.post("/admin/registry/unit/add/",
                        form_data(page, level="OE", parent=str(own.pk), name="Egen afdeling", reason="Ny"))
    assert added.status_code == 302, form_errors(added)
    assert Unit.objects.get(name="Egen afdeling").region_id == own.region_id


def test_closing_selected_units_from_the_changelist_in_one_batch(make_tree, sor_admin, support):
    first, second = make_tree(), make_tree(name="Lægerne Vestergade")
    targets = [first["oe"].pk, second["si"].pk]
    client = client_for(sor_admin)
    base = {"action": "close_units", "_selected_action": targets}
    confirm = client.post("/admin/registry/unit/", base)
    assert confirm.status_code == 200
    assert "Luk valgte enheder" in text_of(confirm)
    refused = client.post("/admin/registry/unit/", {**base, "apply": "1", "to_date": "2026-12-31", "reason": "Lukker"})
    assert refused.status_code == 200  # children still open and not included: nothing is closed
    assert "1 underenhed er stadig åben efter" in text_of(refused)  # the first OE still has its leaf
    assert not Unit.objects.filter(pk__in=targets, to_date__isnull=False).exists()
    done = client.post("/admin/registry/unit/", {**base, "apply": "1", "to_date": "2026-12-31", "reason": "Lukker",
                                                 "include_descendants": "on"})
    assert done.status_code == 302
    closed = Unit.objects.filter(to_date=dt.date(2026, 12, 31))
    assert set(closed.values_list("pk", flat=True)) == {first["oe"].pk, first["leaf"].pk, second["si"].pk,
                                                        second["oe"].pk, second["leaf"].pk}
    batches = {u.history.order_by("-history_id").first().operation_id for u in closed}
    assert len(batches) == 1
    support_page = client_for(support).get("/admin/registry/unit/")
    assert "close_units" not in support_page.content.decode()


def test_saving_without_changes_says_nothing_was_changed(make_tree, sor_admin):
    unit = make_tree()["ie"]
    client = client_for(sor_admin)
    page = client.get(change_url(unit))
    before = unit.history.count()
    response = client.post(change_url(unit), form_data(page, reason="Kontrol"))
    assert response.status_code == 302 and response["Location"] == change_url(unit)
    shown = messages_of(response)
    assert any("Intet blev ændret" in m for m in shown) and not any("blev ændret" in m and "Intet" not in m
                                                                  for m in shown)
    assert fresh(unit).history.count() == before


def test_a_refusal_is_a_danish_admin_page_naming_the_role_and_logs_one_line(make_tree, guest):
    import io
    import logging

    from sor_admin.logs import OneLineRefusals

    unit = make_tree()["ie"]
    client = client_for(guest)
    handler = next(h for h in logging.getLogger("django.request").handlers
                   if any(isinstance(f, OneLineRefusals) for f in h.filters))
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        response = client.post(f"/admin/registry/unit/{unit.pk}/close/", {"to_date": "2030-01-01", "reason": "x"})
    finally:
        handler.setStream(previous)
    assert response.status_code == 403
    html = response.content.decode()
    h1 = html.split("<h1>")[1].split("</h1>")[0]
    assert h1 == "Du har ikke ret til at lukke SOR-enhed" and "403 Forbidden" not in html
    roles = html.split('id="denied-roles"')[1].split("</ul>")[0]
    assert "Gæst" in roles and "ændrer intet" in roles
    assert 'id="site-name"' in html  # the admin's own page, not a bare one
    logged = stream.getvalue().strip().splitlines()
    assert len(logged) == 1 and "Forbidden" in logged[0] and "Traceback" not in stream.getvalue()
    assert fresh(unit).to_date is None


@pytest.mark.parametrize(("url", "named"), [
    ("/admin/registry/unit/add/", "oprette SOR-enheder"),
    ("/admin/registry/unit/import/", "importere rettelser fra regneark"),
    ("/admin/sor-import/", "importere SOR-filer"),
    ("/admin/exports/exportrun/run-now/", "starte en publiceringskørsel"),
])
def test_a_guests_refused_page_names_the_action_refused(guest, url, named):
    response = client_for(guest).get(url)
    assert response.status_code == 403
    h1 = response.content.decode().split("<h1>")[1].split("</h1>")[0]
    assert h1 == f"Du har ikke ret til at {named}"


def test_a_refused_action_link_names_the_action_on_the_units_page(make_tree, support):
    unit = make_tree()["ie"]
    response = client_for(support).get(f"/admin/registry/unit/{unit.pk}/close/", follow=True)
    shown = [str(m) for m in response.context["messages"]]
    assert any(m.startswith(f"Du har ikke ret til at lukke {unit}") for m in shown), shown


def test_a_unit_closed_today_says_lukkes_with_its_date_and_can_be_reopened(make_tree, sor_admin):
    from django.utils import timezone

    from registry.services.units import unit_close

    tree = make_tree()
    today = timezone.localdate()
    unit_close(actor=None, reason="Lukker i dag", origin="command", unit=tree["oe"], to_date=today,
               include_descendants=True)
    client = client_for(sor_admin)
    shown = f"lukkes {today:%d-%m-%Y}"
    page = client.get(change_url(tree["oe"])).content.decode()
    import re

    status = re.search(r'field-status_display">\s*<label[^>]*>Status:</label>\s*<div class="readonly">(.*?)</div>',
                       page, re.S).group(1)
    assert status.strip() == shown
    assert "Ret lukkedato" in page and "Genåbn enhed" in page
    listed = client.get(f"/admin/registry/unit/?status=closing&q={tree['leaf'].pk}&region=all").content.decode()
    cell = listed.split('class="field-status_display"')[1].split("</td>")[0]
    assert shown in cell  # the child closed with it says the same

    reopen_url = f"/admin/registry/unit/{tree['oe'].pk}/reopen/"
    form = client.get(reopen_url)
    response = client.post(reopen_url, {"reason": "Lukket ved en fejl", "seen_version": fresh(tree["oe"]).version})
    assert response.status_code == 302, text_of(response)[:2000]
    assert fresh(tree["oe"]).to_date is None and fresh(tree["leaf"]).to_date is None
    assert "genåbnet" in messages_of(response)[0] and form.status_code == 200
    assert fresh(tree["oe"]).history.first().history_change_reason == "Lukket ved en fejl"


def test_reopening_under_a_closed_parent_is_refused(make_tree, sor_admin):
    import datetime as dt

    from registry.services.units import unit_close

    tree = make_tree()
    unit_close(actor=None, reason="Lukket", origin="command", unit=tree["si"], to_date=dt.date(2024, 1, 1),
               include_descendants=True)
    client = client_for(sor_admin)
    response = client.post(f"/admin/registry/unit/{tree['oe'].pk}/reopen/",
                           {"reason": "x", "seen_version": fresh(tree["oe"]).version})
    assert response.status_code == 200 and "genåbn den først" in text_of(response)
    assert fresh(tree["oe"]).to_date == dt.date(2024, 1, 1)


def test_own_contact_data_starts_from_the_inherited_values_and_warns_what_changes_below(make_tree, sor_admin):
    tree = make_tree()
    si = tree["si"]  # inherits phone 98765432 and klinik@example.dk from the owner
    client = client_for(sor_admin)
    page = client.get(change_url(si))
    form = page.context["adminform"].form
    assert form["phone"].value() == "98765432" and form["email"].value() == "klinik@example.dk"  # pre-filled
    assert f"Arvet fra {tree['ie']}" in str(form.fields["phone"].help_text)  # and said to be inherited
    # Tick "own electronic addresses" and change only the phone.
    data = form_data(page, virtual_present=True, phone="11223344", reason="Egen telefon")
    warned = client.post(change_url(si), data)
    assert warned.status_code == 200
    message = " ".join(form_errors(warned).get("virtual_present", []))
    assert "98765432 → 11223344" in message and "2 enheder nedenunder" in message
    assert str(tree["leaf"]) in message
    assert "klinik@example.dk" not in message  # the e-mail does not change: it was pre-filled and kept
    assert fresh(si).virtual_present is False  # nothing saved before the warning is accepted
    saved = client.post(change_url(si), {**data, "override_warnings": "on"})
    assert saved.status_code == 302, form_errors(saved)
    unit = fresh(si)
    assert (unit.virtual_present, unit.phone, unit.email) == (True, "11223344", "klinik@example.dk")  # e-mail kept


@pytest.mark.parametrize("key", ["ie", "si", "leaf"])
def test_the_unit_page_needs_at_most_20_queries_whatever_its_children_and_numbers(make_tree, sor_admin, key):
    import datetime as dt

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from registry.services.location_numbers import location_number_assign, location_number_close
    from registry.services.units import unit_create
    from tests.factories import gln, location_codes

    tree = make_tree()
    unit = tree[key]
    cmd = {"actor": None, "reason": "t", "origin": "command"}
    client = client_for(sor_admin)

    def page_queries():
        client.get(change_url(unit))  # warm the session and permission caches
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(change_url(unit))
        assert response.status_code == 200
        return len(ctx.captured_queries)

    first = location_number_assign(unit=unit, gln=gln(40), from_date=dt.date(2020, 1, 1), **location_codes(), **cmd)
    small = page_queries()
    # More children and more location numbers of its own: the count stays.
    for i in range(6):
        unit_create(level="OE", parent=unit if key != "ie" else tree["si"], name=f"Afdeling {i}", **cmd)
    location_number_close(location_number=first, to_date=dt.date(2020, 6, 30), **cmd)
    location_number_assign(unit=unit, gln=gln(41), from_date=dt.date(2020, 7, 1), **location_codes(), **cmd)
    large = page_queries()
    assert large == small and large <= 20, (small, large)


def test_changing_an_inherited_phone_without_ticking_own_says_what_to_do(make_tree, sor_admin):
    si = make_tree()["si"]  # inherits its electronic addresses
    client = client_for(sor_admin)
    page = client.get(change_url(si))
    response = client.post(change_url(si), form_data(page, phone="11223344", reason="Ny telefon"))
    assert response.status_code == 200
    message = " ".join(form_errors(response)["virtual_present"])
    assert "arves nu ovenfra" in message and "Sæt kryds" in message and "ryd felterne" not in message
    assert fresh(si).phone == ""
