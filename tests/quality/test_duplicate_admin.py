"""The duplicate queue in the admin: open groups listed, the units side by side, "ikke en dublet"
remembered, the merge drafted as a change-set; guests read only."""

import pytest
from lxml import html

from registry.models import ChangeSet, DuplicateGroup
from registry.quality import duplicates
from registry.services.units import unit_update

pytestmark = pytest.mark.django_db
CMD = dict(actor=None, reason="testdata", origin="command")


@pytest.fixture
def group(make_tree):
    a, b = make_tree(name="Lægerne Nord"), make_tree(name="Klinik Sydhavn")
    unit_update(unit=b["oe"], changes={"provider_number": a["oe"].provider_number}, override_warnings=True, **CMD)
    duplicates.run()
    return DuplicateGroup.objects.get(rule="same_provider_number"), a, b


def _doc(response):
    return html.fromstring(response.content.decode())


def test_the_queue_lists_open_groups_and_the_page_shows_the_units_side_by_side(client, group, sor_admin):
    g, a, b = group
    client.force_login(sor_admin)
    rows = _doc(client.get("/admin/registry/duplicategroup/")).xpath('//table[@id="result_list"]/tbody/tr')
    assert len(rows) == 1 and "samme ydernummer hos flere ejere" in rows[0].text_content()
    page = _doc(client.get(f"/admin/registry/duplicategroup/{g.pk}/change/"))
    heads = page.xpath('//table[@id="sor-duplicate-sides"]/thead/tr/th[@data-sor-id]/@data-sor-id')
    assert heads == [str(pk) for pk in g.unit_ids]
    survivors = page.xpath('//input[@name="survivor"]/@value')
    assert {str(a["ie"].pk), str(b["ie"].pk)} <= set(survivors)  # the owners can be merged too


def test_not_a_duplicate_from_the_page_leaves_the_queue_and_stays_away(client, group, sor_admin):
    g, _a, _b = group
    client.force_login(sor_admin)
    client.post(f"/admin/registry/duplicategroup/{g.pk}/do/dismiss/", {"reason": "To praksisser, samme læge"})
    duplicates.run()
    assert DuplicateGroup.objects.get(pk=g.pk).status == "dismissed"
    assert not _doc(client.get("/admin/registry/duplicategroup/")).xpath('//table[@id="result_list"]/tbody/tr')


def test_merge_from_the_page_drafts_the_set_and_opens_it(client, group, sor_admin):
    g, a, b = group
    client.force_login(sor_admin)
    response = client.post(f"/admin/registry/duplicategroup/{g.pk}/do/merge/",
                           {"survivor": str(a["ie"].pk), "numbers": "move"})
    cs = ChangeSet.objects.get(provenance__duplicate_group=g.pk)
    assert response.status_code == 302 and response["Location"] == f"/admin/registry/changeset/{cs.pk}/change/"
    assert cs.status == "draft" and cs.changes.filter(kind="close", unit_id=b["ie"].pk).exists()


def test_a_guest_reads_the_queue_but_gets_no_buttons_and_cannot_dismiss(client, group, guest):
    g, _a, _b = group
    client.force_login(guest)
    page = _doc(client.get(f"/admin/registry/duplicategroup/{g.pk}/change/"))
    assert not page.xpath('//*[@id="sor-duplicate-merge"]') and not page.xpath('//*[@id="sor-duplicate-dismiss"]')
    client.post(f"/admin/registry/duplicategroup/{g.pk}/do/dismiss/", {"reason": "nej"})
    assert DuplicateGroup.objects.get(pk=g.pk).status == "open"


def test_findings_page_lists_open_findings_with_a_chart_per_rule_and_makes_cases(client, make_tree, support, sor_admin):
    from registry.audit import audit_context
    from registry.models import Finding, Unit
    from registry.quality import control

    t = make_tree(name="Klinik Fund")
    with audit_context(actor=None, reason="testdata", origin="command"):
        Unit.objects.filter(pk=t["ie"].pk).update(postal_post_code="97000")
    control.run()
    control.run()
    client.force_login(sor_admin)
    page = _doc(client.get("/admin/registry/finding/"))
    rows = page.xpath('//table[@id="result_list"]/tbody/tr')
    assert len(rows) == 1 and "Postnummer '97000' er ikke 4 cifre." in rows[0].text_content()
    line = page.xpath('//svg//polyline[@data-rule="post_code"]/@points')
    assert line and len(line[0].split()) == 2  # one point per run
    assert page.xpath('string(//figure[@id="sor-quality-chart"]//li[@data-rule="post_code"]/strong)') == "1"
    client.force_login(support)
    finding = Finding.objects.get()
    client.post("/admin/registry/finding/", {"action": "make_cases", "_selected_action": [str(finding.pk)]})
    finding.refresh_from_db()
    assert finding.case is not None and finding.case.source == "data_quality"


def test_the_admin_index_shows_open_duplicates_and_findings(client, group, sor_admin):
    client.force_login(sor_admin)
    page = _doc(client.get("/admin/"))
    assert page.xpath('string(//*[@id="sor-quality-duplicates"])') == "1"
    assert page.xpath('//*[@id="sor-quality"]//a[contains(@href, "/admin/registry/locationnumber/addressability/")]')


def test_a_dismissed_group_can_be_reopened_and_a_group_with_a_pending_merge_offers_no_second(client, group, sor_admin):
    g, a, _b = group
    client.force_login(sor_admin)
    client.post(f"/admin/registry/duplicategroup/{g.pk}/do/dismiss/", {"reason": "fejl"})
    client.post(f"/admin/registry/duplicategroup/{g.pk}/do/reopen/")
    assert DuplicateGroup.objects.get(pk=g.pk).status == "open"
    client.post(f"/admin/registry/duplicategroup/{g.pk}/do/merge/", {"survivor": str(a["ie"].pk)})
    page = _doc(client.get(f"/admin/registry/duplicategroup/{g.pk}/change/"))
    assert not page.xpath('//*[@id="sor-duplicate-merge"]') and page.xpath('//*[@id="sor-duplicate-pending"]')
    client.post(f"/admin/registry/duplicategroup/{g.pk}/do/merge/", {"survivor": str(a["ie"].pk)})
    assert ChangeSet.objects.filter(provenance__duplicate_group=g.pk).count() == 1
