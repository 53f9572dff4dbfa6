"""Code list and location number admins: edits through the services with a reason, the code fixed
after creation, retiring with a successor, closing a location number, and who may do what."""

import datetime as dt

import pytest
from django.test import Client

from registry.models import ClinicalSpeciality, EdiMessageType, LocationNumber, Municipality, Region, Unit
from registry.services.location_numbers import location_number_assign
from tests.factories import location_codes as _codes

from .admin_helpers import form_data, form_errors, text_of

pytestmark = pytest.mark.django_db

GLN = "5790000123452"
OTHER_GLN = "5790000123469"


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


# ---------------------------------------------------------------- code lists

def test_sor_admin_renames_a_code_with_a_reason_and_the_code_itself_stays(sor_admin):
    region = Region.objects.get(code="1081")
    client = client_for(sor_admin)
    url = f"/admin/registry/region/{region.pk}/change/"
    page = client.get(url)
    assert "code" not in page.context["adminform"].form.fields  # read-only after creation
    data = form_data(page, name_da="Region Nordjylland (ny)", reason="Nyt navn")
    data["code"] = "9999"  # a forged code is ignored
    response = client.post(url, data)
    assert response.status_code == 302, form_errors(response)
    region.refresh_from_db()
    assert (region.code, region.name_da) == ("1081", "Region Nordjylland (ny)")
    assert region.history.order_by("-history_id").first().history_change_reason == "Nyt navn"


def test_adding_a_code_that_exists_is_refused_on_the_code_field(sor_admin):
    client = client_for(sor_admin)
    page = client.get("/admin/registry/region/add/")
    response = client.post("/admin/registry/region/add/", form_data(page, code="1081", name_da="Dublet",
                                                                      reason="Ny region"))
    assert response.status_code == 200
    assert any("findes allerede" in m for m in form_errors(response)["code"])
    created = client.post("/admin/registry/region/add/", form_data(page, code="1099", name_da="Testregion",
                                                                     reason="Ny region"))
    assert created.status_code == 302, form_errors(created)
    assert Region.objects.get(code="1099").history.get().history_change_reason == "Ny region"


def test_retiring_a_code_points_to_its_successor(sor_admin):
    old, new = ClinicalSpeciality.objects.order_by("code")[:2]
    client = client_for(sor_admin)
    url = f"/admin/registry/clinicalspeciality/{old.pk}/retire/"
    assert client.get(url).status_code == 200
    self_successor = client.post(url, {"successor": old.pk, "reason": "Udgår"})
    assert self_successor.status_code == 200  # not offered as a choice
    old.refresh_from_db()
    assert not old.retired
    response = client.post(url, {"successor": new.pk, "reason": "Udgår"})
    assert response.status_code == 302
    old.refresh_from_db()
    assert old.retired and old.successor == new


@pytest.mark.parametrize("persona", ["support", "region-nord", "guest"])
def test_only_sor_admins_edit_code_lists_others_read_them(personas, persona):
    municipality = Municipality.objects.first()
    client = client_for(personas[persona])
    url = f"/admin/registry/municipality/{municipality.pk}/change/"
    assert client.get(url).status_code == 200
    assert 'name="name_da"' not in client.get(url).content.decode()
    assert client.post(url, {"name_da": "Ændret", "reason": "x"}).status_code == 403
    assert client.post(f"/admin/registry/municipality/{municipality.pk}/retire/", {"reason": "x"}).status_code == 403
    assert client.get("/admin/registry/municipality/add/").status_code == 403
    municipality.refresh_from_db()
    assert municipality.name_da != "Ændret"


def test_every_code_list_has_an_admin_with_search_and_filters(sor_admin):
    client = client_for(sor_admin)
    for model in ("ownertype", "entitytype", "clinicalspeciality", "specialitytype", "region", "municipality",
                  "postaldistrict", "networkoperator", "systemsupplier", "systemtype", "ediadministrator",
                  "edimessagetype"):
        response = client.get(f"/admin/registry/{model}/", {"q": "1", "retired__exact": "0"})
        assert response.status_code == 200, model


def test_code_search_finds_by_code_and_name(sor_admin):
    client = client_for(sor_admin)
    response = client.get("/admin/registry/region/", {"q": "nordjylland"})
    assert [r.code for r in response.context["cl"].result_list] == ["1081"]


# ---------------------------------------------------------------- location numbers

@pytest.fixture
def with_gln(make_tree, sor_admin):
    tree = make_tree()
    ln = location_number_assign(actor=sor_admin, reason="GLN tildelt", unit=tree["oe"], gln=GLN, **_codes())
    return tree, ln


def test_location_number_search_by_gln_and_unit_name(with_gln, sor_admin):
    _tree, ln = with_gln
    client = client_for(sor_admin)
    assert [x.pk for x in client.get("/admin/registry/locationnumber/", {"q": GLN}).context["cl"].result_list] \
        == [ln.pk]
    by_name = client.get("/admin/registry/locationnumber/", {"q": "ydernummer"}).context["cl"].result_list
    assert [x.pk for x in by_name] == [ln.pk]
    assert client.get("/admin/registry/locationnumber/", {"active": "yes"}).status_code == 200


