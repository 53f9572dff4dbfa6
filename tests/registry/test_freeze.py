"""Freeze windows (issue 13): inside one the services refuse edits from everyone except
SOR-administrators, naming the window; scheduled sets wait for the first nightly activation after
it; change-sets may still be proposed; a banner shows on staff pages; `manage.py sor_freeze`."""

import datetime as dt
import json
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from registry import freeze
from registry.changesets import engine
from registry.errors import NotAllowed
from registry.models import Unit
from registry.services.units import unit_update
from tests.admin.admin_helpers import change_url, form_data, form_errors

pytestmark = pytest.mark.django_db
HOUR = dt.timedelta(hours=1)


def window(sor_admin, *, start=-HOUR, end=HOUR, **kwargs):
    now = timezone.now()
    return freeze.freeze_add(actor=sor_admin, starts_at=now + start, ends_at=now + end,
                             reason="Nyt register indlæses", **kwargs)


def test_inside_a_window_support_is_refused_with_the_window_named_and_a_sor_admin_may_edit(
        make_tree, support, sor_admin):
    tree = make_tree()
    frozen = window(sor_admin)
    with pytest.raises(freeze.Frozen) as refused:
        unit_update(unit=tree["oe"].pk, changes={"virtual_present": True, "phone": "11112222"}, actor=support,
                    reason="mail", origin="admin")
    assert isinstance(refused.value, NotAllowed) and refused.value.window == frozen
    message = str(refused.value)
    assert "Nyt register indlæses" in message
    assert timezone.localtime(frozen.ends_at).strftime("%d-%m-%Y %H:%M") in message
    assert Unit.objects.get(pk=tree["oe"].pk).phone == ""
    unit_update(unit=tree["oe"].pk, changes={"virtual_present": True, "phone": "33334444"}, actor=sor_admin,
                reason="rettelse under frysning", origin="admin")
    assert Unit.objects.get(pk=tree["oe"].pk).phone == "33334444"
    # A change-set may still be proposed while the register is frozen.
    cs = engine.changeset_create(actor=support, name="Ny telefon", reason="mail", rows=engine.parse_changes_csv(
        f"change;sor_id;target;field;value\nset;{tree['oe'].pk};;phone;55556666\n"))
    assert cs.changes.count() == 1


def test_outside_a_window_and_after_it_is_ended_support_edits_again(make_tree, support, sor_admin):
    tree = make_tree()
    later = window(sor_admin, start=2 * HOUR, end=3 * HOUR)
    unit_update(unit=tree["oe"].pk, changes={"virtual_present": True, "phone": "11112222"}, actor=support,
                reason="mail", origin="admin")
    now_window = window(sor_admin)
    with pytest.raises(freeze.Frozen):
        unit_update(unit=tree["oe"].pk, changes={"phone": "22223333"}, actor=support, reason="mail", origin="admin")
    with pytest.raises(NotAllowed):
        freeze.freeze_end(actor=support, window=now_window)
    freeze.freeze_end(actor=sor_admin, window=now_window)
    unit_update(unit=tree["oe"].pk, changes={"phone": "22223333"}, actor=support, reason="mail", origin="admin")
    assert Unit.objects.get(pk=tree["oe"].pk).phone == "22223333"
    assert freeze.active_window() is None and freeze.upcoming() == [later]


def test_a_scheduled_set_waits_during_the_window_and_applies_on_the_first_activation_after_it(
        make_tree, support, sor_admin):
    tree = make_tree()
    cs = engine.changeset_create(actor=support, name="Ny telefon", reason="mail", rows=engine.parse_changes_csv(
        f"change;sor_id;target;field;value\nset;{tree['oe'].pk};;phone;55556666\n"))
    frozen = window(sor_admin)
    cs = engine.changeset_submit(actor=support, changeset=cs)
    # Approved by the policy; applying at once is refused by the window, so it waits, approved.
    assert cs.status == "approved"
    today = timezone.localdate()
    result = engine.apply_due(today, log=lambda _m: None)
    assert result == {"applied": [], "failed": [], "waiting": [str(cs.pk)]}
    freeze.freeze_end(actor=sor_admin, window=frozen)
    assert engine.apply_due(today, log=lambda _m: None)["applied"] == [str(cs.pk)]
    assert Unit.objects.get(pk=tree["oe"].pk).phone == "55556666"


