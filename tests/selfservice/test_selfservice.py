"""Self-service: the lookup needs the CVR, the form checks what the seed warns about, the one-time
link goes only to a registered address, works once and expires; the unconfirmed path; a login
plugged in instead of the link."""

import datetime as dt
from email import message_from_bytes

import pytest
from django.utils import timezone

from registry.cases.services import case_confirm_identity
from registry.changesets import engine
from registry.errors import DomainError
from registry.models import Case, ChangeSet, OutgoingMail, SelfServiceLink
from registry.selfservice import services

from .conftest import CVR, OTHER_CVR, link_in

pytestmark = pytest.mark.django_db


def _find(client, identifier, cvr):
    return client.post("/selvbetjening/", {"identifier": identifier, "cvr": cvr})


def _open_unit(client, clinic):
    response = _find(client, clinic["oe"].provider_number, CVR)
    assert response.status_code == 302, response.content.decode()[:2000]
    return response["Location"]


def test_lookup_finds_the_unit_only_with_the_cvr_registered_on_it_or_its_owner(client, clinic):
    oe = clinic["oe"]
    wrong = _find(client, oe.provider_number, OTHER_CVR)
    unknown = _find(client, "999999", CVR)
    assert wrong.status_code == unknown.status_code == 400
    # The same answer whether the number exists or not, and none of the unit's data.
    assert "Vi fandt ingen aktiv enhed" in wrong.content.decode()
    assert oe.name not in wrong.content.decode()
    for identifier in (oe.provider_number, clinic["gln"], str(oe.pk)):
        found = _find(client, identifier, CVR)
        assert found.status_code == 302 and found["Location"] == f"/selvbetjening/enhed/{oe.pk}/"
    page = client.get(f"/selvbetjening/enhed/{oe.pk}/").content.decode()
    assert oe.name in page and clinic["gln"] in page


def test_unit_page_without_a_matching_lookup_in_the_session_sends_back_to_the_start(client, clinic):
    response = client.get(f"/selvbetjening/enhed/{clinic['oe'].pk}/")
    assert response.status_code == 302 and response["Location"] == "/selvbetjening/"


def test_lookup_refuses_a_phone_number_typed_as_cvr_and_a_12_digit_location_number(client, clinic):
    response = _find(client, clinic["gln"][:12], "+45 98 76 54 32")
    page = response.content.decode()
    assert response.status_code == 400
    assert "ligner et telefonnummer, ikke et CVR-nummer" in page
    assert "Et lokationsnummer har 13 cifre" in page and "har 12 (mangler der et ciffer?)" in page


def test_form_refuses_a_12_digit_location_number_a_5_digit_ydernummer_and_the_phone_as_cvr(client, clinic):
    url = _open_unit(client, clinic)
    response = client.post(url, {"new_location_number": clinic["gln"][:12], "new_provider_number": "12345",
                                 "new_cvr": "98765432", "requester_name": "Hanne", "address": "0"})
    page = response.content.decode()
    assert response.status_code == 400
    assert "Et lokationsnummer har 13 cifre" in page
    assert "Et ydernummer har 6 cifre; 12345 har 5" in page
    assert "er det samme som enhedens telefon-/faxnummer" in page  # 98765432 is the clinic's phone
    assert not SelfServiceLink.objects.exists() and not OutgoingMail.objects.exists()


def test_link_goes_only_to_the_registered_address_never_to_the_one_typed(client, clinic, smtp_server, committed):
    services.responsible_set(actor=None, owner=clinic["ie"], name="Hanne Ansvarlig", email="hanne.a@example.dk")
    url = _open_unit(client, clinic)
    page = client.get(url).content.decode()
    # The published address is shown; the SOR-responsible person (not published) only masked.
    assert "klinik@example.dk (e-mail i SOR, registreret på Lægerne Torvet)" in page
    assert "h•••@example.dk (ejerens SOR-ansvarlige)" in page
    assert "hanne.a@example.dk" not in page and "Hanne Ansvarlig" not in page
    response = committed(client.post, url, {"new_phone": "70 20 30 40", "requester_name": "Hanne", "address": "0",
                                            "requester_email": "hanne@privat.example"})
    assert response.status_code == 200
    assert "Vi har sendt et link til klinik@example.dk" in response.content.decode()
    assert len(smtp_server.sink.messages) == 1
    mail = message_from_bytes(smtp_server.sink.messages[0])
    assert mail["To"] == "klinik@example.dk"
    assert "hanne@privat.example" not in smtp_server.sink.messages[0].decode("utf-8", "replace")
    assert link_in(mail.get_payload(decode=True).decode())
    # Nothing reaches the support desk before the link is followed.
    assert not Case.objects.exists()


