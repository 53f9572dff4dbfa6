"""The command-line twins: `sor_selfservice` and `sor_followup` (exit codes, JSON, the service)."""

import json

import pytest
from django.core.management import CommandError, call_command

from registry.models import Case, SelfServiceLink, SorResponsible

from .conftest import CVR, OTHER_CVR

pytestmark = pytest.mark.django_db


def run(*args):
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return json.loads(out.getvalue())


def test_selfservice_command_looks_up_requests_and_refuses_a_wrong_cvr(clinic, capsys):
    found = run("sor_selfservice", "lookup", clinic["oe"].provider_number, "--cvr", CVR, "--json")
    assert found[0]["sor_id"] == str(clinic["oe"].pk) and found[0]["addresses"][0]["shown"] == "klinik@example.dk"
    sent = run("sor_selfservice", "request", str(clinic["oe"].pk), "--cvr", CVR, "--set", "phone=70 20 30 40",
               "--requester", "Hanne", "--address", "0", "--json")
    assert sent["sent_to"] == "klinik@example.dk" and SelfServiceLink.objects.filter(pk=int(sent["link"])).exists()
    with pytest.raises(CommandError) as refused:
        call_command("sor_selfservice", "lookup", clinic["oe"].provider_number, "--cvr", OTHER_CVR, "--json")
    assert refused.value.returncode == 1
    assert "Vi fandt ingen aktiv enhed" in json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]
    with pytest.raises(CommandError) as usage:
        call_command("sor_selfservice", "request", str(clinic["oe"].pk), "--cvr", CVR, "--set", "colour=blue",
                     "--requester", "H", "--address", "0")
    assert usage.value.returncode == 2
    wrong = run("sor_selfservice", "request", str(clinic["oe"].pk), "--cvr", CVR, "--set", "phone=70 20 30 41",
                "--requester", "Hanne", "--phone", "22 33 44 55", "--address-wrong", "--json")
    assert wrong["identity"] == "unconfirmed" and Case.objects.get(reference=wrong["case"]).identity == "unconfirmed"


def test_followup_command_names_a_person_sends_and_lists_overdue(clinic, settings, sor_admin):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    owner = clinic["ie"]
    named = run("sor_followup", "responsible", str(owner.pk), "--name", "Hanne", "--email", "hanne@example.dk",
                "--user", "sor-admin", "--json")
    assert named["owner"] == str(owner.pk) and SorResponsible.objects.get(owner=owner).email == "hanne@example.dk"
    half_year_on = SorResponsible.objects.get(owner=owner).named_at.date().replace(day=1)
    sent = run("sor_followup", "send", "--date", f"{half_year_on.year + 1}-{half_year_on.month:02d}-01", "--json")
    assert sent["owners"] == [str(owner.pk)] and sent["first"] == 1
    assert run("sor_followup", "overdue", "--json") == []  # overdue only once the date has really passed
    with pytest.raises(CommandError) as refused:
        call_command("sor_followup", "responsible", str(clinic["oe"].pk), "--email", "x@example.dk")
    assert refused.value.returncode == 1
