"""Reading the shared reference data (../shared/sor-reference) for tests."""

import csv
import re
from functools import cache
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "sor-reference"


@cache
def sample_texts() -> dict[str, str]:
    return {p.name + ":" + p.parent.name: p.read_text(encoding="utf-8-sig") for p in SHARED.glob("samples/**/*.xml")}


def _all(pattern: str) -> set[str]:
    found = set()
    for text in sample_texts().values():
        found.update(re.findall(pattern, text))
    return found


@cache
def eer_rows() -> list[dict]:
    with open(SHARED / "real" / "eer_organisations.csv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def real_sor_ids() -> set[str]:
    synthetic = {"6984910000160091", "99999999999"}
    ids = _all(r"<(?:sor1:)?SorIdentifier>(\d+)<") | {r["sor_id"] for r in eer_rows()}
    return ids - synthetic


def real_glns() -> set[str]:
    return _all(r"<(?:sor1:)?EanLocationCode>(\d+)<") | {r["gln"] for r in eer_rows() if r["gln"]}


def real_cvrs() -> set[str]:
    return _all(r"<cvr:CVRnumberIdentifier>(\d+)<") | {r["cvr"] for r in eer_rows() if r["cvr"]}
