"""Mail intake: every kind of real-world mail becomes the right case (real PostgreSQL; the
acknowledgement goes to a real SMTP server on loopback)."""

from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.core.management import call_command

from registry.cases.intake.ingest import ingest, retry
from registry.models import Case, CaseMessage, IntakeStatus, LocationNumber, MailIntake, OutgoingStatus
from tests.cases.conftest import mails


@pytest.mark.django_db
def test_a_plain_mail_becomes_a_case_with_the_unit_its_sor_id_names(clinics, smtp_server):
    outcome = ingest(mails(clinics)["plain"], origin="test")
    assert outcome.action == "created" and outcome.new
    case = Case.objects.get(reference=outcome.case)
    import re

    from django.utils import timezone

    assert re.fullmatch(rf"SOR-{timezone.localdate().year}-\d{{5,}}", case.reference)
    assert list(case.units.values_list("pk", flat=True)) == [int(clinics[0]["sor_id"])]
    assert outcome.units == [clinics[0]["sor_id"]]
    assert {"kind": "sor_id", "value": clinics[0]["sor_id"], "valid": True} in outcome.identifiers
    assert case.sender_email == "klinik@laegerne-oestergade.example.dk"
    assert case.sender_name == "Lægerne Østergade"
    assert case.events.first().code == "registry.case.received"
    assert case.region_id == clinics[0]["tree"]["oe"].region_id


@pytest.mark.django_db
def test_the_original_is_kept_as_received(clinics, smtp_server, mail_dir):
    raw = mails(clinics)["attachments"]
    outcome = ingest(raw)
    message = CaseMessage.objects.get(case__reference=outcome.case, direction="in")
    assert (Path(mail_dir) / message.eml_path).read_bytes() == raw


@pytest.mark.django_db
def test_multipart_alternative_keeps_text_and_html_and_finds_the_ydernummer(clinics, smtp_server):
    outcome = ingest(mails(clinics)["alternative"])
    message = CaseMessage.objects.get(case__reference=outcome.case, direction="in")
    assert "Søndergade 12" in message.text and "<b>" in message.html
    assert clinics[1]["sor_id"] in outcome.units
    assert Case.objects.get(reference=outcome.case).sender_name == "Jens Ærø"


@pytest.mark.django_db
def test_an_html_only_outlook_mail_in_windows_1252_is_read_and_its_spaced_location_number_found(clinics, smtp_server):
    outcome = ingest(mails(clinics)["html-only-outlook-cp1252"])
    case = Case.objects.get(reference=outcome.case)
    assert case.subject == "Ændring af e-mail"
    assert case.sender_name == "Birte Ørsted"
    assert "“fra i dag”" in case.text and "–" in case.text  # Windows-1252 only characters survive
    assert {"kind": "location_number", "value": clinics[0]["gln"], "valid": True} in outcome.identifiers
    holder = LocationNumber.objects.get(gln=clinics[0]["gln"]).unit_id
    assert str(holder) in outcome.units


@pytest.mark.django_db
def test_iso_8859_1_headers_and_body_are_decoded(clinics, smtp_server):
    outcome = ingest(mails(clinics)["iso-8859-1"])
    case = Case.objects.get(reference=outcome.case)
    assert case.subject == "Rettelse af åbningstider"
    assert case.sender_name == "Søren Ågård"
    assert "ønsker at rette åbningstiderne" in case.text
    # "Ring gerne på 70 20 30 40" is a phone number, not a ydernummer
    assert [i["value"] for i in outcome.identifiers] == [clinics[2]["sor_id"]]


@pytest.mark.django_db
def test_raw_8bit_headers_are_read_as_windows_1252(clinics, smtp_server):
    outcome = ingest(mails(clinics)["raw-8bit-headers"])
    case = Case.objects.get(reference=outcome.case)
    assert case.subject == "Ændring af ydernummer på Ærø"
    assert case.sender_name == "Ærø Fysioterapi"
    assert "Ydernummer" in case.text and "\ufffd" not in case.text + case.subject


@pytest.mark.django_db
def test_a_base64_body_is_decoded_and_the_date_in_it_is_no_identifier(clinics, smtp_server):
    outcome = ingest(mails(clinics)["base64"])
    case = Case.objects.get(reference=outcome.case)
    assert "lukker 31-12-2026" in case.text
    assert [i["kind"] for i in outcome.identifiers] == ["sor_id"]


