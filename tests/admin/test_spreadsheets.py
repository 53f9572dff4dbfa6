"""Spreadsheets of units through the admin (django-import-export): export of the filtered list as
CSV/XLSX, and import of corrections with a preview that writes nothing, a confirm step that writes
every row through the services in one history batch, and row-numbered refusals."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, TestCase
from stdnum import ean

from registry.identifiers import sor_id_for_sequence
from registry.models import ChangeEvent, Operation, Unit
from registry.services.location_numbers import location_number_assign
from registry.services.units import unit_update
from registry.sheets import SOR_ID_HEADER, UnitResource

from .admin_helpers import text_of

pytestmark = pytest.mark.django_db

EXPORT_URL = "/admin/registry/unit/export/"
IMPORT_URL = "/admin/registry/unit/import/"
CHANGELIST_URL = "/admin/registry/unit/"
FORMAT = {"csv": "0", "xlsx": "1"}


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def fresh(unit):
    return Unit.objects.get(pk=unit.pk)


def export(client, fmt="csv", query=""):
    page = client.get(EXPORT_URL + query)
    assert page.status_code == 200
    data = {"format": FORMAT[fmt], "resource": "0"}
    for name, field in page.context["form"].fields.items():
        if getattr(field, "is_selectable_field", False):
            data[name] = "on"
    response = client.post(EXPORT_URL + query, data)
    assert response.status_code == 200, text_of(response)[:2000]
    return response


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))


def csv_bytes(rows: list[dict], delimiter=";") -> bytes:
    out = io.StringIO()
    fieldnames = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(out, fieldnames=fieldnames, delimiter=delimiter)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


@pytest.fixture(autouse=True)
def eager(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True


def upload(client, content: bytes, name="rettelser.csv", reason="Rettelser fra Region Nordjylland", **extra):
    """Upload, let the background dry run run (eagerly, after commit), and return the job page."""
    data = {"import_file": SimpleUploadedFile(name, content), "format": "", "resource": "0", "reason": reason}
    data.update(extra)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(IMPORT_URL, data)
    if response.status_code != 302:
        return response  # the upload form itself refused the file
    assert response["Location"].startswith("/admin/sor-import/jobs/"), response["Location"]
    return client.get(response["Location"])


def confirm(client, preview):
    """Confirm a previewed job, let the real import run, and return the new job's page."""
    assert preview.context["sheet_can_confirm"], text_of(preview)[:3000]
    job = preview.context["sheet_job"]
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(f"/admin/sor-import/jobs/{job.pk}/confirm/", {"reason": job.reason})
    assert response.status_code == 302
    return client.get(response["Location"])


def problems(response) -> list[dict]:
    return response.context["sheet_problems"]


def history_count():
    return Unit.history.count()


# ------------------------------------------------------------------------------------ export


def test_csv_export_of_a_filtered_list_contains_only_the_filtered_units(make_tree, sor_admin):
    alfa = make_tree(name="Alfa Lægehus")
    make_tree(name="Beta Klinik")
    client = client_for(sor_admin)

    response = export(client, "csv", "?q=Alfa&level__exact=OE")
    rows = csv_rows(response)

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.startswith("\ufeffSOR-ID;Niveau;Navn;".encode())  # BOM and semicolons for Excel

    assert sorted(int(r[SOR_ID_HEADER]) for r in rows) == sorted([alfa["oe"].pk, alfa["leaf"].pk])
    assert list(rows[0]) == UnitResource.headers()
    by_id = {int(r[SOR_ID_HEADER]): r for r in rows}
    assert by_id[alfa["oe"].pk]["Ydernummer"] == "019062"
    assert by_id[alfa["oe"].pk]["Overordnet SOR-ID"] == str(alfa["si"].pk)


def test_export_uses_the_unit_admin_search_so_a_sor_id_finds_its_unit(make_tree, sor_admin):
    tree = make_tree()
    make_tree(name="Anden Klinik")
    client = client_for(sor_admin)

    rows = csv_rows(export(client, "csv", f"?q={tree['si'].pk}"))

    assert [int(r[SOR_ID_HEADER]) for r in rows] == [tree["si"].pk]


