"""Shared fixtures: personas and a small register built through the services (never the ORM).

Personas (what each may do):
- sor_admin: SOR-administrator, everything but deleting.
- support: support desk, contact data of any unit; no register data, code lists or closing.
- regional: regional administrator of Region Nordjylland (1081), only units of that region.
- guest: reads everything, changes nothing.
- outsider: logged-in staff user with no role at all.
"""

import datetime as dt
import os

import pytest
from django.contrib.auth import get_user_model

from registry.models import EntityType, OwnerType, Region
from registry.personas import ensure_personas
from registry.services.units import unit_create


@pytest.fixture(autouse=True)
def import_upload_dir(settings, tmp_path):
    """Uploaded import files land in the test's own folder, never in .data/imports."""
    settings.IMPORT_UPLOAD_DIR = tmp_path / "imports"
    return settings.IMPORT_UPLOAD_DIR


@pytest.fixture(autouse=True)
def own_cache_namespace(settings):
    """Each test counts rate limits (and import progress) in its own cache keys on the shared
    Redis: no test inherits another's counters."""
    import uuid

    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex[:12]}"}}
    return settings.CACHES["default"]["KEY_PREFIX"]


@pytest.fixture
def personas(db):
    users = ensure_personas()
    users["outsider"] = get_user_model().objects.create_user("outsider", password="outsider", is_staff=True)
    return users


@pytest.fixture
def sor_admin(personas):
    return personas["sor-admin"]


@pytest.fixture
def support(personas):
    return personas["support"]


@pytest.fixture
def regional(personas):
    return personas["region-nord"]


@pytest.fixture
def guest(personas):
    return personas["guest"]


@pytest.fixture
def outsider(personas):
    return personas["outsider"]


def owner_values(region_code="1081", **extra):
    values = dict(
        owner_type=OwnerType.objects.get(name_da="privat"),
        region=Region.objects.get(code=region_code),
        postal_present=True, postal_street_name="Østergade", postal_building="70", postal_post_code="9700",
        postal_district_name="Brønderslev", postal_country_code="DK", postal_country_scheme="iso3166-alpha2",
        virtual_present=True, phone="98765432", email="klinik@example.dk",
    )
    values.update(extra)
    return values


@pytest.fixture
def make_tree(db):
    """Builds IE → SI → OE → OE through the services; returns a dict of the four units."""

    numbers = iter(range(19062, 99999))

    def build(region_code="1081", name="Lægerne Østergade", provider_number=None, **owner_extra):
        # The first tree's ydernummer is 019062; later trees get the next numbers (no duplicates).
        provider_number = provider_number or str(next(numbers)).zfill(6)
        kwargs = dict(actor=None, reason="testdata", origin="command", from_date=dt.date(2020, 1, 1))
        ie = unit_create(level="IE", name=name, **owner_values(region_code, **owner_extra), **kwargs)
        si = unit_create(level="SI", parent=ie, name=f"{name} klinik",
                         entity_type=EntityType.objects.get(code="394761003"), **kwargs)
        oe = unit_create(level="OE", parent=si, name=f"{name} ydernummer", provider_number=provider_number, **kwargs)
        leaf = unit_create(level="OE", parent=oe, name=f"{name} behandler", **kwargs)
        return {"ie": ie, "si": si, "oe": oe, "leaf": leaf}

    return build


@pytest.fixture(scope="session", autouse=True)
def restore_migrated_data_at_session_end(django_db_setup, django_db_blocker):
    """Transactional tests (live server, real worker) flush the database; `serialized_rollback`
    restores the migrated code lists and roles before the next one, and this puts them back once
    more when the session ends, so a later run with `--reuse-db` does not start empty."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for connection in connections.all():
            contents = getattr(connection, "_test_serialized_contents", None)
            if contents:
                connection.creation.deserialize_db_from_string(contents)


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture
def page():
    """A page in headless Debian Chromium driven by Playwright (never a downloaded browser)."""
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(locale="da-DK", viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(30000)
        yield page
        context.close()
        browser.close()


@pytest.fixture(autouse=True)
def mail_dir(settings, tmp_path):
    """Mail originals and attachments land in the test's own folder."""
    settings.SOR_MAIL_DIR = tmp_path / "mail"
    return settings.SOR_MAIL_DIR


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def _dovecot():
    import shutil
    import tempfile
    from pathlib import Path

    from sor_admin.devmail import imap_down, imap_up

    # Not under pytest's 0700 temporary folder: dovecot's own processes (user dovecot) read it.
    directory = Path(tempfile.mkdtemp(prefix="sor-test-dovecot-"))
    os.chmod(directory, 0o755)
    port = _free_port()
    imap_up(directory, port)
    yield port
    imap_down(directory)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def imap_server(_dovecot, settings):
    """A real IMAP server (Debian's dovecot) on loopback with an empty SORpost mailbox; the
    settings point at it."""
    import imaplib

    settings.SOR_IMAP_HOST, settings.SOR_IMAP_PORT, settings.SOR_IMAP_TLS = "127.0.0.1", _dovecot, "none"
    settings.SOR_IMAP_USER, settings.SOR_IMAP_PASSWORD = "sorpost", "sorpost"
    client = imaplib.IMAP4("127.0.0.1", _dovecot)
    client.login("sorpost", "sorpost")
    _typ, folders = client.list()
    for line in folders or []:
        name = line.decode().rsplit(' "/" ', 1)[-1]
        _typ, count = client.select(name)
        if int(count[0] or 0):
            client.store("1:*", "+FLAGS.SILENT", "(\\Deleted)")
            client.expunge()
    client.logout()
    return _dovecot


@pytest.fixture
def smtp_server(settings, tmp_path):
    """A real SMTP server on loopback that keeps what it receives (`.sink.messages`)."""
    from sor_admin.devmail import smtp_controller

    port = _free_port()
    controller = smtp_controller(tmp_path / "outbox", port)
    settings.SOR_SMTP_HOST, settings.SOR_SMTP_PORT, settings.SOR_SMTP_TLS = "127.0.0.1", port, "none"
    settings.SOR_SMTP_USER = ""
    yield controller
    controller.stop()
