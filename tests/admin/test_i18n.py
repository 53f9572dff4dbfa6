"""The staff UI in English and Danish: the da/en switch changes the admin's language, and the
English catalog (locale/en/LC_MESSAGES/django.po) translates every string in the code, so a new
Danish string without an English translation fails here rather than showing up untranslated."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import trans_real

from registry.identifiers import check_cvr

LOCALE_DIR = Path(settings.BASE_DIR) / "locale" / "en" / "LC_MESSAGES"
PO_FILE = LOCALE_DIR / "django.po"
MO_FILE = LOCALE_DIR / "django.mo"

# Where makemessages looks (the same scope as the documented command:
# `makemessages -l en --ignore=.venv --ignore=.data --ignore=bench`).
NOT_SCANNED = {".venv", ".data", "bench", "tests", "locale", "docs", "scripts", "media", "exports-out"}


# ---------------------------------------------------------------- .po parsing (no dependency)

def parse_po(text: str) -> list[dict]:
    """Entries of a .po file as dicts: msgctxt, msgid, msgid_plural, msgstr (list), fuzzy.
    Obsolete (#~) entries are left out; the header (msgid "") is included."""
    entries: list[dict] = []
    current: dict | None = None
    key = None

    def finish():
        if current is not None and "msgid" in current:
            entries.append(current)

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            finish()
            current, key = None, None
            continue
        if line.startswith("#~"):
            continue
        if current is None:
            current = {"msgctxt": None, "msgid_plural": None, "msgstr": {}, "fuzzy": False, "flags": set()}
        if line.startswith("#,"):
            flags = {f.strip() for f in line[2:].split(",")}
            current["flags"] |= flags
            current["fuzzy"] = current["fuzzy"] or "fuzzy" in flags
            continue
        if line.startswith("#"):
            continue
        match = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")$', line)
        if match:
            word, index, literal = match.groups()
            value = ast.literal_eval(literal)
            if word.startswith("msgstr"):
                key = ("msgstr", int(index or 0))
                current["msgstr"][key[1]] = value
            else:
                key = (word, None)
                current[word] = value
            continue
        if line.startswith('"') and key is not None:
            value = ast.literal_eval(line)
            if key[0] == "msgstr":
                current["msgstr"][key[1]] += value
            else:
                current[key[0]] += value
    finish()
    return entries


def catalog_entries(path: Path = PO_FILE) -> list[dict]:
    return [e for e in parse_po(path.read_text(encoding="utf-8")) if e["msgid"] != ""]


PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]?\d*(?:\.\d+)?[sdrifxX]|%%|%[sdrifxX]|\{\w*\}")


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


# ---------------------------------------------------------------- compiled catalog

def _compile_catalog_if_stale() -> None:
    """Compile the English catalog when the .mo is missing or older than the .po (`make setup`
    normally does it). Written to a temporary file and moved into place, so a test run in
    another process never reads a half-written .mo."""
    if MO_FILE.exists() and MO_FILE.stat().st_mtime >= PO_FILE.stat().st_mtime:
        return
    fd, tmp = tempfile.mkstemp(dir=LOCALE_DIR, suffix=".mo.tmp")
    os.close(fd)
    try:
        subprocess.run(["msgfmt", "--check-format", "-o", tmp, str(PO_FILE)], check=True,
                       capture_output=True, text=True)
        os.chmod(tmp, 0o644)
        os.replace(tmp, MO_FILE)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    # Catalogs already loaded by this process would hide the new one.
    trans_real._translations = {}
    trans_real._default = None


@pytest.fixture
def english_catalog():
    _compile_catalog_if_stale()
    yield
    translation.activate(settings.LANGUAGE_CODE)


# ---------------------------------------------------------------- the admin in both languages

pytestmark = pytest.mark.django_db


def _get(client, url, language):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_admin_index_is_english_when_the_language_cookie_is_en(client, sor_admin, english_catalog):
    client.force_login(sor_admin)
    html = _get(client, reverse("admin:index"), "en")
    assert '<html lang="en"' in html
    assert "SOR administration" in html
    assert "Danish Healthcare Organisation Register" in html
    assert "SOR units" in html  # the unit model's verbose_name_plural in the app list
    assert "Find a unit" in html
    assert "SOR-administration" not in html
    assert "Sundhedsvæsenets Organisationsregister" not in html


def test_admin_index_is_danish_by_default_and_with_the_da_cookie(client, sor_admin, english_catalog):
    client.force_login(sor_admin)
    default_html = client.get(reverse("admin:index")).content.decode()
    da_html = _get(client, reverse("admin:index"), "da")
    for html in (default_html, da_html):
        assert '<html lang="da"' in html
        assert "SOR-administration" in html
        assert "Sundhedsvæsenets Organisationsregister" in html
        assert "Find en enhed" in html
        assert "Find a unit" not in html