def test_export_link_on_the_changelist_carries_the_current_filters(make_tree, sor_admin):
    make_tree()
    page = client_for(sor_admin).get(CHANGELIST_URL + "?q=Lægerne&level__exact=SI")
    html = page.content.decode()
    assert "Eksportér regneark" in html and "Importér rettelser" in html
    link = re.search(r'href="(/admin/registry/unit/export/[^"]*)"', html).group(1)
    assert parse_qs(urlsplit(unescape(link)).query) == {"q": ["Lægerne"], "level__exact": ["SI"]}


def test_regional_administrator_exports_only_units_of_their_region(make_tree, regional):
    nord = make_tree(region_code="1081")
    make_tree(region_code="1082", name="Midt Klinik")

    rows = csv_rows(export(client_for(regional), "csv"))

    assert sorted(int(r[SOR_ID_HEADER]) for r in rows) == sorted(u.pk for u in nord.values())


def test_xlsx_export_opens_with_openpyxl_with_exact_ids_and_the_effective_location_number(make_tree, sor_admin):
    tree = make_tree()
    location_number_assign(actor=None, reason="test", origin="command", unit=tree["ie"], gln="5790002401473",
                           strict=False)
    response = export(client_for(sor_admin), "xlsx", "?q=Lægerne")

    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert 'filename="sor-enheder-' in response["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == UnitResource.headers()
    by_id = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert set(by_id) == {str(u.pk) for u in tree.values()}  # text cells: every digit kept
    leaf = by_id[str(tree["leaf"].pk)]
    assert leaf["Gældende lokationsnummer"] == "5790002401473"  # inherited from the owner
    assert leaf["Niveau"] == "OE" and leaf["Gældende fra"] == "2020-01-01"
    assert by_id[str(tree["ie"].pk)]["Egen postadresse"] == "ja"


def test_export_of_a_long_list_makes_no_query_per_unit(make_tree, sor_admin, django_assert_max_num_queries):
    for i in range(6):
        make_tree(name=f"Klinik {i}")  # 24 units
    client = client_for(sor_admin)
    page = client.get(EXPORT_URL)
    data = {"format": FORMAT["csv"], "resource": "0"}
    data.update({n: "on" for n, f in page.context["form"].fields.items() if getattr(f, "is_selectable_field", False)})
    with django_assert_max_num_queries(12):
        response = client.post(EXPORT_URL, data)
    assert len(csv_rows(response)) == 24


def test_the_export_page_mentions_the_import_only_to_those_who_may_import(sor_admin, guest):
    def help_text(user):
        html = client_for(user).get(EXPORT_URL).content.decode()
        return html.split('id="sor-export-help">')[1].split("</p>")[0]

    assert "Importér rettelser" in help_text(sor_admin)
    assert "Importér rettelser" not in help_text(guest) and "egne (ikke nedarvede)" in help_text(guest)


def test_guest_may_export_but_not_import(make_tree, guest):
    make_tree()
    client = client_for(guest)
    assert len(csv_rows(export(client))) == 4
    assert client.get(IMPORT_URL).status_code == 403
    assert "Importér rettelser" not in client.get(CHANGELIST_URL).content.decode()


# ------------------------------------------------------------------------------------ import


def test_preview_shows_old_and_new_values_and_writes_nothing(make_tree, sor_admin):
    tree = make_tree()
    client = client_for(sor_admin)
    rows = csv_rows(export(client, "csv", "?q=Lægerne"))
    for row in rows:
        if int(row[SOR_ID_HEADER]) == tree["ie"].pk:
            row["Telefon"] = "11223344"
        if int(row[SOR_ID_HEADER]) == tree["oe"].pk:
            row["Navn"] = "Lægerne Østergade, afdeling Nord"
    before = history_count()
    operations, events = Operation.objects.count(), ChangeEvent.objects.count()

    preview = upload(client, csv_bytes(rows))

    assert preview.status_code == 200
    # A preview is not an import: no operation, no change-log event is left behind.
    assert (Operation.objects.count(), ChangeEvent.objects.count()) == (operations, events)
    assert problems(preview) == []
    changes = {c["sor_id"]: c["changes"] for c in preview.context["sheet_changes"]}
    assert changes == {
        tree["ie"].pk: [("Telefon", "98765432", "11223344")],
        tree["oe"].pk: [("Navn", "Lægerne Østergade ydernummer", "Lægerne Østergade, afdeling Nord")],
    }
    assert preview.context["sheet_totals"]["skip"] == 2
    names = {c["sor_id"]: c["name"] for c in preview.context["sheet_changes"]}
    assert names[tree["oe"].pk] == f"Lægerne Østergade ydernummer ({tree['oe'].pk})"  # as registered
    page = text_of(preview)
    assert "98765432" in page and "11223344" in page and "Intet er gemt endnu" in page
    assert fresh(tree["ie"]).phone == "98765432"
    assert fresh(tree["oe"]).name == "Lægerne Østergade ydernummer"
    assert history_count() == before


def test_confirm_writes_every_row_through_the_services_in_one_batch(make_tree, sor_admin):
    tree = make_tree()
    client = client_for(sor_admin)
    content = csv_bytes([
        {SOR_ID_HEADER: tree["ie"].pk, "Navn": tree["ie"].name, "Telefon": "11223344", "E-mail": "ny@example.dk"},
        {SOR_ID_HEADER: tree["oe"].pk, "Navn": "Lægerne Østergade, afdeling Nord", "Telefon": "", "E-mail": ""},
        {SOR_ID_HEADER: tree["leaf"].pk, "Navn": tree["leaf"].name, "Telefon": "", "E-mail": ""},  # unchanged
    ])
    preview = upload(client, content, name="rettelser-nord.csv", reason="Rettelser fra SORpost 4711")
    before = history_count()

    response = confirm(client, preview)

    assert response.status_code == 200 and response.context["sheet_job"].status == "succeeded"
    done = response.context["sheet_done"]
    assert "2 enheder rettet, 1 uændrede" in done and "2 enheder rettet, 1 uændrede" in text_of(response)
    ie, oe = fresh(tree["ie"]), fresh(tree["oe"])
    assert (ie.phone, ie.email, oe.name) == ("11223344", "ny@example.dk", "Lægerne Østergade, afdeling Nord")
    new_rows = list(Unit.history.order_by("history_id")[before:])
    assert sorted(r.sor_id for r in new_rows) == sorted([tree["ie"].pk, tree["oe"].pk])
    sha = hashlib.sha256(content).hexdigest()
    for row in new_rows:
        assert row.origin == "import"
        assert row.history_user == sor_admin
        assert row.history_change_reason == "Rettelser fra SORpost 4711"
    assert len({r.operation_id for r in new_rows}) == 1 and new_rows[0].operation_id is not None
    op = Operation.objects.get(pk=new_rows[0].operation_id)
    assert (op.kind, op.actor, op.reason) == ("spreadsheet_import", sor_admin, "Rettelser fra SORpost 4711")
    assert op.provenance == {"file_name": "rettelser-nord.csv", "sha256": sha, "size": len(content)}
    assert f"(operation {op.pk})" in done


def test_an_xlsx_file_is_imported_like_a_csv_file(make_tree, sor_admin):
    tree = make_tree()
    client = client_for(sor_admin)
    book = openpyxl.load_workbook(io.BytesIO(export(client, "xlsx", "?q=Lægerne").content))
    sheet = book.active
    headers = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        if row[0].value == str(tree["ie"].pk):
            row[headers.index("Telefon")].value = "22334455"
    out = io.BytesIO()
    book.save(out)

    preview = upload(client, out.getvalue(), name="rettelser.xlsx")
    assert [c["sor_id"] for c in preview.context["sheet_changes"]] == [tree["ie"].pk]
    confirm(client, preview)
    assert fresh(tree["ie"]).phone == "22334455"


def test_an_unchanged_export_imports_as_nothing_to_change(make_tree, sor_admin):
    make_tree()
    client = client_for(sor_admin)
    for fmt, name in (("csv", "uændret.csv"), ("xlsx", "uændret.xlsx")):
        preview = upload(client, export(client, fmt).content, name=name)
        assert problems(preview) == [], problems(preview)
        assert preview.context["sheet_totals"]["update"] == 0 and preview.context["sheet_totals"]["skip"] == 4
        assert not preview.context["sheet_can_confirm"]
        assert "Filen indeholder ingen rettelser" in text_of(preview)


def test_unknown_sor_id_and_bad_cvr_are_refused_by_row_number_and_nothing_is_written(make_tree, sor_admin):
    tree = make_tree()
    unknown = sor_id_for_sequence(987654)
    content = csv_bytes([
        {SOR_ID_HEADER: tree["ie"].pk, "Telefon": "11223344", "CVR-nummer": ""},
        {SOR_ID_HEADER: unknown, "Telefon": "11223344", "CVR-nummer": ""},
        {SOR_ID_HEADER: tree["si"].pk, "Telefon": "", "CVR-nummer": "1234"},
    ])
    client = client_for(sor_admin)
    before = history_count()

    preview = upload(client, content)

    found = {(p["line"], p["column"]): p["message"] for p in problems(preview)}
    assert set(found) == {(3, SOR_ID_HEADER), (4, "CVR-nummer")}
    assert "Ukendt SOR-ID" in found[(3, SOR_ID_HEADER)] and str(unknown) in found[(3, SOR_ID_HEADER)]
    assert "CVR" in found[(4, "CVR-nummer")]
    assert not preview.context["sheet_can_confirm"]
    assert "intet er gemt" in text_of(preview)
    assert fresh(tree["ie"]).phone == "98765432" and history_count() == before


def test_a_sor_id_with_a_wrong_check_digit_is_refused_for_its_row(make_tree, sor_admin):
    tree = make_tree()
    good = str(tree["oe"].pk)
    # A wrong last digit that does not happen to make a valid 13-digit GLN (another message).
    bad = next(good[:-1] + d for d in "0123456789" if d != good[-1] and not ean.is_valid(good[:-1] + d))
    content = csv_bytes([{SOR_ID_HEADER: bad, "Navn": "X"}, {SOR_ID_HEADER: good, "Navn": "X"},
                         {SOR_ID_HEADER: good, "Navn": "Y"}])

    preview = upload(client_for(sor_admin), content)

    found = {p["line"]: p["message"] for p in problems(preview)}
    assert "kontrolciffer" in found[2]
    assert "står også i række 3" in found[4]
    assert 3 not in found


def test_support_desk_may_not_change_a_name_by_spreadsheet(make_tree, support):
    tree = make_tree()
    content = csv_bytes([
        {SOR_ID_HEADER: tree["ie"].pk, "Navn": tree["ie"].name, "Telefon": "11223344"},
        {SOR_ID_HEADER: tree["oe"].pk, "Navn": "Nyt navn", "Telefon": ""},
    ])
    client = client_for(support)
    before = history_count()

    preview = upload(client, content)

    assert [(p["line"], p["sor_id"]) for p in problems(preview)] == [(3, str(tree["oe"].pk))]
    assert "kontaktdata" in problems(preview)[0]["message"]
    assert problems(preview)[0]["message"].endswith(": navn")  # the field as staff read it, not "name"
    assert problems(preview)[0]["column"] == "Navn"  # said on the column the role may not change
    assert not preview.context["sheet_can_confirm"]
    assert preview.context["sheet_failure"] == ""  # one red box: the refused rows' own
    assert fresh(tree["ie"]).phone == "98765432" and history_count() == before


def test_support_desk_may_correct_contact_data_by_spreadsheet(make_tree, support):
    tree = make_tree()
    client = client_for(support)
    preview = upload(client, csv_bytes([{SOR_ID_HEADER: tree["ie"].pk, "Telefon": "11223344"}]))
    confirm(client, preview)
    assert fresh(tree["ie"]).phone == "11223344"
    assert fresh(tree["ie"]).history.first().history_user == support


def test_regional_administrator_may_not_touch_another_regions_unit(make_tree, regional):
    nord = make_tree(region_code="1081")
    midt = make_tree(region_code="1082", name="Midt Klinik")
    content = csv_bytes([
        {SOR_ID_HEADER: nord["ie"].pk, "Telefon": "11223344"},
        {SOR_ID_HEADER: midt["ie"].pk, "Telefon": "11223344"},
    ])
    client = client_for(regional)

    preview = upload(client, content)

    assert [(p["line"], p["sor_id"]) for p in problems(preview)] == [(3, str(midt["ie"].pk))]
    assert "din region" in problems(preview)[0]["message"]
    assert fresh(nord["ie"]).phone == "98765432" and fresh(midt["ie"]).phone == "98765432"


def test_a_warning_refuses_the_row_unless_warnings_are_overridden(make_tree, sor_admin):
    tree = make_tree()
    content = csv_bytes([{SOR_ID_HEADER: tree["ie"].pk, "CVR-nummer": "12345678"}])  # fails modulus 11
    client = client_for(sor_admin)

    refused = upload(client, content)
    assert "Advarsel" in problems(refused)[0]["message"]

    accepted = upload(client, content, override_warnings="on")
    assert problems(accepted) == []
    confirm(client, accepted)
    assert fresh(tree["ie"]).cvr == "12345678"


def test_rows_refused_only_for_warnings_can_be_previewed_again_despite_them_from_the_job_page(make_tree, sor_admin):
    tree = make_tree()
    content = csv_bytes([{SOR_ID_HEADER: tree["ie"].pk, "CVR-nummer": "12345678"}])  # fails modulus 11
    client = client_for(sor_admin)

    refused = upload(client, content)
    assert refused.context["sheet_only_warnings"] is True
    assert [p["warning"] for p in problems(refused)] == [True]
    html = refused.content.decode()
    assert 'id="sheet-warnings-only"' in html and 'class="sor-warning-row"' in html
    assert "errornote" not in html.split('id="content-main"')[1]  # warnings, not errors
    job = refused.context["sheet_job"]
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(f"/admin/sor-import/jobs/{job.pk}/despite-warnings/")
    assert response.status_code == 302
    again = client.get(response["Location"])
    assert again.context["sheet_job"].pk != job.pk and again.context["sheet_overridden"]
    assert problems(again) == [] and fresh(tree["ie"]).cvr != "12345678"  # still only a preview
    confirm(client, again)
    assert fresh(tree["ie"]).cvr == "12345678"


def test_a_row_with_an_error_is_not_offered_to_be_imported_despite_warnings(make_tree, sor_admin):
    tree = make_tree()
    other = make_tree(name="Anden")
    content = csv_bytes([{SOR_ID_HEADER: tree["ie"].pk, "CVR-nummer": "12345678"},
                         {SOR_ID_HEADER: tree["oe"].pk, "Overordnet SOR-ID": other["si"].pk}])
    client = client_for(sor_admin)

    refused = upload(client, content)
    assert refused.context["sheet_only_warnings"] is False
    assert 'id="sheet-despite-warnings"' not in refused.content.decode()
    job = refused.context["sheet_job"]
    response = client.post(f"/admin/sor-import/jobs/{job.pk}/despite-warnings/", follow=True)
    assert any("alene blev afvist for advarsler" in str(m) for m in response.context["messages"])


def test_a_bad_phone_is_reported_together_with_a_refused_structure_column(make_tree, sor_admin):
    tree = make_tree()
    other = make_tree(name="Anden")
    content = csv_bytes([{SOR_ID_HEADER: tree["oe"].pk, "Overordnet SOR-ID": other["si"].pk,
                          "Egne elektroniske adresser": "ja", "Telefon": "12"}])

    preview = upload(client_for(sor_admin), content)

    columns = {p["column"] for p in problems(preview)}
    assert columns == {"Overordnet SOR-ID", "Telefon"}, problems(preview)


def test_the_preview_names_the_units_below_that_inherit_a_changed_contact_block(make_tree, sor_admin):
    tree = make_tree()  # the SI, its OE and the OE's leaf inherit the owner's electronic addresses
    content = csv_bytes([{SOR_ID_HEADER: tree["ie"].pk, "Telefon": "11223344"}])

    preview = upload(client_for(sor_admin), content)

    row = preview.context["sheet_changes"][0]
    assert row["below"]["count"] == 3
    assert set(row["below"]["names"]) == {str(fresh(tree[k])) for k in ("si", "oe", "leaf")}
    assert "Arves af 3 enheder nedenunder" in text_of(preview)


def test_a_leaf_change_has_no_below_note(make_tree, sor_admin):
    tree = make_tree()
    content = csv_bytes([{SOR_ID_HEADER: tree["leaf"].pk, "Egne elektroniske adresser": "ja", "Telefon": "11223344"}])

    preview = upload(client_for(sor_admin), content)

    assert preview.context["sheet_changes"][0]["below"] is None


def test_the_column_help_tells_support_which_columns_only_an_sor_administrator_corrects(support, sor_admin):
    for_support = client_for(support).get(IMPORT_URL).context["sheet_columns"]
    assert "Telefon" in for_support["editable"] and "Navn" not in for_support["editable"]
    assert "Navn" in for_support["not_for_role"] and "Telefon" not in for_support["not_for_role"]
    for_admin = client_for(sor_admin).get(IMPORT_URL).context["sheet_columns"]
    assert "Navn" in for_admin["editable"] and for_admin["not_for_role"] == []


def test_structure_columns_cannot_be_changed_by_import(make_tree, sor_admin):
    tree = make_tree()
    other = make_tree(name="Anden")
    content = csv_bytes([{SOR_ID_HEADER: tree["oe"].pk, "Overordnet SOR-ID": other["si"].pk, "Niveau": "oe"}])

    preview = upload(client_for(sor_admin), content)

    assert [(p["line"], p["column"]) for p in problems(preview)] == [(2, "Overordnet SOR-ID")]
    assert "Kan ikke ændres ved import" in problems(preview)[0]["message"]


def test_contact_values_without_their_own_flag_are_refused(make_tree, sor_admin):
    tree = make_tree()  # the SI inherits its electronic addresses
    content = csv_bytes([{SOR_ID_HEADER: tree["si"].pk, "Telefon": "11223344"}])

    preview = upload(client_for(sor_admin), content)

    assert [p["column"] for p in problems(preview)] == ["Egne elektroniske adresser"]
    ok = upload(client_for(sor_admin), csv_bytes([
        {SOR_ID_HEADER: tree["si"].pk, "Telefon": "11223344", "Egne elektroniske adresser": "ja"}]))
    assert problems(ok) == []


def test_confirm_is_refused_when_a_unit_changed_after_the_preview(make_tree, sor_admin):
    tree = make_tree()
    client = client_for(sor_admin)
    preview = upload(client, csv_bytes([
        {SOR_ID_HEADER: tree["ie"].pk, "Navn": tree["ie"].name, "Telefon": "11223344"},
        {SOR_ID_HEADER: tree["oe"].pk, "Navn": "Nyt navn", "Telefon": ""},
    ]))
    unit_update(actor=None, reason="samtidig rettelse", origin="command", unit=tree["oe"].pk,
                changes={"shak": "1234"})
    before = history_count()

    response = confirm(client, preview)

    assert response.status_code == 200 and response.context["sheet_job"].status == "failed"
    assert "ændret, efter forhåndsvisningen" in text_of(response)
    assert fresh(tree["ie"]).phone == "98765432" and fresh(tree["oe"]).name != "Nyt navn"
    assert history_count() == before


def test_a_failing_row_on_confirm_writes_nothing(make_tree, sor_admin):
    """All-or-nothing at the resource level: a good row before a refused row is rolled back."""
    tree = make_tree()
    resource = UnitResource(reason="test", sha256="0" * 64)
    import tablib

    dataset = tablib.Dataset(headers=[SOR_ID_HEADER, "Telefon", "CVR-nummer"])
    dataset.append([str(tree["ie"].pk), "11223344", ""])
    dataset.append([str(tree["si"].pk), "", "1234"])
    before = history_count()

    result = resource.import_data(dataset, dry_run=False, user=sor_admin, file_name="x.csv")

    assert result.has_validation_errors()
    assert fresh(tree["ie"]).phone == "98765432" and history_count() == before


def test_confirm_is_bound_to_the_user_and_the_previewed_file(make_tree, sor_admin, support, personas):
    from pathlib import Path

    from registry.models import ImportJob

    tree = make_tree()
    preview = upload(client_for(sor_admin), csv_bytes([{SOR_ID_HEADER: tree["ie"].pk, "Telefon": "11223344"}]))
    job = preview.context["sheet_job"]
    url = f"/admin/sor-import/jobs/{job.pk}/confirm/"
    # Another user (who may import corrections too) cannot confirm someone else's preview.
    refused = client_for(support).post(url, {"reason": "x"}, follow=True)
    assert "Kun den, der lavede prøvekørslen" in text_of(refused)
    # A file changed on disk after the preview is refused too.
    Path(job.stored_path).write_bytes(csv_bytes([{SOR_ID_HEADER: tree["ie"].pk, "Telefon": "99999999"}]))
    tampered = client_for(sor_admin).post(url, {"reason": "x"}, follow=True)
    assert "Filen er ændret efter prøvekørslen" in text_of(tampered)
    assert ImportJob.objects.filter(dry_run=False).count() == 0
    assert fresh(tree["ie"]).phone == "98765432"


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("enheder.txt", b"SOR-ID;Navn\n1;x\n", "hverken en CSV- eller en XLSX-fil"),
    ("enheder.csv", b"", "Filen er tom"),
    ("enheder.csv", b"  \n", "Filen er tom"),
    ("enheder.csv", b"Navn;Telefon\nA;1\n", "Kolonnen SOR-ID mangler"),
    ("enheder.csv", b"SOR-ID;Telefonnummer\n1;1\n", "Ukendte kolonner: Telefonnummer"),
    ("enheder.csv", b"SOR-ID;Navn\n", "ingen rækker"),
    ("enheder.xlsx", b"PK\x03\x04 not really a workbook", "kan ikke læses som et XLSX-regneark"),
])
def test_bad_files_get_a_clear_message(sor_admin, name, content, expected):
    response = upload(client_for(sor_admin), content, name=name)
    assert response.status_code == 200
    assert expected in text_of(response)
    assert not response.context.get("sheet_can_confirm")


