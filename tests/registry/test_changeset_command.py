"""`manage.py sor_changeset`: every step scriptable, JSON shapes, exit codes 0/1/2."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError

from registry.models import ChangeSet, Unit
from registry.roles import SOR_ADMIN


def run(*args):
    """(exit code, stdout) of the command as a script sees them."""
    from io import StringIO

    out = StringIO()
    try:
        call_command("sor_changeset", *args, stdout=out, stderr=StringIO())
        return 0, out.getvalue()
    except CommandError as exc:
        return exc.returncode, out.getvalue()
    except SystemExit as exc:  # argparse's usage errors
        return exc.code, out.getvalue()


@pytest.fixture
def second_admin(personas):
    user = get_user_model().objects.create_user("sor-admin-2", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=SOR_ADMIN))
    return user


def test_the_whole_flow_on_the_command_line(make_tree, sor_admin, second_admin, tmp_path):
    tree = make_tree()
    changes = tmp_path / "changes.csv"
    # A BOM and CRLF line ends, as Excel writes the file.
    changes.write_bytes(("\ufeffchange;sor_id;target;field;value\r\n"
                         f"rename;{tree['oe'].pk};;;Lægehuset Østergade\r\n").encode())
    code, out = run("create", "--name", "Omdøbning", "--reason", "mail fra klinikken", "--changes", str(changes),
                    "--user", "sor-admin", "--json")
    assert code == 0, out
    created = json.loads(out)
    assert created["status"] == "draft" and created["changes"] == 1 and isinstance(created["id"], str)
    set_id = created["id"]

    code, out = run("preview", set_id, "--json")
    preview = json.loads(out)
    assert code == 0 and preview["affected"] == [str(tree["oe"].pk)] and preview["file_records_changed"] == 1
    assert preview["routing_changed"] == [] and preview["errors"] == []

    assert json.loads(run("submit", set_id, "--user", "sor-admin", "--json")[1])["status"] == "submitted"
    code, out = run("approve", set_id, "--user", "sor-admin", "--json")
    assert code == 1 and "eget" in json.loads(out)["error"]
    # Dated today: approving applies it at once; applying it again is refused.
    code, out = run("approve", set_id, "--user", "sor-admin-2", "--json")
    assert code == 0 and json.loads(out) == {"id": set_id, "status": "applied", "risk": "high", "changes": 1}
    assert Unit.objects.get(pk=tree["oe"].pk).name == "Lægehuset Østergade"
    code, out = run("apply", set_id, "--user", "sor-admin-2", "--json")
    assert code == 1 and "gennemført" in json.loads(out)["error"]

    shown = json.loads(run("show", set_id, "--json")[1])
    assert [e["event"] for e in shown["timeline"]][-1] == "registry.changeset.applied"
    assert shown["changes"][0]["sor_id"] == str(tree["oe"].pk)
    listed = json.loads(run("list", "--status", "applied", "--json")[1])
    assert [row["id"] for row in listed] == [set_id]

    code, out = run("revert", set_id, "--user", "sor-admin", "--json")
    reverted = json.loads(out)
    assert code == 0 and reverted["id"] == set_id and reverted["status"] == "reverted"
    inverse = json.loads(run("show", reverted["inverse"], "--json")[1])
    assert inverse["status"] == "draft" and inverse["reverts"] == set_id
    assert [(c["change"], c["sor_id"], c["value"]) for c in inverse["changes"]] == [
        ("rename", str(tree["oe"].pk), tree["oe"].name)]
    code, out = run("revert", "abc", "--user", "sor-admin", "--json")
    assert code == 2


def test_a_file_with_a_bad_row_creates_nothing_and_lists_the_rows(make_tree, sor_admin, tmp_path):
    tree = make_tree()
    changes = tmp_path / "changes.csv"
    changes.write_text("change;sor_id;target;field;value\n"
                       f"set;{tree['oe'].pk};;phone;44556677\n"
                       f"move;{tree['oe'].pk};123;;\n", encoding="utf-8")
    code, out = run("create", "--name", "x", "--reason", "y", "--changes", str(changes), "--user", "sor-admin",
                    "--json")
    assert code == 1
    result = json.loads(out)
    assert result["errors"] == [{"row": 3, "message": "Ny overordnet: SOR-ID 123 findes ikke."}]
    assert "error" in result
    assert not ChangeSet.objects.exists()


def test_wrong_usage_exits_2(personas):
    assert run("show", "abc")[0] == 2
    assert run("create", "--name", "x", "--reason", "y", "--user", "nobody")[0] == 2
    # argparse's own usage errors, as a script running manage.py sees them
    import os
    import subprocess
    import sys

    from tests.factories import test_database_url

    proc = subprocess.run([sys.executable, "manage.py", "sor_changeset", "frobnicate"], capture_output=True, text=True,
                          env={**os.environ, "DATABASE_URL": test_database_url()})
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
    code, out = run("show", "999", "--json")
    assert code == 1 and json.loads(out) == {"error": "Ændringssæt 999 findes ikke."}
