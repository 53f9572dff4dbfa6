"""Change-sets in the staff admin: the index names the sets waiting for me and mine waiting for
another; a set's page shows its changes, risk policy and timeline."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from lxml import html

from registry.changesets import engine
from registry.roles import SOR_ADMIN


@pytest.fixture
def second_admin(personas):
    user = get_user_model().objects.create_user("sor-admin-2", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=SOR_ADMIN))
    return user


@pytest.fixture
def submitted(make_tree, sor_admin):
    tree = make_tree()
    cs = engine.changeset_create(actor=sor_admin, name="Ny CVR", reason="mail", rows=engine.parse_changes_csv(
        f"change;sor_id;target;field;value\nset;{tree['ie'].pk};;cvr;12345678\n"))
    return engine.changeset_submit(actor=sor_admin, changeset=cs)


def _list(client, user, list_id):
    client.force_login(user)
    page = html.fromstring(client.get("/admin/").content.decode())
    return [a.text_content() for a in page.xpath(f"//ul[@id='{list_id}']/li/a")]


def test_index_lists_the_set_waiting_for_my_approval_but_not_for_its_author(client, submitted, sor_admin,
                                                                             second_admin):
    assert _list(client, second_admin, "sor-changesets-for-me") == ["Ny CVR"]
    assert _list(client, sor_admin, "sor-changesets-for-me") == []
    assert _list(client, sor_admin, "sor-changesets-mine") == ["Ny CVR"]


def test_a_support_user_is_not_asked_to_approve(client, submitted, support):
    assert _list(client, support, "sor-changesets-for-me") == []


def test_the_set_page_shows_its_changes_risk_policy_and_timeline(client, submitted, second_admin):
    client.force_login(second_admin)
    response = client.get(f"/admin/registry/changeset/{submitted.pk}/change/")
    assert response.status_code == 200
    page = html.fromstring(response.content.decode())
    descriptions = [row.xpath("td")[2].text_content() for row in page.xpath("//table[@id='sor-changeset-changes']/tbody/tr")]
    assert len(descriptions) == 1 and "CVR-nummer" in descriptions[0] and "12345678" in descriptions[0]
    timeline = page.xpath("//table[@id='sor-changeset-timeline']/tr")
    assert [row.get("data-code") for row in timeline] == ["registry.changeset.created", "registry.changeset.submitted"]
    assert [row.xpath("td")[1].text_content() for row in timeline] == ["oprettet", "indsendt"]
    assert page.xpath("//table[@id='sor-changeset-changes']/tbody/tr/td[2]")[0].text_content() == "sæt et felt"
    assert "høj" in page.xpath("//td[@id='sor-changeset-risk']")[0].text_content()
    assert len(page.xpath("//details//li")) == 6
    # Another SOR-administrator is offered approve and reject.
    assert {i.get("name") for i in page.xpath("//div[@id='sor-changeset-buttons']//input[@type='submit']")} >= {
        "do-approve", "do-reject"}


def _buttons(client, user, cs):
    client.force_login(user)
    page = html.fromstring(client.get(f"/admin/registry/changeset/{cs.pk}/change/").content.decode())
    return {i.get("name") for i in page.xpath("//div[@id='sor-changeset-buttons']//input[@type='submit']")}


def test_the_author_and_support_are_not_offered_approve_and_a_post_by_them_is_refused(client, submitted, sor_admin,
                                                                                        support):
    assert "do-approve" not in _buttons(client, sor_admin, submitted)
    assert "do-approve" not in _buttons(client, support, submitted)
    response = client.post(f"/admin/registry/changeset/{submitted.pk}/do/approve/", follow=True)
    assert response.status_code == 200
    submitted.refresh_from_db()
    assert submitted.status == "submitted"
    assert any("SOR-administrator" in str(m) for m in response.context["messages"])


def test_approve_by_a_second_sor_admin_through_the_button_applies_a_set_dated_today(client, submitted, second_admin):
    client.force_login(second_admin)
    response = client.post(f"/admin/registry/changeset/{submitted.pk}/do/approve/")
    assert response.status_code == 302
    submitted.refresh_from_db()
    assert (submitted.status, submitted.approved_by) == ("applied", second_admin)
    page = html.fromstring(client.get(f"/admin/registry/changeset/{submitted.pk}/change/").content.decode())
    assert page.xpath("//td[@id='sor-changeset-status']")[0].text_content().strip() == "gennemført"


def test_a_set_is_built_from_the_unit_list_action_and_its_preview_shows_the_inherited_value(
        client, make_tree, sor_admin):
    tree = make_tree()
    client.force_login(sor_admin)
    response = client.post("/admin/registry/unit/", {"action": "add_to_changeset",
                                                     "_selected_action": [str(tree["ie"].pk)]})
    assert response.status_code == 302 and "add-changes" in response["Location"]
    form_page = client.get(response["Location"])
    assert form_page.status_code == 200
    response = client.post("/admin/registry/changeset/add-changes/", {
        "ids": str(tree["ie"].pk), "changeset": "new", "name": "Ny adresse", "reason": "mail fra klinikken",
        "effective_date": "", "kind": "set", "field": "postal_street_name", "target": "", "value": "Torvet"})
    assert response.status_code == 302, response.content.decode()[:2000]
    cs = engine.ChangeSet.objects.get(name="Ny adresse")
    assert [(c.kind, c.unit_id, c.field, c.value) for c in cs.changes.all()] == [
        ("set", tree["ie"].pk, "postal_street_name", "Torvet")]
    page = html.fromstring(client.get(response["Location"]).content.decode())
    leaf_rows = page.xpath(f"//table[@id='sor-preview-units']/tbody/tr[@data-sor-id='{tree['leaf'].pk}']")
    assert leaf_rows, "the unit three levels down inherits the new postal address"
    assert "Torvet" in leaf_rows[0].xpath("td[@class='sor-after']")[0].text_content()
    assert "Torvet" not in leaf_rows[0].xpath("td[@class='sor-before']")[0].text_content()


def test_a_changes_csv_with_a_bad_row_stores_nothing_and_names_the_row(client, make_tree, sor_admin):
    from django.core.files.uploadedfile import SimpleUploadedFile

    tree = make_tree()
    client.force_login(sor_admin)
    upload = SimpleUploadedFile("changes.csv", (
        "change;sor_id;target;field;value\n"
        f"set;{tree['oe'].pk};;phone;44556677\n"
        f"move;{tree['oe'].pk};123;;\n").encode())
    response = client.post("/admin/registry/changeset/add/", {"name": "Fra fil", "reason": "mail", "changes": upload})
    assert response.status_code == 200
    errors = [li.text_content() for li in html.fromstring(response.content.decode()).xpath("//div[@id='sor-row-errors']//li")]
    assert errors == ["Række 3: Ny overordnet: SOR-ID 123 findes ikke."]
    assert not engine.ChangeSet.objects.filter(name="Fra fil").exists()


def test_the_unit_page_and_list_show_a_planned_change_with_a_link(client, submitted, second_admin):
    unit_id = submitted.changes.get().unit_id
    client.force_login(second_admin)
    page = html.fromstring(client.get(f"/admin/registry/unit/{unit_id}/change/").content.decode())
    [note] = page.xpath("//p[contains(@class, 'sor-planned')]/a")
    assert note.text_content().startswith(f"planlagt ændring {submitted.effective_date:%d-%m-%Y}")
    assert note.get("href") == f"/admin/registry/changeset/{submitted.pk}/change/"
    listing = html.fromstring(client.get(f"/admin/registry/unit/?q={unit_id}").content.decode())
    links = listing.xpath("//td[contains(@class, 'field-status_display')]/a[@class='sor-planned']")
    assert [a.get("href") for a in links] == [f"/admin/registry/changeset/{submitted.pk}/change/"]


def test_the_index_lists_scheduled_and_failed_sets_with_the_reason(client, make_tree, sor_admin, second_admin):
    import datetime as dt

    from django.utils import timezone

    tree = make_tree()
    later = engine.changeset_create(actor=sor_admin, name="Senere", reason="x", rows=engine.parse_changes_csv(
        f"change;sor_id;target;field;value\nrename;{tree['oe'].pk};;;Nyt navn\n"),
        effective_date=timezone.localdate() + dt.timedelta(days=3))
    engine.changeset_approve(actor=second_admin, changeset=engine.changeset_submit(actor=sor_admin, changeset=later))
    failed = engine.changeset_create(actor=sor_admin, name="Fejler", reason="x", rows=engine.parse_changes_csv(
        f"change;sor_id;target;field;value\nrename;{tree['leaf'].pk};;;Andet navn\n"))
    engine.changeset_submit(actor=sor_admin, changeset=failed)
    from registry.services.units import unit_update
    from tests.factories import CMD

    unit_update(unit=tree["leaf"].pk, changes={"name": "Imens"}, **CMD)  # the set is stale now
    engine.changeset_approve(actor=second_admin, changeset=failed)
    assert _list(client, sor_admin, "sor-changesets-scheduled") == ["Senere"]
    page = html.fromstring(client.get("/admin/").content.decode())
    [item] = page.xpath("//ul[@id='sor-changesets-failed']/li")
    assert item.xpath("a")[0].text_content() == "Fejler"
    assert "ændret, siden ændringen blev lavet" in item.xpath("span[@class='sor-failure']")[0].text_content()