def test_an_address_index_not_offered_is_refused(client, clinic):
    url = _open_unit(client, clinic)
    response = client.post(url, {"new_phone": "70 20 30 40", "requester_name": "Hanne", "address": "7"})
    assert response.status_code == 400 and "Vælg den registrerede e-mail" in response.content.decode()
    assert not SelfServiceLink.objects.exists()


def test_link_works_once_and_makes_one_case_with_the_proposal(client, clinic, smtp_server, committed):
    url = _open_unit(client, clinic)
    committed(client.post, url, {"new_phone": "70 20 30 40", "new_location_number": "5790000123452",
                                 "requester_name": "Hanne", "address": "0"})
    path = link_in(message_from_bytes(smtp_server.sink.messages[0]).get_payload(decode=True).decode())
    assert client.get(path).status_code == 200  # looking at it (a mail scanner) uses nothing
    assert not Case.objects.exists()
    confirmed = committed(client.post, path)
    assert confirmed.status_code == 200
    case = Case.objects.get()
    assert case.reference in confirmed.content.decode()
    assert (case.source, case.identity, case.status, case.sender_email) == ("self_service", "confirmed", "new",
                                                                            "klinik@example.dk")
    cs = case.change_sets.get()
    kinds = sorted(cs.changes.values_list("kind", "field"))
    assert ("set", "phone") in kinds and ("assign_location_number", kinds[0][1]) in kinds
    assert ("close_location_number", clinic["gln"]) in kinds
    assert cs.changes.get(field="phone").value == "70203040"  # typed in groups, kept as SOR holds it
    assert cs.status == "draft"  # the support desk reviews it first
    again = client.post(path)
    assert again.status_code == 410 and "allerede brugt" in again.content.decode()
    assert Case.objects.count() == 1
    # The receipt went to the registered address as well; nothing anywhere else.
    assert {message_from_bytes(m)["To"] for m in smtp_server.sink.messages} == {"klinik@example.dk"}