def test_a_reason_is_required(make_tree, sor_admin):
    tree = make_tree()
    response = upload(client_for(sor_admin), csv_bytes([{SOR_ID_HEADER: tree["ie"].pk, "Telefon": "1"}]), reason="")
    assert "Skriv en begrundelse" in text_of(response)


def test_a_comma_separated_windows_1252_file_is_read(make_tree, sor_admin):
    tree = make_tree()
    content = f"SOR-ID,Navn\n{tree['oe'].pk},Lægerne Ø\n".encode("cp1252")
    preview = upload(client_for(sor_admin), content)
    assert preview.context["sheet_changes"][0]["changes"] == [("Navn", tree["oe"].name, "Lægerne Ø")]


def test_a_file_with_too_many_rows_is_refused_before_anything_runs(make_tree, sor_admin, monkeypatch):
    from sor_admin.admin import spreadsheets

    tree = make_tree()
    monkeypatch.setattr(spreadsheets, "MAX_IMPORT_ROWS", 2)
    content = csv_bytes([{SOR_ID_HEADER: u.pk, "Telefon": "11223344"} for u in tree.values()])

    response = upload(client_for(sor_admin), content)

    assert "Filen har 4 rækker; der kan højst indlæses 2 ad gangen" in text_of(response)
    assert response.context.get("result") is None


