"""`manage.py sor_case`: the command-line twin of the case admin."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from registry.cases.intake.ingest import ingest
from registry.models import Case, Unit
from tests.cases.conftest import mails

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command("sor_case", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_a_case_worked_from_the_command_line_to_closed(clinics, support, smtp_server, tmp_path):
    ref = ingest(mails(clinics)["plain"]).case
    unit = clinics[0]["sor_id"]
    assert [c["reference"] for c in run("list", "--unassigned", "--user", "support")] == [ref]
    assert run("assign", ref, "--to", "support", "--user", "support")["assignee"] == "support"
    assert [c["reference"] for c in run("list", "--mine", "--user", "support")] == [ref]
    changes = tmp_path / "c.csv"
    changes.write_text(f"change;sor_id;target;field;value\nset;{unit};;virtual_present;ja\nset;{unit};;phone;98123456\n")
    proposed = run("propose", ref, "--changes", str(changes), "--user", "support")
    assert proposed["status"] == "applied" and proposed["risk"] == "low" and proposed["changes"] == 2
    assert Unit.objects.get(pk=int(unit)).phone == "98123456"
    reply = run("reply", ref, "--template", "done", "--user", "support")
    assert reply["status"] == "queued" and ref in reply["subject"]
    assert run("show", ref)["status"] == "answered"
    closed = run("close", ref, "--user", "support")
    assert closed["status"] == "closed" and closed["units"] == [unit]
    shown = run("show", ref)
    assert [e["event"].rsplit(".", 1)[-1] for e in shown["timeline"]][:2] == ["received", "reply_sent"]


def test_a_guest_cannot_assign_and_gets_exit_1_with_the_reason(clinics, guest, smtp_server):
    ref = ingest(mails(clinics)["plain"]).case
    out = StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("sor_case", "assign", ref, "--to", "guest", "--user", "guest", "--json", stdout=out)
    assert exc.value.returncode == 1 and "behandle sager" in json.loads(out.getvalue())["error"]
    assert Case.objects.get(reference=ref).assignee_id is None


def test_an_unknown_case_is_refused_naming_it(db):
    with pytest.raises(CommandError, match="SOR-2026-99999"):
        call_command("sor_case", "show", "SOR-2026-99999")
