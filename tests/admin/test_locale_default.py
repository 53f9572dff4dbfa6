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
