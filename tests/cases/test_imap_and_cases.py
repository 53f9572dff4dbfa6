"""The SORpost mailbox over a real IMAP server (dovecot), and working a case to an answer:
proposals as change-sets with four eyes, history pointing to the case, replies threading back,
regional administrators limited to their region."""

import datetime as dt
import threading
from email import message_from_bytes
from email.message import EmailMessage

import pytest
from django.db import connection

from registry.cases import services
from registry.cases.intake.imap import append, folder_count, poll
from registry.cases.intake.ingest import ingest
from registry.cases.replies import case_reply
from registry.changesets import engine
from registry.errors import DomainError, NotAllowed, ValidationFailed
from registry.models import Case, CaseStatus, ChangeSetStatus, MailIntake, Operation, Unit
from tests.cases.conftest import mails

pytestmark = pytest.mark.django_db


def test_poll_ingests_every_mail_and_moves_it_to_behandlet_or_karantaene(clinics, imap_server, smtp_server):
    for _name, raw in mails(clinics).items():
        append(raw)
    counts = poll()
    assert counts["fetched"] == 13
    assert counts["created"] == 12 and counts["quarantined"] == 1 and counts["moved"] == 13
    assert folder_count("INBOX") == 0
    assert folder_count("Behandlet") == 12 and folder_count("Karantæne") == 1
    assert Case.objects.count() == 12
    again = poll()
    assert again["fetched"] == 0 and Case.objects.count() == 12


def test_a_message_seen_again_in_the_inbox_makes_no_second_case(clinics, imap_server, smtp_server):
    raw = mails(clinics)["plain"]
    append(raw)
    poll()
    append(raw)  # delivered a second time
    counts = poll()
    assert counts["duplicate"] == 1 and Case.objects.count() == 1
    assert folder_count("Behandlet") == 2


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_pollers_at_once_make_one_case_per_mail(clinics, imap_server, smtp_server, settings):
    for name in ("plain", "alternative", "base64", "attachments", "no-message-id"):
        append(mails(clinics)[name])
    results, errors = [], []

    def run():
        try:
            results.append(poll())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert Case.objects.count() == 5 and MailIntake.objects.count() == 5
    assert sum(r["created"] for r in results) == 5
    assert folder_count("INBOX") == 0


def test_poll_with_a_wrong_password_fails_naming_the_server(imap_server, settings):
    settings.SOR_IMAP_PASSWORD = "wrong"
    from registry.cases.intake.imap import MailboxError

    with pytest.raises(MailboxError, match="127.0.0.1"):
        poll()


def _case(clinics, name="plain"):
    return Case.objects.get(reference=ingest(mails(clinics)[name]).case)


def test_support_applies_a_phone_change_at_once_and_history_points_to_the_case(clinics, support, smtp_server):
    case = _case(clinics)
    unit_id = int(clinics[0]["sor_id"])
    services.case_claim(actor=support, case=case)
    cs = services.case_propose(actor=support, case=case, rows=[
        {"change": "set", "sor_id": str(unit_id), "field": "virtual_present", "value": "ja"},
        {"change": "set", "sor_id": str(unit_id), "field": "phone", "value": "98123456"}])
    cs.refresh_from_db()
    case.refresh_from_db()
    assert cs.status == ChangeSetStatus.APPLIED and cs.approval == "policy"
    assert Unit.objects.get(pk=unit_id).phone == "98123456"
    assert Operation.objects.get(pk=cs.operation_id).provenance["case"] == case.reference
    history = Unit.history.filter(sor_id=unit_id).latest("history_date")
    assert Operation.objects.get(pk=history.operation_id).provenance["case"] == case.reference
    assert case.status == CaseStatus.APPLIED
    codes = list(case.events.values_list("code", flat=True))
    assert "registry.case.change_proposed" in codes and "registry.case.applied" in codes


def test_a_location_number_change_waits_for_a_second_sor_administrator(clinics, support, sor_admin, personas,
                                                                       smtp_server):
    case = _case(clinics)
    holder = clinics[0]["tree"]["oe"]
    cs = services.case_propose(actor=support, case=case, rows=[
        {"change": "move_location_number", "sor_id": str(holder.pk), "target": str(clinics[0]["tree"]["si"].pk)}])
    cs.refresh_from_db()
    case.refresh_from_db()
    assert cs.status == ChangeSetStatus.SUBMITTED and cs.risk == "high"
    assert case.status == CaseStatus.AWAITING_APPROVAL
    with pytest.raises(NotAllowed):  # the support desk cannot approve or apply it
        engine.changeset_approve(actor=support, changeset=cs)
    # An SOR-administrator's own proposal cannot be approved by themself either.
    own = services.case_propose(actor=sor_admin, case=case, rows=[
        {"change": "set", "sor_id": str(clinics[0]["tree"]["ie"].pk), "field": "cvr", "value": "25313763"}])
    with pytest.raises(NotAllowed):
        engine.changeset_approve(actor=sor_admin, changeset=own)
    engine.changeset_approve(actor=sor_admin, changeset=cs)
    cs.refresh_from_db()
    assert cs.status == ChangeSetStatus.APPLIED
    assert "registry.case.approved" in case.events.values_list("code", flat=True)


