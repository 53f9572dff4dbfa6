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
    page = html.fromstring(client.get("/admin/").content)
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
    page = html.fromstring(response.content)
    descriptions = [td.text_content().strip() for td in page.xpath("//td[contains(@class, 'field-description')]")]
    assert any("CVR-nummer" in d and "12345678" in d for d in descriptions)
    codes = [td.text_content().strip() for td in page.xpath("//td[contains(@class, 'field-code')]")]
    assert codes == ["registry.changeset.created", "registry.changeset.submitted"]
    policy = page.xpath("//div[contains(@class, 'field-risk_policy')]//li")
    assert len(policy) == 6
