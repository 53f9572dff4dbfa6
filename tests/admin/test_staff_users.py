"""A superuser sets a regional administrator's region on the user page; the region then scopes them."""

import pytest
from django.contrib.auth import get_user_model

from registry.models import Region


@pytest.mark.django_db
def test_superuser_sets_the_region_of_a_regional_administrator(client, regional):
    admin_user = get_user_model().objects.create_superuser("it-drift", password="x")
    client.force_login(admin_user)
    page = client.get(f"/admin/auth/user/{regional.pk}/change/")
    assert page.status_code == 200 and "SOR-profil" in page.content.decode()
    listing = client.get("/admin/auth/user/").content.decode()
    assert "Regional administrator" in listing and "Region Nordjylland" in listing
    form = page.context["adminform"].form
    data = {name: form.initial.get(name) or "" for name in ("username", "first_name", "last_name", "email")}
    profile = regional.sor_profile
    data.update({
        "is_active": "on", "is_staff": "on", "groups": [g.pk for g in regional.groups.all()],
        "sor_profile-TOTAL_FORMS": "1", "sor_profile-INITIAL_FORMS": "1", "sor_profile-MIN_NUM_FORMS": "0",
        "sor_profile-MAX_NUM_FORMS": "1", "sor_profile-0-id": profile.pk, "sor_profile-0-user": regional.pk,
        "sor_profile-0-region": Region.objects.get(code="1084").pk,
        "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
    })
    response = client.post(f"/admin/auth/user/{regional.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    profile.refresh_from_db()
    assert profile.region.code == "1084"


@pytest.mark.django_db
def test_sor_administrator_sees_users_but_cannot_change_them(client, sor_admin, regional):
    client.force_login(sor_admin)
    assert client.get("/admin/auth/user/").status_code == 200
    page = client.get(f"/admin/auth/user/{regional.pk}/change/")
    assert page.status_code == 200 and 'name="username"' not in page.content.decode()