def test_unit_changelist_filters_and_columns_follow_the_language(client, sor_admin, make_tree, english_catalog):
    tree = make_tree()
    client.force_login(sor_admin)
    url = reverse("admin:registry_unit_changelist")

    english = _get(client, url, "en")
    assert tree["ie"].name in english
    assert re.search(r"By\s+level", english)  # filter titles ("niveau", "enhedstype")
    assert re.search(r"By\s+unit type", english)
    assert "Provider number (ydernummer)" in english  # a column header
    assert "Search by SOR-ID, name, provider number (ydernummer)" in english  # search help
    assert "Close selected units" in english  # the changelist action
    assert "Efter niveau" not in english

    danish = _get(client, url, "da")
    assert re.search(r"Efter\s+niveau", danish)
    assert re.search(r"Efter\s+enhedstype", danish)
    assert "Ydernummer" in danish
    assert "Søg på SOR-ID, navn, ydernummer" in danish
    assert "Luk valgte enheder" in danish
    assert "By level" not in danish


def test_language_switch_posts_to_setlang_and_the_admin_follows(client, sor_admin, english_catalog):
    client.force_login(sor_admin)
    index = reverse("admin:index")
    assert 'name="language" value="en"' in client.get(index).content.decode()  # the switch is offered

    response = client.post("/i18n/setlang/", {"language": "en", "next": index}, follow=True)
    assert response.redirect_chain[-1][0] == index
    assert "Danish Healthcare Organisation Register" in response.content.decode()
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"

    response = client.post("/i18n/setlang/", {"language": "da", "next": index}, follow=True)
    assert "Sundhedsvæsenets Organisationsregister" in response.content.decode()


def test_a_validation_message_is_translated_with_its_placeholders_filled(english_catalog):
    with translation.override("en"):
        errors, warnings = check_cvr("1234567")
        mod11_errors, mod11_warnings = check_cvr("12345678")
    assert errors == ["A CVR number has 8 digits; 1234567 has 7."]
    assert mod11_warnings == ["CVR number 12345678 fails the modulus 11 check. Verify it in the CVR register; "
                              "if it is correct, you can save with a reason."]
    with translation.override("da"):
        assert check_cvr("1234567")[0] == ["Et CVR-nummer har 8 cifre; 1234567 har 7."]


# ---------------------------------------------------------------- the catalog itself

def test_english_catalog_has_no_untranslated_or_fuzzy_entries():
    entries = catalog_entries()
    assert len(entries) > 500
    untranslated = [e["msgid"] for e in entries
                    if not e["msgstr"] or any(not s.strip() for s in e["msgstr"].values())]
    fuzzy = [e["msgid"] for e in entries if e["fuzzy"]]
    assert untranslated == [], f"untranslated in {PO_FILE}: {untranslated[:20]}"
    assert fuzzy == [], f"fuzzy (ignored by compilemessages) in {PO_FILE}: {fuzzy[:20]}"


def test_english_catalog_keeps_every_placeholder_and_both_plural_forms():
    wrong = []
    for e in catalog_entries():
        if e["msgid_plural"] is not None:
            assert sorted(e["msgstr"]) == [0, 1], e["msgid"]
            pairs = [(e["msgid"], e["msgstr"][0]), (e["msgid_plural"], e["msgstr"][1])]
        else:
            pairs = [(e["msgid"], e["msgstr"][0])]
        wrong += [(src, dst) for src, dst in pairs if placeholders(src) != placeholders(dst)]
    assert wrong == []


def test_english_catalog_covers_every_string_in_the_code(tmp_path):
    """Extract the strings from a copy of the code (as `makemessages -l en` would) and require each
    to be in the catalog: a new gettext string fails here until it is extracted and translated."""
    source = Path(settings.BASE_DIR)
    work = tmp_path / "src"
    work.mkdir()
    for entry in source.iterdir():
        if entry.is_dir() and not entry.name.startswith(".") and entry.name not in NOT_SCANNED \
                and not entry.name.endswith(".egg-info"):
            shutil.copytree(entry, work / entry.name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.mo", "*.po", "*.xml",
                                                          "*.zip", "*.csv", "*.xlsx", "*.json"))
    for entry in source.glob("*.py"):
        shutil.copy2(entry, work / entry.name)
    (work / "locale").mkdir()

    cwd = os.getcwd()
    os.chdir(work)
    try:
        with override_settings(LOCALE_PATHS=[work / "locale"]):
            call_command("makemessages", locale=["en"], verbosity=0, no_obsolete=True)
    finally:
        os.chdir(cwd)

    def keys(entries):
        return {(e["msgctxt"], e["msgid"], e["msgid_plural"]) for e in entries}

    extracted = keys(catalog_entries(work / "locale" / "en" / "LC_MESSAGES" / "django.po"))
    assert len(extracted) > 500
    missing = sorted(m for _c, m, _p in extracted - keys(catalog_entries()))
    assert missing == [], (
        "strings in the code that locale/en/LC_MESSAGES/django.po lacks; run `manage.py makemessages -l en "
        f"--ignore=.venv --ignore=.data --ignore=bench` and translate them: {missing[:20]}")
