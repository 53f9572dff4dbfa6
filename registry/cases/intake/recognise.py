"""Find SOR identifiers in the text of a mail: SOR-ID, location number, ydernummer, CVR.

A number may be written with spaces or hyphens between digit groups ("5790 0012 3456 7"). Each
run of digit groups is read left to right, taking at each point the longest span of groups that
is a valid identifier; what is left is reported by its shape (a location number one digit short
or long as a likely typo, an 8-digit number that may be a phone or a CVR as ambiguous). Dates and
numbers labelled as phone or fax are not identifiers. An 8-digit number is a CVR when it is
labelled so ("CVR", "CVR-nr.") or passes mod 11 and is not a phone number in the mail or on the
matched units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.utils.translation import gettext as _
from stdnum import ean, verhoeff
from stdnum.dk import cvr as stdnum_cvr

from registry.identifiers import SOR_ID_RE

KINDS = ("sor_id", "location_number", "ydernummer", "cvr")

# Digit groups separated by one space, non-breaking space or hyphen.
_RUN = re.compile(r"(?<![0-9A-Za-z])\+?[0-9]+(?:[ \u00a0-][0-9]+)*(?![0-9A-Za-z])")
_DATE = re.compile(r"(?<![0-9])(?:[0-9]{1,2}[./-][0-9]{1,2}[./-](?:[0-9]{4}|[0-9]{2})|[0-9]{4}-[0-9]{2}-[0-9]{2})(?![0-9])")
_TIME = re.compile(r"(?<![0-9])[0-9]{1,2}[:.][0-9]{2}(?![0-9])")
_LABEL_WINDOW = 24
_LABELS = {
    "phone": re.compile(r"(tlf|telefon|telephone|phone|mobil|mobile|tel|fax|telefax|direkte|nr\. til)\W*$", re.I),
    "cvr": re.compile(r"cvr(?:[- ]?(?:nr|nummer|no))?\W*$", re.I),
    "ydernummer": re.compile(r"(ydernr|ydernummer|yder-nr|ydernummeret|yder nr)\W*$", re.I),
    "location_number": re.compile(r"(lokationsnr|lokationsnummer|lokationsnummeret|lok\.?\s*nr|gln|ean)(?:[- ]?(?:nr|nummer))?\W*$", re.I),
    "sor_id": re.compile(r"sor[- ]?(?:id|kode|nr|nummer)\W*$", re.I),
}


@dataclass
class Found:
    kind: str
    value: str
    valid: bool
    note: str = ""
    labelled: bool = False

    def as_json(self) -> dict:
        out = {"kind": self.kind, "value": self.value, "valid": self.valid}
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class Recognised:
    found: list[Found] = field(default_factory=list)
    phones: set[str] = field(default_factory=set)  # 8-digit phone numbers seen in the mail

    def add(self, item: Found) -> None:
        if not any(f.kind == item.kind and f.value == item.value for f in self.found):
            self.found.append(item)


def _label_before(text: str, start: int) -> str | None:
    before = text[max(0, start - _LABEL_WINDOW):start]
    # Only the words just before the number (the patterns are anchored at its start), on its line.
    before = re.split(r"[\n;]", before)[-1]
    for kind, pattern in _LABELS.items():
        if pattern.search(before):
            return kind
    return None


def _classify(digits: str, label: str | None, *, joined: bool = False) -> Found | None:
    """A valid identifier `digits` is, or None. An unlabelled ydernummer is one group of six
    digits (`joined`: made of several groups, which is how phone numbers are written)."""
    n = len(digits)
    if label == "cvr" and n == 8:
        return Found("cvr", digits, stdnum_cvr.is_valid(digits), labelled=True)
    if 11 <= n <= 18 and SOR_ID_RE.match(digits) and verhoeff.is_valid(digits):
        return Found("sor_id", digits, True, labelled=label == "sor_id")
    if n == 13 and ean.is_valid(digits):
        return Found("location_number", digits, True, labelled=label == "location_number")
    if n == 8 and digits.startswith("99") and label != "cvr" and not stdnum_cvr.is_valid(digits):
        return Found("ydernummer", digits, True, note=_("ydernummer med det gamle 99-præfiks"),
                     labelled=label == "ydernummer")
    if n == 6 and (label == "ydernummer" or label is None and not joined):
        return Found("ydernummer", digits, True, labelled=label == "ydernummer")
    return None


def _shape(digits: str, label: str | None) -> Found | None:
    """What a run that is no valid identifier looks like: a typo or an ambiguous number."""
    n = len(digits)
    if n == 13 and (label == "location_number" or digits.startswith("57")):
        return Found("location_number", digits, False, _("forkert kontrolciffer (GS1 modulus 10)"), label is not None)
    if n in (12, 14) and (label == "location_number" or digits.startswith("57")):
        return Found("location_number", digits, False,
                     _("%(n)d cifre: et lokationsnummer har 13 (sandsynligvis en tastefejl)") % {"n": n},
                     label is not None)
    if 11 <= n <= 18 and SOR_ID_RE.match(digits):
        return Found("sor_id", digits, False, _("forkert kontrolciffer (Verhoeff)"), label is not None)
    if n == 8 and label == "ydernummer":
        return Found("ydernummer", digits, False, _("8 cifre uden 99-præfiks: et ydernummer har 6"), True)
    if n == 6 and label == "ydernummer":
        return None
    if n == 8 and label is None:
        if stdnum_cvr.is_valid(digits):
            return Found("cvr", digits, True)
        return Found("cvr", digits, False, _("tvetydigt: telefonnummer eller CVR-nummer?"))
    if n == 8 and label == "sor_id" or label == "location_number" and n not in (12, 13, 14):
        return Found(label, digits, False, _("%(n)d cifre passer ikke til et %(kind)s") % {"n": n, "kind": label}, True)
    return None


def recognise(text: str) -> Recognised:
    """Every identifier in `text` (the subject, bodies and forwarded parts joined)."""
    out = Recognised()
    masked = _TIME.sub(lambda m: " " * len(m.group()), _DATE.sub(lambda m: " " * len(m.group()), text or ""))
    for match in _RUN.finditer(masked):
        token = match.group()
        label = _label_before(masked, match.start())
        # "+45 …", a labelled phone, and the Danish way of writing one ("70 20 30 40").
        if token.startswith("+") or label == "phone" or re.fullmatch(r"[0-9]{2}( [0-9]{2}){3}", token):
            digits = re.sub(r"[^0-9]", "", token)
            if token.startswith("+45"):
                digits = digits[2:]
            out.phones.add(digits[-8:])
            continue
        groups = re.split(r"[ \u00a0-]", token)
        i = 0
        while i < len(groups):
            for j in range(len(groups), i, -1):
                found = _classify("".join(groups[i:j]), label, joined=j - i > 1)
                if found is not None:
                    out.add(found)
                    i = j
                    break
            else:
                # Nothing valid starts here: report the whole remaining run by its shape when it has
                # one (a 12-digit location number typed in groups), else the group alone.
                rest = "".join(groups[i:])
                found = _shape(rest, label) or (_shape(groups[i], label) if len(groups) - i > 1 else None)
                if found is not None:
                    out.add(found)
                    i = len(groups) if found.value == rest else i + 1
                else:
                    i += 1
            label = None  # a label covers the number right after it only
    return out


def settle_cvr(rec: Recognised, unit_phones: set[str]) -> list[Found]:
    """The final list: an unlabelled 8-digit number that is a phone number in the mail or on a
    matched unit is a phone, not a CVR (dropped)."""
    phones = rec.phones | {p[-8:] for p in unit_phones if p}
    return [f for f in rec.found if not (f.kind == "cvr" and not f.labelled and f.value in phones)]
