"""Identifier rules against real SOR identifiers from ../shared/sor-reference and wrong ones."""

import pytest

from registry import identifiers as ids
from tests.shared_data import real_cvrs, real_glns, real_sor_ids


def test_every_real_sor_id_passes():
    real = real_sor_ids()
    assert len(real) > 1000
    failing = [v for v in real if ids.check_sor_id(v)[0]]
    assert failing == []


@pytest.mark.parametrize("value,fragment", [
    ("6984910000160091", "namespace"),      # the synthetic OE in the v2 sample
    ("99999999999", "namespace"),           # MedCom's "Default Org"
    ("698471000016004", "kontrolciffer"),   # real id with the last digit changed
    ("5790002401473", "lokationsnummer"),  # a GLN in the SOR-ID field
    ("8331000016008", "kontrolciffer"),    # a typo in a real SOR-ID that happens to pass GS1 mod-10
    ("12345", "11–18"),
    ("34780A000016001", "cifre"),
])
def test_wrong_sor_ids_are_refused_with_a_reason(value, fragment):
    errors, _warnings = ids.check_sor_id(value)
    assert errors and fragment in errors[0]


def test_allocated_sor_ids_follow_sds_example():
    assert [ids.sor_id_for_sequence(n) for n in range(1, 6)] == [
        11000016002, 21000016006, 31000016008, 41000016001, 51000016003]
    assert ids.sequence_of_sor_id(698471000016005) == 69847


def test_every_real_gln_passes():
    real = real_glns()
    assert len(real) > 100
    assert [v for v in real if ids.check_gln(v)[0]] == []


@pytest.mark.parametrize("value,fragment", [
    ("579000240147", "12 (mangler"),
    ("57900024014731", "14 (et ciffer for meget"),
    ("5790002401474", "kontrolciffer"),
    ("35095748", "CVR-nummer"),
    ("57900O2401473", "13 cifre"),
])
def test_wrong_glns_name_the_likely_mistake(value, fragment):
    errors, _warnings = ids.check_gln(value)
    assert errors and fragment in errors[0]


def test_every_real_cvr_passes_without_warning():
    real = real_cvrs()
    assert len(real) > 100
    assert [v for v in real if any(ids.check_cvr(v))] == []


def test_cvr_failing_mod11_is_a_warning_not_an_error():
    errors, warnings = ids.check_cvr("35095749")
    assert errors == [] and "modulus 11" in warnings[0]


@pytest.mark.parametrize("value,phone,fragment", [
    ("46361266", "46361266", "samme som enhedens telefon"),
    ("+45 46361266", "", "ligner et telefonnummer"),
    ("46 36 12 66", "", "ligner et telefonnummer"),
    ("5790002401473", "", "lokationsnummer"),
    ("1234567890", "", "P-nummer"),
    ("1234567", "", "8 cifre"),
])
def test_values_typed_in_the_cvr_field_by_mistake(value, phone, fragment):
    errors, _warnings = ids.check_cvr(value, phone=phone)
    assert errors and fragment in errors[0]


def test_ydernummer_rules():
    assert ids.check_provider_number("019062") == ([], [])
    errors, _ = ids.check_provider_number("19062")
    # Five digits: says so, and offers the zero-padded form only as one possibility.
    assert "har 5" in errors[0] and "Mangler der et ciffer" in errors[0] and "019062" in errors[0]
    assert "skriv 019062" not in errors[0]
    errors, warnings = ids.check_provider_number("99019062")
    assert errors == [] and "dublet" in warnings[0]
    assert ids.check_provider_number("1234567")[0]
    assert ids.check_provider_number("12a456")[0]
    # SDS's own files may carry other lengths (XSD 1..9): accepted on import.
    assert ids.check_provider_number("1234567", strict=False) == ([], [])


@pytest.mark.parametrize("value", ["2529", "252901", "2529010", "804301", "6620A1", "6620A1B"])
def test_real_and_wellformed_shak_codes_pass(value):
    assert ids.check_shak(value) == ([], [])


@pytest.mark.parametrize("value", ["252", "25290", "25290101", "a529", "2529-01"])
def test_malformed_shak_codes_are_refused(value):
    errors, _ = ids.check_shak(value)
    assert errors and "SHAK" in errors[0]


def test_phone_and_pharmacy_number_rules():
    assert ids.check_phone("46361266") == ([], [])
    assert ids.check_phone("+45 46 36 12 66") == ([], [])
    assert ids.check_phone("4636")[0]
    assert "lokationsnummer" in ids.check_phone("5790002401473")[0][0]
    assert ids.check_pharmacy_number("362,1") == ([], [])
    assert ids.check_pharmacy_number("362;1")[0]


# Other Unicode digits: `str.isdigit()`, `\d` and python-stdnum accept them; SOR's file does not.
@pytest.mark.parametrize("check,value", [
    (ids.check_gln, "57900\uff10\uff10141227"),        # fullwidth zeros in a real GLN
    (ids.check_provider_number, "0\u24609062"),        # circled digit one
    (ids.check_p_number, "\u0ce7\u0ce8\u0ce9\u0cea\u0ceb\u0cec\u0ced\u0cee\u0cef\u0ce6"),  # Kannada digits
    (ids.check_sor_id, "6984710000160\u00b95"),       # superscript one
    (ids.check_cvr, "2\u00b9345678"),
])
def test_identifiers_with_non_ascii_digits_are_refused(check, value):
    assert any(ch.isdigit() and not ch.isascii() for ch in value)  # the value does pass isdigit()
    errors, _warnings = check(value)
    assert errors, f"{value!r} was accepted"
    assert "0-9" in errors[0] or "indeholder andet" in errors[0]


def test_is_digits_is_ascii_only():
    assert ids.is_digits("0123456789")
    assert not ids.is_digits("\u00b2")
    assert not ids.is_digits("\uff11")
    assert not ids.is_digits("")
    assert ids.digits_only("57900\uff10\uff10141227") == "57900141227"