def test_numbers_typed_into_an_xlsx_sheet_are_read_as_the_text_they_stand_for(make_tree, sor_admin):
    tree = make_tree()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([SOR_ID_HEADER, "Ydernummer", "Postadresse: postboks"])
    sheet.append([str(tree["oe"].pk), 19063, None])  # a number: Excel dropped the leading zero
    sheet.append([str(tree["ie"].pk), None, 99999999999])
    out = io.BytesIO()
    book.save(out)

    preview = upload(client_for(sor_admin), out.getvalue(), name="tal.xlsx")

    found = {p["line"]: (p["column"], p["message"]) for p in problems(preview)}
    assert list(found) == [3]
    assert found[3][0] == "Postadresse: postboks" and "helt, positivt tal" in found[3][1]
    assert preview.context["sheet_changes"][0]["changes"] == [("Ydernummer", "019062", "019063")]


def test_a_row_refused_on_confirm_rolls_back_the_whole_file_and_says_why(make_tree, sor_admin):
    tree = make_tree()
    other = make_tree(name="Anden Praksis")
    client = client_for(sor_admin)
    preview = upload(client, csv_bytes([
        {SOR_ID_HEADER: tree["ie"].pk, "Telefon": "11223344", "Ydernummer": ""},
        {SOR_ID_HEADER: tree["oe"].pk, "Telefon": "", "Ydernummer": "019999"},
    ]))
    assert problems(preview) == []
    # Meanwhile another owner's unit takes the ydernummer (that unit is not in the file).
    unit_update(actor=None, reason="samtidig", origin="command", unit=other["oe"].pk,
                changes={"provider_number": "019999"})
    before = history_count()

    response = confirm(client, preview)

    assert response.status_code == 200
    page = text_of(response)
    assert "Filen kan ikke importeres, og intet er gemt" in page
    assert [(p["line"], p["column"]) for p in problems(response)] == [(3, "Ydernummer")]
    assert "findes allerede" in problems(response)[0]["message"]
    assert fresh(tree["ie"]).phone == "98765432" and history_count() == before


def test_an_18_digit_sor_id_typed_as_a_number_is_told_it_lost_digits(make_tree, sor_admin):
    tree = make_tree()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([SOR_ID_HEADER, "Telefon"])
    sheet.append([float(tree["ie"].pk), "11223344"])  # what a spreadsheet program stores for a typed number
    out = io.BytesIO()
    book.save(out)
    found = problems(upload(client_for(sor_admin), out.getvalue(), name="tal.xlsx"))
    assert [p["line"] for p in found] == [2] and "mistet sine sidste cifre" in found[0]["message"]
