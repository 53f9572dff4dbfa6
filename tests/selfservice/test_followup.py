"""The SOR-responsible person and the half-yearly follow-up: reminders to the right people, once
and once more; a confirmation sets "sidst bekræftet" with its case; the person is not SOR data."""

import datetime as dt
from email import message_from_bytes as _parse
from email import policy

import pytest
from django.utils import timezone

from registry.audit import audit_context
from registry.changesets import engine
from registry.models import Case, ChangeEvent, FollowUpReminder, SorResponsible
from registry.selfservice import followup, services
from registry.services.units import unit_close

from .conftest import CVR, link_in

pytestmark = pytest.mark.django_db


def _named(owner, email, months_ago=7):
    responsible = services.responsible_set(actor=None, owner=owner, name=f"SOR-ansvarlig {email}", email=email,
                                           phone="33 44 55 66", origin="command")
    with audit_context(actor=None, reason="testdata: named earlier", origin="command"):
        responsible.named_at = timezone.now() - dt.timedelta(days=31 * months_ago)
        responsible.save(update_fields=["named_at"])
    return responsible


def message_from_bytes(data):
    return _parse(data, policy=policy.default)


def _recipients(sink):
    return [message_from_bytes(m)["To"] for m in sink.messages]


def test_the_half_yearly_task_reminds_the_right_people_once_then_once_more_then_never(
        make_tree, settings, smtp_server, committed):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    due = make_tree(name="Klinik Forfalden")["ie"]
    recent = make_tree(name="Klinik Nylig")["ie"]
    closed = make_tree(name="Klinik Lukket")["ie"]
    make_tree(name="Klinik Uden Ansvarlig")  # nobody to remind
    _named(due, "due@example.dk")
    _named(recent, "recent@example.dk", months_ago=1)
    _named(closed, "closed@example.dk")
    unit_close(actor=None, reason="testdata", origin="command", unit=closed,
               to_date=timezone.localdate() - dt.timedelta(days=1), include_descendants=True)
    today = timezone.localdate()

    first = committed(followup.send_due, today=today)
    committed(followup.send_due, today=today)  # the task runs again the same day
    assert first["first"] == 1 and first["owners"] == [str(due.pk)]
    assert _recipients(smtp_server.sink) == ["due@example.dk"]

    before = len(smtp_server.sink.messages)
    committed(followup.send_due, today=today + dt.timedelta(days=settings.SOR_FOLLOWUP_SECOND_AFTER_DAYS - 1))
    assert _recipients(smtp_server.sink)[before:].count("due@example.dk") == 0
    second = committed(followup.send_due, today=today + dt.timedelta(days=settings.SOR_FOLLOWUP_SECOND_AFTER_DAYS))
    assert second["second"] == 1 and second["owners"] == [str(due.pk)]
    last = message_from_bytes(smtp_server.sink.messages[-1])
    assert last["Subject"].startswith("Påmindelse") and "anden og sidste påmindelse" in last.get_payload(decode=True).decode()
    before = len(smtp_server.sink.messages)
    for days in (30, 60, 120):
        committed(followup.send_due, today=today + dt.timedelta(days=days))
    assert "due@example.dk" not in _recipients(smtp_server.sink)[before:]
    assert FollowUpReminder.objects.filter(owner=due).count() == 2
    # Overdue: the staff list holds it, with both reminders sent.
    listed = {r.owner_id: sent for r, _due, sent in followup.overdue(today=today + dt.timedelta(days=1))}
    assert listed.get(due.pk) == 2 and recent.pk not in listed


def test_following_the_reminder_link_and_confirming_sets_sidst_bekraeftet_with_its_case(
        client, make_tree, settings, smtp_server, committed):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    owner = make_tree(name="Klinik Bekræfter", cvr=CVR)["ie"]
    _named(owner, "ansvarlig@example.dk")
    committed(followup.send_due)
    path = link_in(message_from_bytes(smtp_server.sink.messages[0]).get_payload(decode=True).decode(), "opfoelgning")
    page = client.get(path)
    assert page.status_code == 200 and "Klinik Bekræfter ydernummer" in page.content.decode()
    assert SorResponsible.objects.get(owner=owner).last_confirmed_at is None

    response = client.post(path, {"note": "Alt passer."})
    assert response.status_code == 200
    responsible = SorResponsible.objects.get(owner=owner)
    case = Case.objects.get()
    assert responsible.last_confirmed_case == case and responsible.last_confirmed_at is not None
    assert case.status == "closed" and case.source == "self_service" and "Alt passer." in case.text
    assert case.events.filter(code="registry.case.confirmed").exists()
    # The confirmation has history under an operation; the public change log says nothing of the person.
    latest = responsible.history.latest("history_date")
    assert latest.operation is not None and latest.operation.provenance.get("case") == case.reference
    assert not ChangeEvent.objects.filter(model="registry.sorresponsible").exists()
    # The link worked once; the next round is due half a year after the confirmation.
    assert client.post(path).status_code == 410
    assert followup.due_on(responsible) == followup.add_months(timezone.localdate(), settings.SOR_FOLLOWUP_MONTHS)
    before = len(smtp_server.sink.messages)
    committed(followup.send_due)
    assert len(smtp_server.sink.messages) == before  # confirmed: nothing due now