def test_a_window_letting_scheduled_sets_through_does_not_hold_them(make_tree, support, sor_admin):
    tree = make_tree()
    window(sor_admin, allow_scheduled=True)
    cs = engine.changeset_create(actor=sor_admin, name="Omdøb", reason="x", rows=engine.parse_changes_csv(
        f"change;sor_id;target;field;value\nrename;{tree['oe'].pk};;;Nyt navn\n"),
        effective_date=timezone.localdate() + dt.timedelta(days=1))
    engine.changeset_submit(actor=sor_admin, changeset=cs)
    cs.status, cs.approval = "approved", "person"
    cs.save()
    day = timezone.localdate() + dt.timedelta(days=1)
    assert engine.apply_due(day, log=lambda _m: None)["applied"] == [str(cs.pk)]


def test_only_sor_admins_declare_windows_and_bad_input_is_named(support, sor_admin):
    now = timezone.now()
    with pytest.raises(NotAllowed):
        freeze.freeze_add(actor=support, starts_at=now, ends_at=now + HOUR, reason="x")
    with pytest.raises(freeze.ValidationFailed) as bad:
        freeze.freeze_add(actor=sor_admin, starts_at=now, ends_at=now - HOUR, reason="")
    assert set(bad.value.errors) == {"reason", "ends_at"}


def run(*args):
    out = StringIO()
    try:
        call_command("sor_freeze", *args, stdout=out, stderr=StringIO())
        return 0, out.getvalue()
    except CommandError as exc:
        return exc.returncode, out.getvalue()


def test_the_command_adds_lists_and_ends_windows(sor_admin, support):
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    code, out = run("add", "--from", tomorrow.isoformat(), "--to", (tomorrow + dt.timedelta(days=2)).isoformat(),
                    "--reason", "Nyt register", "--user", "sor-admin", "--json")
    added = json.loads(out)
    assert code == 0 and isinstance(added["id"], str) and added["active"] is False
    assert added["from"].startswith(f"{tomorrow.isoformat()}T00:00")
    assert added["to"].startswith(f"{(tomorrow + dt.timedelta(days=3)).isoformat()}T00:00")  # to the end of the day
    listed = json.loads(run("list", "--json")[1])
    assert [w["id"] for w in listed] == [added["id"]]
    code, out = run("end", added["id"], "--user", "support", "--json")
    assert code == 1 and "SOR-administratorer" in json.loads(out)["error"]
    code, out = run("end", added["id"], "--user", "sor-admin", "--json")
    assert code == 0 and json.loads(out)["ended_by"] == "sor-admin"
    assert json.loads(run("list", "--json")[1]) == []
    assert run("add", "--from", "i morgen", "--to", "x", "--reason", "r", "--user", "sor-admin")[0] == 2
    assert run("end", "abc", "--user", "sor-admin")[0] == 2


def test_the_banner_names_the_window_on_staff_pages_and_the_unit_form_shows_the_refusal(
        make_tree, support, sor_admin):
    tree = make_tree()
    window(sor_admin)
    client = Client()
    client.force_login(support)
    index = client.get("/admin/").content.decode()
    banner = re.search(r'<div id="sor-freeze-banner"[^>]*>(.*?)</div>', index, re.S)
    assert banner is not None and "Nyt register indlæses" in banner.group(1)
    assert "Kun SOR-administratorer kan rette" in banner.group(1)
    page = client.get(change_url(tree["oe"]))
    response = client.post(change_url(tree["oe"]), form_data(page, phone="11223344", virtual_present="on",
                                                             reason="mail"))
    assert response.status_code == 200
    errors = form_errors(response)
    assert any("frosset" in e and "Nyt register indlæses" in e for e in errors["__all__"]), errors
    assert Unit.objects.get(pk=tree["oe"].pk).phone == ""


def test_sor_import_inside_a_window_reports_the_import_as_waiting_and_exits_0(sor_admin, settings, tmp_path):
    from tests.exports.xml_helpers import V1_SAMPLES

    settings.IMPORT_UPLOAD_DIR = str(tmp_path)
    window(sor_admin, allow_scheduled=True)
    praksis = next(p for p in V1_SAMPLES if p.name == "ONE_PRAKSIS.xml")
    out = StringIO()
    call_command("sor_import", str(praksis), "--reason", "fra SDS", "--user", sor_admin.username, "--json", stdout=out)
    payload = json.loads(out.getvalue())
    assert payload["status"] == "waiting" and "error" not in payload
    assert "Nyt register indlæses" in payload["summary"] and not Unit.objects.filter(pk=8321000016007).exists()
    # A window that lets imports through does not hold one back.
    freeze.freeze_end(actor=sor_admin, window=freeze.active_window())
    window(sor_admin, allow_imports=True)
    out = StringIO()
    call_command("sor_import", str(praksis), "--reason", "fra SDS", "--user", sor_admin.username, "--json", stdout=out)
    assert json.loads(out.getvalue())["status"] == "succeeded" and Unit.objects.filter(pk=8321000016007).exists()