@pytest.mark.django_db
def test_a_forwarded_mail_is_read_and_kept_as_an_attachment_with_its_typo_reported(clinics, smtp_server):
    outcome = ingest(mails(clinics)["forwarded"])
    message = CaseMessage.objects.get(case__reference=outcome.case, direction="in")
    kinds = {(i["value"], i["valid"]) for i in outcome.identifiers}
    assert (clinics[0]["gln"], True) in kinds
    typo = next(i for i in outcome.identifiers if i["value"] == clinics[0]["gln"][:-1])
    assert typo["kind"] == "location_number" and typo["valid"] is False and "12 cifre" in typo["note"]
    attachment = message.attachments.get()
    assert attachment.content_type == "message/rfc822" and attachment.filename.endswith(".eml")


@pytest.mark.django_db
def test_attachments_are_stored_with_their_names_types_and_sizes(clinics, smtp_server, mail_dir):
    outcome = ingest(mails(clinics)["attachments"])
    message = CaseMessage.objects.get(case__reference=outcome.case, direction="in")
    got = {(a.filename, a.content_type) for a in message.attachments.all()}
    assert got == {("kvittering.pdf", "application/pdf"), ("skilt på døren.png", "image/png"),
                   ("ændringer.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}
    pdf = message.attachments.get(filename="kvittering.pdf")
    assert (Path(mail_dir) / pdf.path).read_bytes().startswith(b"%PDF") and pdf.size == len(
        (Path(mail_dir) / pdf.path).read_bytes())


@pytest.mark.django_db
def test_an_attachment_over_the_limit_is_not_kept_and_the_case_says_why(clinics, smtp_server, settings):
    settings.SOR_MAIL_MAX_ATTACHMENT_BYTES = 100
    outcome = ingest(mails(clinics)["attachments"])
    pdf = CaseMessage.objects.get(case__reference=outcome.case, direction="in").attachments.get(filename="kvittering.pdf")
    assert pdf.path == "" and "større end" in pdf.skipped


@pytest.mark.django_db
def test_a_person_gets_one_acknowledgement_with_the_reference_sent_after_commit(clinics, smtp_server,
                                                                               django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        outcome = ingest(mails(clinics)["plain"])
    assert len(smtp_server.sink.messages) == 1
    sent = message_from_bytes(smtp_server.sink.messages[0])
    assert outcome.case in sent["Subject"]
    assert sent["To"] == "klinik@laegerne-oestergade.example.dk"
    assert sent["In-Reply-To"] == "<sorpost-sample-1@klinik.example.dk>"
    assert CaseMessage.objects.get(case__reference=outcome.case, direction="out").status == OutgoingStatus.SENT


@pytest.mark.django_db
def test_an_auto_reply_makes_a_case_but_gets_no_acknowledgement(clinics, smtp_server,
                                                                django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        outcome = ingest(mails(clinics)["auto-reply"])
    assert outcome.action == "created"
    assert smtp_server.sink.messages == []
    assert not CaseMessage.objects.filter(case__reference=outcome.case, direction="out").exists()
    assert CaseMessage.objects.get(case__reference=outcome.case).automatic


@pytest.mark.parametrize("header", ["Precedence: bulk", "List-Id: <klinikker.example.dk>", "From: MAILER-DAEMON@mx.example.dk",
                                    "From: no-reply@system.example.dk"])
@pytest.mark.django_db
def test_list_mail_bounces_and_no_reply_senders_get_no_acknowledgement(clinics, smtp_server, header,
                                                                       django_capture_on_commit_callbacks):
    msg = EmailMessage()
    name, value = header.split(": ", 1)
    msg["From"] = value if name == "From" else "klinik@example.dk"
    if name != "From":
        msg[name] = value
    msg["To"], msg["Subject"], msg["Message-ID"] = "sorpost@sundhedsdata.dk", "Nyhedsbrev", f"<{name}@x>"
    msg.set_content("Tekst")
    with django_capture_on_commit_callbacks(execute=True):
        ingest(bytes(msg))
    assert smtp_server.sink.messages == []


@pytest.mark.django_db
def test_the_same_mail_delivered_twice_makes_one_case(clinics, smtp_server):
    raw = mails(clinics)["plain"]
    first, second = ingest(raw), ingest(raw.replace(b"From:", b"Received: from mx2.example.dk\r\nFrom:", 1))
    assert second.action == "duplicate" and second.case == first.case and not second.new
    assert Case.objects.count() == 1 and MailIntake.objects.count() == 1


@pytest.mark.django_db
def test_a_mail_without_message_id_is_recognised_again_by_its_content(clinics, smtp_server):
    raw = mails(clinics)["no-message-id"]
    first = ingest(raw)
    second = ingest(b"Received: from relay.example.dk\r\n" + raw)
    assert first.action == "created" and second.action == "duplicate"
    assert Case.objects.count() == 1


@pytest.mark.django_db
def test_a_malformed_mail_is_quarantined_with_its_reason_and_a_retry_after_a_fix_makes_the_case(
        clinics, smtp_server, mail_dir):
    outcome = ingest(mails(clinics)["malformed"], origin="test")
    assert outcome.action == "quarantined" and "ikke en mail" in outcome.quarantined
    intake = MailIntake.objects.get(pk=outcome.intake)
    assert intake.status == IntakeStatus.QUARANTINED and Case.objects.count() == 0
    assert retry(intake.pk).action == "quarantined"  # still unreadable: stays, with the reason
    # Staff repair the kept original (here: by hand) and retry: now it becomes a case.
    (Path(mail_dir) / intake.eml_path).write_bytes(mails(clinics)["plain"])
    again = retry(intake.pk)
    intake.refresh_from_db()
    assert again.action == "created" and intake.status == IntakeStatus.CREATED and intake.case.reference == again.case


@pytest.mark.django_db
def test_a_cvr_equal_to_a_phone_number_in_the_mail_is_not_taken_for_a_cvr(clinics, smtp_server):
    outcome = ingest(mails(clinics)["cvr-is-phone"])
    cvr = [i for i in outcome.identifiers if i["kind"] == "cvr"]
    # Labelled "CVR" it is reported (and fails mod 11); the same number labelled "Telefon" is a phone.
    assert cvr == [{"kind": "cvr", "value": "98765432", "valid": False}]


@pytest.mark.django_db
def test_an_unlabelled_8_digit_number_that_is_the_units_phone_is_no_cvr(clinics, smtp_server):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = "a@example.dk", "sorpost@x", "Ret", "<p@x>"
    msg.set_content(f"SOR-ID {clinics[0]['sor_id']}, ring 98765432 eller 25313763, eller 87654321.")
    outcome = ingest(bytes(msg))
    cvr = {i["value"]: i for i in outcome.identifiers if i["kind"] == "cvr"}
    assert "98765432" not in cvr  # the unit's phone
    assert cvr["25313763"]["valid"] is True  # passes mod 11, no phone: a CVR
    assert cvr["87654321"]["valid"] is False and "tvetydigt" in cvr["87654321"]["note"]


@pytest.mark.django_db
def test_sor_mail_ingest_prints_one_json_object_per_file_in_order(clinics, smtp_server, tmp_path, capsys):
    files = []
    for name in ("plain", "malformed", "plain"):
        path = tmp_path / f"{len(files)}-{name}.eml"
        path.write_bytes(mails(clinics)[name])
        files.append(str(path))
    call_command("sor_mail", "ingest", *files, "--json")
    import json

    out = json.loads(capsys.readouterr().out)
    assert [o["file"] for o in out] == files
    assert [o["action"] for o in out] == ["created", "quarantined", "duplicate"]
    assert out[0]["new"] is True and out[2]["new"] is False and out[2]["case"] == out[0]["case"]
    assert out[1]["quarantined"] and out[1]["case"] is None
    assert all(isinstance(u, str) for u in out[0]["units"])


@pytest.mark.django_db
def test_sor_mail_ingest_exits_1_when_a_file_cannot_be_read(tmp_path, capsys):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError) as exc:
        call_command("sor_mail", "ingest", str(tmp_path / "missing.eml"), "--json")
    assert exc.value.returncode == 1 and "missing.eml" in str(exc.value)