def test_an_expired_link_is_refused_and_makes_no_case(client, clinic):
    reg = services.Request(unit=clinic["oe"], new={"phone": "70 20 30 40"}, requester_name="Hanne")
    submitted = services.request_submit(reg, address=0)
    SelfServiceLink.objects.filter(pk=submitted.link.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    path = f"/selvbetjening/bekraeft/{submitted.token}/"
    for response in (client.get(path), client.post(path)):
        assert response.status_code == 410 and "udløbet" in response.content.decode()
    assert not Case.objects.exists()


def test_a_wrong_registered_address_makes_an_unconfirmed_case_that_cannot_be_submitted_until_verified(
        client, clinic, support):
    url = _open_unit(client, clinic)
    missing_phone = client.post(url, {"new_email": "ny@example.dk", "requester_name": "Hanne", "address_wrong": "1"})
    assert missing_phone.status_code == 400 and "telefonnummer, supporten kan ringe til" in missing_phone.content.decode()
    response = client.post(url, {"new_email": "ny@example.dk", "requester_name": "Hanne", "requester_phone": "22 33 44 55",
                                 "address_wrong": "1"})
    assert response.status_code == 200 and "identitet ikke bekræftet" in response.content.decode()
    case = Case.objects.get()
    assert case.identity == "unconfirmed" and not SelfServiceLink.objects.exists()
    cs = case.change_sets.get()
    with pytest.raises(DomainError, match="identitet er ikke bekræftet"):
        engine.changeset_submit(actor=support, changeset=cs)
    case_confirm_identity(actor=support, case=case, note="Ringet til klinikkens nummer 98765432; Hanne bekræftede.")
    engine.changeset_submit(actor=support, changeset=cs)
    cs = ChangeSet.objects.get(pk=cs.pk)
    assert cs.status == "applied", (list(cs.events.values_list("code", "note")), cs.failure if hasattr(cs, "failure") else "")  # contact data, low risk: applied at once


def fake_mitid_login(request):
    """A login plugged in as SOR_SELFSERVICE_LOGIN (an OIDC broker would read its claims)."""
    return request.META.get("HTTP_X_TEST_VERIFIED_CVR")


def test_a_plugged_in_login_vouching_for_the_cvr_makes_the_case_at_once(client, clinic, settings):
    settings.SOR_SELFSERVICE_LOGIN = "tests.selfservice.test_selfservice.fake_mitid_login"
    url = _open_unit(client, clinic)
    response = client.post(url, {"new_phone": "70 20 30 40", "requester_name": "Hanne"},
                           HTTP_X_TEST_VERIFIED_CVR=CVR)
    assert response.status_code == 200
    case = Case.objects.get()
    assert case.identity == "login" and "login (CVR 22370170)" in case.text
    assert not OutgoingMail.objects.filter(purpose="selfservice_link").exists()
    # A login for another CVR proves nothing: the link is sent instead.
    client.post(_open_unit(client, clinic), {"new_phone": "70 20 30 41", "requester_name": "Hanne", "address": "0"},
                HTTP_X_TEST_VERIFIED_CVR=OTHER_CVR)
    assert Case.objects.count() == 1 and SelfServiceLink.objects.count() == 1


def test_the_per_unit_mail_limit_holds_with_a_login_for_another_cvr_too(client, clinic, settings):
    settings.SOR_SELFSERVICE_MAILS_PER_UNIT = 2
    settings.SOR_SELFSERVICE_LOGIN = "tests.selfservice.test_selfservice.fake_mitid_login"
    statuses = [client.post(_open_unit(client, clinic), {"new_phone": f"70 20 30 4{n}", "requester_name": "Hanne",
                                                         "address": "0"}, HTTP_X_TEST_VERIFIED_CVR=OTHER_CVR).status_code
                for n in range(3)]
    assert statuses == [200, 200, 429]
    assert OutgoingMail.objects.filter(purpose="selfservice_link").count() == 2


def test_invalid_requests_do_not_use_up_the_clinics_link_mails(client, clinic, settings):
    settings.SOR_SELFSERVICE_MAILS_PER_UNIT = 1
    for _ in range(3):
        assert client.post(_open_unit(client, clinic), {"new_phone": "7", "requester_name": "X",
                                                        "address": "0"}).status_code == 400
    assert client.post(_open_unit(client, clinic), {"new_phone": "70 20 30 40", "requester_name": "Hanne",
                                                    "address": "0"}).status_code == 200


def test_the_per_unit_mail_limit_stops_flooding_the_clinics_mailbox(client, clinic, settings):
    settings.SOR_SELFSERVICE_MAILS_PER_UNIT = 2
    statuses = [client.post(_open_unit(client, clinic), {"new_phone": f"70 20 30 4{n}", "requester_name": "Hanne",
                                                         "address": "0"}).status_code for n in range(3)]
    assert statuses == [200, 200, 429]
    assert OutgoingMail.objects.filter(purpose="selfservice_link").count() == 2


def test_a_cvr_written_with_spaces_or_dk_is_read_as_the_cvr_through_to_the_unit_page(client, clinic):
    for typed in ("2237 0170", "DK22370170", "22 37 01 70"):
        found = _find(client, clinic["oe"].provider_number, typed)
        assert found.status_code == 302, typed
        page = client.get(found["Location"])
        assert page.status_code == 200 and clinic["oe"].name in page.content.decode(), typed
    assert _find(client, clinic["oe"].provider_number, "+45 22370170").status_code == 400


def test_a_nul_byte_or_an_odd_address_index_is_refused_by_name_not_a_server_error(client, clinic):
    url = _open_unit(client, clinic)
    response = client.post(url, {"new_phone": "70 20 30 40", "requester_name": "Han\x00ne", "address": "0"})
    assert response.status_code == 400 and "kontroltegn" in response.content.decode()
    for odd in ("²", "9" * 5000):
        response = client.post(url, {"new_phone": "70 20 30 40", "requester_name": "Hanne", "address": odd})
        assert response.status_code == 400 and "Vælg den registrerede e-mail" in response.content.decode()


def test_a_link_stops_working_when_its_address_is_no_longer_registered(client, clinic):
    from registry.services.units import unit_update

    submitted = services.request_submit(services.Request(unit=clinic["oe"], new={"phone": "70 20 30 40"},
                                                         requester_name="Hanne"), address=0)
    unit_update(actor=None, reason="ny e-mail", origin="command", unit=clinic["ie"], changes={"email": "ny@example.dk"})
    response = client.post(f"/selvbetjening/bekraeft/{submitted.token}/")
    assert response.status_code == 410 and "ikke længere er registreret" in response.content.decode()
    assert not Case.objects.exists()


def test_the_sent_mail_keeps_no_live_token(clinic, smtp_server, committed):
    submitted = committed(services.request_submit, services.Request(unit=clinic["oe"], new={"phone": "70 20 30 40"},
                                                                    requester_name="Hanne"), address=0)
    mail = OutgoingMail.objects.get()
    assert mail.status == "sent" and submitted.token not in mail.text and "/selvbetjening/bekraeft/…/" in mail.text
    sent = message_from_bytes(smtp_server.sink.messages[0]).get_payload(decode=True).decode()
    assert submitted.token in sent  # the recipient got it


def test_support_desk_submits_the_clinics_draft_and_the_new_number_keeps_its_edi_message_types(
        client, make_tree, settings, support, sor_admin, personas):
    from registry.models import EdiMessageType, LocationNumber
    from registry.services.location_numbers import location_number_assign
    from tests.factories import gln, location_codes

    settings.CELERY_TASK_ALWAYS_EAGER = True
    tree = make_tree(name="Klinik EDI", cvr=CVR, email="klinik@example.dk")
    types = list(EdiMessageType.objects.order_by("code")[:2])
    location_number_assign(actor=None, reason="testdata", origin="command", unit=tree["oe"], gln=gln(8200),
                           from_date=dt.date(2020, 1, 1), message_types=types, **location_codes())
    submitted = services.request_submit(services.Request(unit=tree["oe"], requester_name="Hanne",
                                                         new={"phone": "70 20 30 40", "location_number": gln(8201)}),
                                        address=0)
    case = services.request_confirm(submitted.token)
    cs = case.change_sets.get()
    client.force_login(support)
    page = client.get(f"/admin/registry/case/{case.pk}/change/").content.decode()
    assert "Klinikkens forslag (kladde)" in page and 'name="do-submit-set"' in page
    client.post(f"/admin/registry/case/{case.pk}/do/submit_set/", {"change_set": str(cs.pk)})
    cs.refresh_from_db()
    assert cs.status == "submitted"  # a location number: high risk, a SOR-administrator approves
    from registry.errors import NotAllowed

    with pytest.raises(NotAllowed, match="Kun en SOR-administrator"):
        engine.changeset_approve(actor=support, changeset=cs)
    engine.changeset_approve(actor=sor_admin, changeset=cs)
    new = LocationNumber.objects.get(gln=gln(8201))
    assert sorted(new.message_types.values_list("code", flat=True)) == sorted(t.code for t in types)
    assert LocationNumber.objects.get(gln=gln(8200)).to_date == timezone.localdate() - dt.timedelta(days=1)


def test_a_regional_administrator_cannot_submit_or_cancel_a_clinic_draft_of_another_region(make_tree, regional, support):
    from registry.errors import NotAllowed

    tree = make_tree(name="Klinik Syd", region_code="1083", cvr=CVR, email="klinik@example.dk")
    case = services.request_confirm(services.request_submit(services.Request(
        unit=tree["oe"], new={"phone": "70 20 30 40"}, requester_name="Hanne"), address=0).token)
    cs = case.change_sets.get()
    for act in (engine.changeset_submit, engine.changeset_cancel):
        with pytest.raises(NotAllowed):
            act(actor=regional, changeset=cs)
    assert ChangeSet.objects.get(pk=cs.pk).status == "draft"
    engine.changeset_submit(actor=support, changeset=cs)  # the support desk works every region
    assert ChangeSet.objects.get(pk=cs.pk).status == "applied"