def test_a_reply_threads_back_into_the_same_case(clinics, support, smtp_server,
                                                 django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        case = _case(clinics)
        case_reply(actor=support, case=case, template="more_info")
    sent = message_from_bytes(smtp_server.sink.messages[-1])
    assert case.reference in sent["Subject"]
    answer = EmailMessage()
    answer["From"], answer["To"] = "klinik@laegerne-oestergade.example.dk", "sorpost@sundhedsdata.dk"
    answer["Subject"], answer["Message-ID"] = "Sv: " + sent["Subject"].replace(case.reference, "ref"), "<svar-1@klinik>"
    answer["In-Reply-To"], answer["References"] = sent["Message-ID"], sent["Message-ID"]
    answer.set_content("Det nye nummer er 98 12 34 56.")
    outcome = ingest(bytes(answer))
    assert outcome.action == "reply" and outcome.case == case.reference
    assert Case.objects.count() == 1
    assert "registry.case.reply_received" in case.events.values_list("code", flat=True)
    # Only the reference in the subject (the mailer dropped the headers): still the same case.
    bare = EmailMessage()
    bare["From"], bare["To"], bare["Message-ID"] = "klinik@example.dk", "sorpost@x", "<svar-2@klinik>"
    bare["Subject"] = f"Vedr. {case.reference}"
    bare.set_content("Tak")
    assert ingest(bytes(bare)).case == case.reference


def test_a_regional_administrator_works_only_their_regions_cases(clinics, regional, make_tree, smtp_server):
    own = _case(clinics)  # Region Nordjylland, as the regional administrator
    other_tree = make_tree(region_code="1084", name="Klinik Hovedstaden")
    other = services.case_create(actor=None, subject="Ny adresse", units=[other_tree["oe"]])
    services.case_claim(actor=regional, case=own)
    with pytest.raises(NotAllowed, match="anden region"):
        services.case_claim(actor=regional, case=other)
    visible = set(services.visible_cases(regional).values_list("reference", flat=True))
    assert own.reference in visible and other.reference not in visible


def test_merging_two_cases_moves_the_mail_and_closes_the_duplicate(clinics, support, smtp_server):
    first, second = _case(clinics, "plain"), _case(clinics, "auto-reply")
    services.case_merge(actor=support, case=second, into=first)
    second.refresh_from_db()
    assert second.status == CaseStatus.CLOSED and second.merged_into_id == first.pk
    assert first.messages.filter(direction="in").count() == 2
    with pytest.raises(DomainError):
        services.case_reopen(actor=support, case=second)


def test_the_due_date_is_five_working_days_after_receipt(db):
    friday = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)
    assert services.due_for(friday).date() == dt.date(2026, 12, 11)


def test_a_cvr_equal_to_the_units_phone_is_warned_about_before_anything_is_proposed(clinics, sor_admin, smtp_server):
    case = _case(clinics, "cvr-is-phone")
    owner = clinics[0]["tree"]["ie"]
    rows = [{"change": "set", "sor_id": str(owner.pk), "field": "cvr", "value": "98765432"}]
    with pytest.raises(services.ProposalWarnings) as exc:
        services.case_propose(actor=sor_admin, case=case, rows=rows)
    assert any("telefonnummer" in w for w in exc.value.warnings["__all__"])
    assert case.change_sets.count() == 0
    # Confirmed anyway, the register's own rule still refuses it, and nothing is left behind.
    with pytest.raises(ValidationFailed, match="telefon"):
        services.case_propose(actor=sor_admin, case=case, rows=rows, confirm=True)
    assert case.change_sets.count() == 0


def test_a_ydernummer_active_on_another_owner_and_a_12_digit_location_number_are_warned_about(clinics, support,
                                                                                             smtp_server):
    case = _case(clinics)
    warnings = services.proposal_warnings(case, [
        {"change": "set", "sor_id": clinics[0]["sor_id"], "field": "provider_number",
         "value": clinics[1]["provider_number"]},
        {"change": "assign_location_number", "sor_id": clinics[2]["sor_id"], "value": "579000123456"}])
    assert any("anden ejer" in w for w in warnings)
    assert any("12" in w and "13 cifre" in w for w in warnings)


def test_a_phone_for_a_unit_that_inherits_its_contact_data_gives_it_its_own(clinics, support, smtp_server):
    case = _case(clinics)
    unit_id = int(clinics[0]["sor_id"])
    assert not Unit.objects.get(pk=unit_id).virtual_present
    cs = services.case_propose(actor=support, case=case, rows=[
        {"change": "set", "sor_id": str(unit_id), "field": "phone", "value": "98123456"}])
    unit = Unit.objects.get(pk=unit_id)
    assert cs.changes.count() == 2 and unit.virtual_present and unit.phone == "98123456"