def test_location_number_edit_and_message_types_in_one_save(with_gln, sor_admin):
    _tree, ln = with_gln
    message_type = EdiMessageType.objects.first()
    client = client_for(sor_admin)
    url = f"/admin/registry/locationnumber/{ln.pk}/change/"
    page = client.get(url)
    response = client.post(url, form_data(page, note="Ny note", edi_message_types=[str(message_type.pk)],
                                          reason="Rettet"))
    assert response.status_code == 302, form_errors(response)
    ln.refresh_from_db()
    assert ln.note == "Ny note"
    assert list(ln.message_types.all()) == [message_type]
    batches = {ln.history.order_by("-history_id").first().operation_id,
               ln.message_type_links.get().history.first().operation_id}
    assert len(batches) == 1  # one change, one batch


def test_location_number_conflict_when_someone_else_saved_first(with_gln, sor_admin, regional):
    _tree, ln = with_gln
    first, second = client_for(sor_admin), client_for(regional)
    url = f"/admin/registry/locationnumber/{ln.pk}/change/"
    page_first, page_second = first.get(url), second.get(url)
    assert first.post(url, form_data(page_first, note="Først", reason="a")).status_code == 302
    conflict = second.post(url, form_data(page_second, note="Anden", reason="b"))
    assert conflict.status_code == 200
    assert "ændret af en anden" in text_of(conflict)
    ln.refresh_from_db()
    assert ln.note == "Først"


def test_assigning_a_location_number_through_the_admin(make_tree, sor_admin):
    oe = make_tree()["oe"]
    codes = _codes()
    client = client_for(sor_admin)
    page = client.get("/admin/registry/locationnumber/add/")
    data = form_data(page, unit=str(oe.pk), gln=OTHER_GLN, reason="Ny GLN",
                     **{name: str(value.pk) for name, value in codes.items()})
    bad = client.post("/admin/registry/locationnumber/add/", {**data, "gln": "5790000123450"})
    assert bad.status_code == 200
    assert any("kontrolciffer" in m for m in form_errors(bad)["gln"])
    response = client.post("/admin/registry/locationnumber/add/", data)
    assert response.status_code == 302, form_errors(response)
    assert LocationNumber.objects.get(gln=OTHER_GLN).unit_id == oe.pk
    assert Unit.objects.get(pk=oe.pk).location_mode == "own"


def test_closing_a_location_number_keeps_it(with_gln, sor_admin):
    _tree, ln = with_gln
    client = client_for(sor_admin)
    url = f"/admin/registry/locationnumber/{ln.pk}/close/"
    response = client.post(url, {"to_date": "2026-12-31", "reason": "Lukket"})
    assert response.status_code == 302
    ln.refresh_from_db()
    assert ln.to_date == dt.date(2026, 12, 31)


def test_regional_administrator_reads_but_cannot_change_another_regions_location_numbers(make_tree, sor_admin,
                                                                                        regional):
    other = make_tree(region_code="1084", name="Klinik Hovedstaden")
    ln = location_number_assign(actor=sor_admin, reason="GLN", unit=other["oe"], gln=GLN, **_codes())
    client = client_for(regional)
    page = client.get(f"/admin/registry/locationnumber/{ln.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.post(f"/admin/registry/locationnumber/{ln.pk}/change/", {"note": "x", "reason": "x"}).status_code == 403
    assert client.post(f"/admin/registry/locationnumber/{ln.pk}/close/",
                       {"to_date": "2026-12-31", "reason": "x"}).status_code == 403
    ln.refresh_from_db()
    assert ln.to_date is None


def test_a_14_digit_location_number_is_answered_with_the_rule_not_cut(make_tree, sor_admin):
    oe = make_tree()["oe"]
    client = client_for(sor_admin)
    page = client.get("/admin/registry/locationnumber/add/")
    gln_input = page.content.decode().split('name="gln"')[1].split(">")[0]
    assert "maxlength" not in gln_input  # the browser does not cut what is typed
    data = form_data(page, unit=str(oe.pk), reason="Ny GLN", **{n: str(v.pk) for n, v in _codes().items()})
    response = client.post("/admin/registry/locationnumber/add/", {**data, "gln": OTHER_GLN + "7"})
    assert response.status_code == 200
    message = " ".join(form_errors(response)["gln"])
    assert "har 14" in message and "et ciffer for meget" in message
    assert not LocationNumber.objects.filter(unit=oe).exists()


def test_the_unit_picker_shows_level_and_parent(make_tree, sor_admin):
    tree = make_tree(name="Lægerne Østergade")
    client = client_for(sor_admin)
    response = client.get("/admin/autocomplete/", {"term": "Lægerne Østergade", "app_label": "registry",
                                                   "model_name": "locationnumber", "field_name": "unit"})
    assert response.status_code == 200
    texts = {int(r["id"]): r["text"] for r in response.json()["results"]}
    assert "institutionsejer" in texts[tree["ie"].pk] and "under" not in texts[tree["ie"].pk]
    assert "sundhedsinstitution" in texts[tree["si"].pk] and f"under Lægerne Østergade ({tree['ie'].pk})" in texts[
        tree["si"].pk]


def test_a_code_without_a_danish_name_says_so_instead_of_showing_english_as_danish(sor_admin):
    from registry.models import EntityType

    code = EntityType.objects.get(code="255203001")
    assert code.name_da == "" and code.name_en == "Additional values"
    assert str(code) == "dansk navn ukendt; engelsk: Additional values (255203001)"
    page = client_for(sor_admin).get("/admin/registry/entitytype/?q=255203001").content.decode()
    cell = page.split('class="field-danish_name"')[1].split("</td>")[0]
    assert "dansk navn ukendt" in cell and "Additional values" not in cell
