"""The staff UI is Danish whatever the browser asks for; English only by choice."""

import pytest
from django.conf import settings


@pytest.mark.django_db
def test_an_english_browser_still_gets_danish_until_english_is_chosen(client, sor_admin):
    client.force_login(sor_admin)
    danish = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert danish.headers["Content-Language"] == "da"
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="da")
    assert english.headers["Content-Language"] == "en"
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "xx"
    assert client.get("/admin/").headers["Content-Language"] == "da"


@pytest.mark.django_db
def test_admin_index_links_the_file_tasks_for_the_sor_administrator_only(client, sor_admin, support):
    client.force_login(sor_admin)
    page = client.get("/admin/").content.decode()
    assert "/admin/sor-import/" in page and "/filer/" in page
    client.force_login(support)
    assert "/admin/sor-import/" not in client.get("/admin/").content.decode()


@pytest.mark.django_db
def test_periodic_tasks_are_danish_and_show_only_what_sds_uses(client, sor_admin):
    client.force_login(sor_admin)
    html = client.get("/admin/").content.decode()
    assert "Periodic tasks" not in html and "Periodic Tasks" not in html
    assert "Periodiske opgaver" in html and "Tidsplaner (crontab)" in html
    for hidden in ("Clocked", "Solar events", "Intervals"):
        assert hidden not in html
    assert client.get("/admin/django_celery_beat/solarschedule/").status_code == 404