def test_a_correction_from_the_followup_link_is_a_case_with_its_proposal(client, make_tree, settings, smtp_server,
                                                                          committed):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    tree = make_tree(name="Klinik Retter", cvr=CVR)
    _named(tree["ie"], "ansvarlig@example.dk")
    committed(followup.send_due)
    path = link_in(message_from_bytes(smtp_server.sink.messages[0]).get_payload(decode=True).decode(), "opfoelgning")
    response = client.post(f"{path}ret/{tree['oe'].pk}/", {"new_phone": "70 80 90 10", "requester_name": "Ansvarlig"})
    assert response.status_code == 200
    case = Case.objects.get()
    assert case.identity == "confirmed" and case.change_sets.get().changes.filter(field="phone").exists()
    assert SorResponsible.objects.get(owner=tree["ie"]).last_confirmed_case == case


def test_a_responsible_person_proposed_by_self_service_is_named_when_the_set_is_applied(
        client, make_tree, settings, support, sor_admin):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    tree = make_tree(name="Klinik Udpeger", cvr=CVR, email="klinik@example.dk")
    submitted = services.request_submit(services.Request(
        unit=tree["oe"], requester_name="Hanne",
        new={"responsible_name": "Hanne Hansen", "responsible_email": "hanne@example.dk",
             "responsible_phone": "20 30 40 50"}), address=0)
    case = services.request_confirm(submitted.token)
    cs = case.change_sets.get()
    assert sorted(cs.changes.values_list("field", flat=True)) == ["email", "name", "phone"]
    assert cs.risk == "high"  # a new address for links and reminders needs a second pair of eyes
    engine.changeset_submit(actor=support, changeset=cs)
    engine.changeset_approve(actor=sor_admin, changeset=cs)
    responsible = SorResponsible.objects.get(owner=tree["ie"])
    assert (responsible.name, responsible.email, responsible.phone) == ("Hanne Hansen", "hanne@example.dk", "20304050")
    assert responsible.history.latest("history_date").operation.provenance.get("case") == case.reference


def test_the_submitter_of_a_set_nobody_authored_cannot_also_approve_it(make_tree, settings, sor_admin, personas):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    tree = make_tree(name="Klinik Fire Øjne", cvr=CVR, email="klinik@example.dk")
    submitted = services.request_submit(services.Request(unit=tree["oe"], requester_name="Hanne",
                                                         new={"cvr": "12345674"}), address=0)
    cs = services.request_confirm(submitted.token).change_sets.get()
    engine.changeset_submit(actor=sor_admin, changeset=cs)
    from registry.errors import NotAllowed

    with pytest.raises(NotAllowed, match="en anden SOR-administrator"):
        engine.changeset_approve(actor=sor_admin, changeset=cs)


def test_the_browser_that_used_the_followup_link_corrects_more_units_into_the_same_case_and_no_other_can(
        client, make_tree, settings, smtp_server, committed):
    from django.test import Client

    settings.CELERY_TASK_ALWAYS_EAGER = True
    tree = make_tree(name="Klinik Flere", cvr=CVR)
    _named(tree["ie"], "ansvarlig@example.dk")
    committed(followup.send_due)
    path = link_in(message_from_bytes(smtp_server.sink.messages[0]).get_payload(decode=True).decode(), "opfoelgning")
    assert client.post(f"{path}ret/{tree['oe'].pk}/", {"new_phone": "70 80 90 10",
                                                       "requester_name": "A"}).status_code == 200
    assert client.post(f"{path}ret/{tree['si'].pk}/", {"new_website": "https://flere.example.dk",
                                                       "requester_name": "A"}).status_code == 200
    case = Case.objects.get()
    assert case.change_sets.count() == 2 and case.units.filter(pk=tree["si"].pk).exists()
    page = client.get(path).content.decode()
    assert case.reference in page and "Oplysningerne er korrekte – bekræft" not in page
    other = Client()  # another browser: the link was used
    assert other.get(path).status_code == 410
    assert other.post(f"{path}ret/{tree['oe'].pk}/", {"new_phone": "70 80 90 11", "requester_name": "B"}).status_code == 410
    assert Case.objects.get().change_sets.count() == 2


def test_a_followup_link_to_a_replaced_address_stops_working(client, make_tree, settings, smtp_server, committed):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    owner = make_tree(name="Klinik Skifter", cvr=CVR)["ie"]
    _named(owner, "gammel@example.dk")
    committed(followup.send_due)
    path = link_in(message_from_bytes(smtp_server.sink.messages[0]).get_payload(decode=True).decode(), "opfoelgning")
    services.responsible_set(actor=None, owner=owner, email="ny@example.dk", origin="command")
    assert client.post(path).status_code == 410
    assert SorResponsible.objects.get(owner=owner).last_confirmed_at is None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_reminder_runs_at_once_send_one_reminder(make_tree, settings, smtp_server):
    import threading

    from django.db import connection

    settings.CELERY_TASK_ALWAYS_EAGER = True
    owner = make_tree(name="Klinik Samtidig")["ie"]
    _named(owner, "samtidig@example.dk")
    barrier, results = threading.Barrier(2), []

    def run():
        try:
            barrier.wait()
            results.append(followup.send_due())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["first"] for r in results) == [0, 1]
    assert FollowUpReminder.objects.filter(owner=owner).count() == 1
    assert _recipients(smtp_server.sink) == ["samtidig@example.dk"]
