"""Identifier rules of SOR (sor-format.md §6), with python-stdnum doing the check digits.

Each `check_*` returns `(errors, warnings)`: lists of messages. Errors block a change; warnings
(a CVR failing mod-11, a legacy "99" ydernummer) may be overridden by staff with a reason. The
messages name the likely mistake when a value looks like it belongs in another field.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext as _
from stdnum import ean, verhoeff
from stdnum.dk import cvr as stdnum_cvr

SOR_NAMESPACE = "1000016"
SOR_PARTITION = "00"
SOR_ID_RE = re.compile(r"^[1-9][0-9]*100001600[0-9]$")
SHAK_RE = re.compile(r"^[0-9]{4}([0-9A-Z][0-9]([0-9A-Z])?)?$")
PHONE_RE = re.compile(r"^\+?[0-9 ()-]{8,20}$")

Messages = tuple[list[str], list[str]]

# New SOR-IDs (admin, generator, demo) are allocated from this item number up (migration 0010):
# 18-digit SOR-IDs that real SDS files, with at most 7-digit item numbers, never use.
FIRST_ALLOCATED_SEQUENCE = 90_000_000


def is_digits(text: str) -> bool:
    """ASCII digits 0-9 only. `str.isdigit()`, `\\d` and python-stdnum also accept other Unicode
    digits (fullwidth ０, superscript ², circled ①, Kannada ೧ …), which SOR's file and its
    consumers do not: an identifier holding one fails the XSD and every consumer's parser."""
    return bool(text) and text.isascii() and text.isdigit()


def digits_only(value: str) -> str:
    """The ASCII digits of `value` (other Unicode digits are dropped, so a comparison with the
    value itself shows them)."""
    return re.sub(r"[^0-9]", "", value or "")


def sor_id_for_sequence(seq: int) -> int:
    """The SOR-ID with item number `seq`: <seq><namespace 1000016><partition 00><Verhoeff>."""
    if seq < 1:
        raise ValueError("SOR-ID sequence numbers start at 1")
    body = f"{seq}{SOR_NAMESPACE}{SOR_PARTITION}"
    return int(body + verhoeff.calc_check_digit(body))


def sequence_of_sor_id(sor_id: int | str) -> int:
    return int(str(sor_id)[: -len(SOR_NAMESPACE) - len(SOR_PARTITION) - 1])


def check_sor_id(value) -> Messages:
    text = str(value or "").strip()
    if not is_digits(text):
        return [_("Et SOR-ID består kun af cifrene 0-9; %(value)r gør ikke.") % {"value": text}], []
    if len(text) < 11 or len(text) > 18:
        return [_("Et SOR-ID har 11–18 cifre; %(value)s har %(n)d.") % {"value": text, "n": len(text)}], []
    if SOR_ID_RE.match(text) and verhoeff.is_valid(text):
        return [], []
    if SOR_ID_RE.match(text):
        # It carries SOR's namespace and partition: a typo in a SOR-ID, even if it passes GS1 mod-10.
        return [_("SOR-ID %(value)s har forkert kontrolciffer (Verhoeff).") % {"value": text}], []
    # Only now suggest another reading.
    if len(text) == 13 and ean.is_valid(text):
        return [_("%(value)s er et lokationsnummer (GLN), ikke et SOR-ID.") % {"value": text}], []
    if not SOR_ID_RE.match(text):
        return [_("%(value)s er ikke et SOR-ID: det skal slutte med namespace 1000016, partition 00 og et kontrolciffer.")
                % {"value": text}], []
    return [_("SOR-ID %(value)s har forkert kontrolciffer (Verhoeff).") % {"value": text}], []


def check_gln(value) -> Messages:
    text = str(value or "").strip()
    digits = digits_only(text)
    if digits != text.replace(" ", ""):
        return [_("Et lokationsnummer består af 13 cifre (0-9); %(value)r indeholder andet.") % {"value": text}], []
    if len(digits) == 12:
        return [_("Et lokationsnummer har 13 cifre; %(value)s har 12 (mangler der et ciffer?).") % {"value": digits}], []
    if len(digits) == 14:
        return [_("Et lokationsnummer har 13 cifre; %(value)s har 14 (et ciffer for meget, eller et GTIN-14?).")
                % {"value": digits}], []
    if len(digits) == 8 and stdnum_cvr.is_valid(digits):
        return [_("%(value)s har 8 cifre og ligner et CVR-nummer, ikke et lokationsnummer.") % {"value": digits}], []
    if len(digits) != 13:
        return [_("Et lokationsnummer har 13 cifre; %(value)s har %(n)d.") % {"value": digits, "n": len(digits)}], []
    if not ean.is_valid(digits):
        return [_("Lokationsnummer %(value)s har forkert kontrolciffer (GS1 modulus 10).") % {"value": digits}], []
    return [], []


