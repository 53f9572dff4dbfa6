"""Shared helpers for the SOR XML tests: sample paths, export to bytes, comparison rules."""

import datetime as dt
import re
import tempfile
from pathlib import Path

from exports.xml.formats import V1Format, V2Format

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SAMPLES = SHARED / "sor-reference" / "samples"
V1_SAMPLES = sorted((SAMPLES / "v1" / "trifork-sdm").glob("*.xml"))
V2_SAMPLE = SAMPLES / "v2" / "sor_producer_kafka_spike" / "Sor_small.xml"
XSD = Path(__file__).resolve().parents[2] / "exports" / "xsd" / "sor-v1.0.0-localized" / "SorTree.xsd"

# Lines whose leading white space differs in SDS's cut-outs (stray indentation), 1-based; -1 = last.
STRAY_INDENT = {"ONE_APOTEK.xml": {5}, "ONE_PRAKSIS.xml": {-1}, "ONE_SYGEHUS.xml": {-1}}


def v2_sample_without_synthetic_oe() -> bytes:
    """The v2 sample minus its synthetic innermost OE (its ids fail their check digits)."""
    data = V2_SAMPLE.read_bytes()
    cut = re.sub(
        rb"\t\t\t\t<OrganizationalUnitEntity>\r\n\t\t\t\t\t<OrganizationalUnit>\r\n\t\t\t\t\t\t<sor1:SorIdentifier>6984910000160091"
        rb".*?\t\t\t\t</OrganizationalUnitEntity>\r\n", b"", data, flags=re.S)
    assert cut != data and b"6984910000160091" not in cut
    return cut


def export_bytes(version: str, day: dt.date) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = {"v1": V1Format, "v2": V2Format}[version]().render(day, tmp)["files"]["Sor.xml"]
        return Path(path).read_bytes()


def comparable(data: bytes, stray_lines=()) -> list[bytes]:
    """Lines (with their line ends) with CreatedAtTime masked and, on the given lines only,
    leading white space removed."""
    lines = data.splitlines(keepends=True)
    n = len(lines)
    strip = {(i if i > 0 else n + 1 + i) for i in stray_lines}
    out = []
    for number, line in enumerate(lines, start=1):
        line = re.sub(rb"CreatedAtTime>[^<]*<", b"CreatedAtTime>*<", line)
        out.append(line.lstrip(b"\t ") if number in strip else line)
    return out