def check_cvr(value, *, phone: str = "", fax: str = "") -> Messages:
    text = str(value or "").strip()
    if not text:
        return [], []
    digits = digits_only(text)
    phone_digits = {digits_only(p)[-8:] for p in (phone, fax) if p}
    looks_like_phone = text.startswith("+") or bool(re.search(r"[0-9]\s+[0-9]", text)) or (len(digits) == 10 and digits.startswith("45"))
    if digits and digits[-8:] in phone_digits:
        return [_("CVR-nummeret %(value)s er det samme som enhedens telefon-/faxnummer: er telefonnummeret skrevet i CVR-feltet?")
                % {"value": text}], []
    if looks_like_phone:
        return [_("%(value)r ligner et telefonnummer, ikke et CVR-nummer (8 cifre uden mellemrum).") % {"value": text}], []
    if digits != text:
        return [_("Et CVR-nummer består af 8 cifre; %(value)r indeholder andet.") % {"value": text}], []
    if len(digits) == 13 and ean.is_valid(digits):
        return [_("%(value)s er et lokationsnummer (GLN), ikke et CVR-nummer.") % {"value": text}], []
    if len(digits) == 10:
        return [_("%(value)s har 10 cifre: er det et P-nummer? Et CVR-nummer har 8.") % {"value": text}], []
    if len(digits) != 8:
        return [_("Et CVR-nummer har 8 cifre; %(value)s har %(n)d.") % {"value": text, "n": len(digits)}], []
    if not stdnum_cvr.is_valid(digits):
        return [], [_("CVR-nummer %(value)s opfylder ikke modulus 11-kontrollen. Kontrollér det i CVR-registret; "
                      "er det korrekt, kan du gemme med en begrundelse.") % {"value": text}]
    return [], []


def check_p_number(value) -> Messages:
    text = str(value or "").strip()
    if text and (not is_digits(text) or len(text) != 10):
        return [_("Et P-nummer har 10 cifre (0-9); %(value)r gør ikke.") % {"value": text}], []
    return [], []


def check_provider_number(value, *, strict: bool = True) -> Messages:
    """Ydernummer: 6 digits with leading zeros. 8 digits starting "99" is SDS's old way of hiding a
    duplicate: accepted with a warning so it gets cleaned up. `strict=False` (import) accepts the
    XSD's 1–9 characters as they are."""
    text = str(value or "").strip()
    if not text:
        return [], []
    if not is_digits(text):
        return [_("Et ydernummer består kun af cifrene 0-9; %(value)r gør ikke.") % {"value": text}], []
    if len(text) == 8 and text.startswith("99"):
        return [], [_("Ydernummer %(value)s starter med 99: det er et skjult dubletnummer (ydernummer %(real)s). "
                      "Ryd dubletten op.") % {"value": text, "real": text[2:]}]
    if len(text) == 6:
        return [], []
    if not strict and 1 <= len(text) <= 9:
        return [], []
    if len(text) < 6:
        # Said as it is: a digit may be missing anywhere; the zero-padded form is one possibility only.
        return [_("Et ydernummer har 6 cifre; %(value)s har %(n)d. Mangler der et ciffer? Hvis nummeret blot har "
                  "mistet sine foranstillede nuller, er det %(padded)s.")
                % {"value": text, "n": len(text), "padded": text.zfill(6)}], []
    if len(text) == 13 and ean.is_valid(text):
        return [_("%(value)s er et lokationsnummer (GLN), ikke et ydernummer.") % {"value": text}], []
    return [_("Et ydernummer har 6 cifre; %(value)s har %(n)d.") % {"value": text, "n": len(text)}], []


def check_shak(value) -> Messages:
    text = str(value or "").strip()
    if not text:
        return [], []
    if not SHAK_RE.match(text):
        return [_("%(value)r er ikke en SHAK-kode: sygehus NNNN, afdeling NNNNAN eller afsnit NNNNANA "
                  "(N ciffer, A ciffer eller stort bogstav).") % {"value": text}], []
    return [], []


def check_phone(value, field_label: str | None = None) -> Messages:
    text = str(value or "").strip()
    if not text:
        return [], []
    digits = digits_only(text)
    if len(digits) == 13 and ean.is_valid(digits):
        return [_("%(value)s er et lokationsnummer (GLN), ikke et telefonnummer.") % {"value": text}], []
    if not PHONE_RE.match(text) or len(text) > 20:
        return [_("%(value)r er ikke et telefonnummer (8–20 tegn: cifre, mellemrum, + og bindestreg).") % {"value": text}], []
    return [], []


def check_email(value) -> Messages:
    text = str(value or "").strip()
    if text and not re.match(r"^[^>()\[\]\\,;:@\s]{1,191}@[^>()\[\]\\,;:@\s]{1,64}$", text):
        return [_("%(value)r er ikke en gyldig e-mailadresse.") % {"value": text}], []
    return [], []


def check_pharmacy_number(value) -> Messages:
    text = str(value or "").strip()
    if text and not re.match(r"^[0-9]{1,9}(,[0-9]{1,9})?$", text):
        return [_("Et apoteksnummer skrives 'nummer' eller 'nummer,filial' (fx 362,1); %(value)r gør ikke.")
                % {"value": text}], []
    return [], []
