"""Streaming reader of SOR XML v1.0.0 / v2.0.0: one owner sub-tree at a time → unit records.

Safe by construction: no DTD is loaded, no entity is resolved, nothing is fetched from the
network, and a document with a DOCTYPE is refused outright (no XXE, no entity-expansion bombs).
Memory stays flat: each `InstitutionOwnerEntity` is converted and then cleared.

A record is a plain dict keyed by `Unit` field names (codes still as code strings, under
`owner_type_code` / `entity_type_code`), plus `_line`, `_ln` (the location number, or None) and
the structure (`sor_id`, `level`, `parent_id`, `owner_id`, `ancestors`)."""

from __future__ import annotations

import codecs
import datetime as dt
import functools
import io
import re
import zipfile
from dataclasses import dataclass, field

from django.utils.translation import gettext as _
from lxml import etree

from registry.identifiers import is_digits
from registry.levels import LEVEL_ADDRESSES, LEVEL_FIELDS, level_fields
from registry.models import Level, Unit

from .names import V1_NS, V2_NS

NAMESPACES = {V1_NS: "v1", V2_NS: "v2"}


class SorFileError(Exception):
    """The file cannot be read at all (malformed XML, unknown namespace, DOCTYPE...)."""

    def __init__(self, message: str, line: int | None = None):
        self.line = line
        self.message = message
        super().__init__(f"{_('linje')} {line}: {message}" if line else message)


@dataclass
class RecordError:
    line: int | None
    message: str

    def __str__(self):
        return f"{_('linje')} {self.line}: {self.message}" if self.line else self.message


@dataclass
class FileInfo:
    version: str = ""
    snapshot_date: dt.date | None = None
    created_at: str = ""
    errors: list = field(default_factory=list)


def local(tag) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def open_xml_stream(path):
    """A binary stream of the XML: the file itself, or `Sor.xml` inside a zip."""
    if zipfile.is_zipfile(path):
        archive = zipfile.ZipFile(path)
        names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1].lower() == "sor.xml"]
        if not names:
            xml_names = [n for n in archive.namelist() if n.lower().endswith(".xml")]
            if len(xml_names) != 1:
                raise SorFileError(_("Zip-filen indeholder ingen Sor.xml."))
            names = xml_names
        return archive.open(names[0])
    return open(path, "rb")


_ROOT_START = re.compile(r"<[A-Za-z_]")
_DECLARATION = re.compile(r"<!(DOCTYPE|ENTITY)")
# A file reporting this many problems is not a SOR file with a few mistakes: reading stops, and the
# first ones are shown with their lines (bounded time and memory for any input).
MAX_ERRORS = 200
# More elements than this under one InstitutionOwnerEntity (the largest real owner has well under
# a million) and the owner is refused before its tree outgrows memory.
MAX_OWNER_ELEMENTS = 5_000_000


class TooManyErrors(SorFileError):
    def __init__(self, line=None):
        super().__init__(_("Læsningen er stoppet efter %(n)d fejl; de første vises. Ret dem, eller kontrollér, at "
                           "filen er en SOR XML-fil.") % {"n": MAX_ERRORS}, line)


def _prolog_text(head: bytes) -> str:
    """The start of the file as text, whatever its encoding (UTF-8 or UTF-16, with or without BOM)."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                          (codecs.BOM_UTF16_BE, "utf-16-be")):
        if head.startswith(bom):
            return head[len(bom):].decode(encoding, errors="replace")
    if head[:2] == b"<\x00":
        return head.decode("utf-16-le", errors="replace")
    if head[:2] == b"\x00<":
        return head.decode("utf-16-be", errors="replace")
    return head.decode("utf-8", errors="replace")


def check_prolog(head: bytes) -> None:
    """Refuse what is not XML at all, and any DOCTYPE (the only place one may appear is before the
    root element), naming its line."""
    text = _prolog_text(head)
    if text.strip() and not text.lstrip().startswith("<"):
        raise SorFileError(_("Filen er ikke en XML-fil: den begynder ikke med '<'. Upload Sor.xml eller Sor.zip fra "
                             "SDS."), 1)
    match = _ROOT_START.search(text)
    prolog = text if match is None else text[: match.start()]
    found = _DECLARATION.search(prolog)
    if found:
        line = prolog[: found.start()].count("\n") + 1
        raise SorFileError(_("Filen indeholder en DOCTYPE-erklæring; SOR-filer må ikke have DTD'er eller entiteter."),
                           line)


# -- value parsing -----------------------------------------------------------------------------------
def _txt(el) -> str:
    return el.text or ""


def _strip(el) -> str:
    return (el.text or "").strip()


def _bool(el, errors):
    value = _strip(el)
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    errors.append(RecordError(el.sourceline, _("%(el)s skal være true eller false, ikke %(v)r.")
                              % {"el": local(el.tag), "v": value}))
    return None


def _date(el, errors):
    value = _strip(el)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors.append(RecordError(el.sourceline, _("%(el)s er ikke en dato (ÅÅÅÅ-MM-DD): %(v)r.")
                                  % {"el": local(el.tag), "v": value}))
        return None


def _int(el, errors):
    value = _strip(el)
    if is_digits(value):  # ASCII only: "²".isdigit() is True and int("²") raises
        return int(value)
    errors.append(RecordError(el.sourceline, _("%(el)s skal være et tal, ikke %(v)r.") % {"el": local(el.tag), "v": value}))
    return None


def _code(el, errors):
    value = _strip(el)
    if not is_digits(value):
        errors.append(RecordError(el.sourceline, _("%(el)s skal være en talkode, ikke %(v)r.")
                                  % {"el": local(el.tag), "v": value}))
    return value


ADDRESS_PARTS = {
    "MailDeliverySublocationIdentifier": "mail_sublocation",
    "StreetName": "street_name",
    "StreetNameForAddressingName": "street_name_for_addressing",
    "StreetBuildingIdentifier": "building",
    "FloorIdentifier": "floor",
    "SuiteIdentifier": "suite",
    "DistrictSubdivisionIdentifier": "district_subdivision",
    "PostOfficeBoxIdentifier": "po_box",
    "PostCodeIdentifier": "post_code",
    "DistrictName": "district_name",
}
ADDRESS_EXTRAS = {
    "MunicipalityCode": "municipality_code",
    "StreetCode": "street_code",
    "RegionCode": "region_code",
    "CoordETRS89z32NMeasure": "coord_n",
    "CoordETRS89z32EMeasure": "coord_e",
}
BASE_ADDRESS_SUFFIXES = (*ADDRESS_PARTS.values(), "country_code", "country_scheme", "stairway")
ADDRESS_TAGS = {"PostalAddressInformation": "postal", "VisitingAddressInformation": "visiting",
                "ActivityAddressInformation": "activity"}


# A level-bound field's value when its element is absent (the model's empty value).
_EMPTY = {name: (None if Unit._meta.get_field(name).null else "") for name in LEVEL_FIELDS}


def address_suffixes(version: str):
    return BASE_ADDRESS_SUFFIXES + (tuple(ADDRESS_EXTRAS.values()) if version == "v2" else ())


def _address(el, kind, rec, errors, version):
    for suffix in address_suffixes(version):
        rec[f"{kind}_{suffix}"] = None if suffix == "po_box" else ""
    rec[f"{kind}_present"] = True
    for child in el:
        name = local(child.tag)
        if not name:
            continue
        if name == "AddressPostal":
            for part in child:
                pname = local(part.tag)
                if not pname:
                    continue
                if pname == "CountryIdentificationCode":
                    rec[f"{kind}_country_code"] = _strip(part)
                    rec[f"{kind}_country_scheme"] = part.get("scheme", "")
                elif pname == "PostOfficeBoxIdentifier":
                    rec[f"{kind}_po_box"] = _int(part, errors)
                elif pname in ADDRESS_PARTS:
                    rec[f"{kind}_{ADDRESS_PARTS[pname]}"] = _txt(part)
                else:
                    errors.append(RecordError(part.sourceline, _("Ukendt element %(el)s i adressen.") % {"el": pname}))
        elif name == "Stairway":
            rec[f"{kind}_stairway"] = _txt(child)
        elif name in ADDRESS_EXTRAS and version == "v2":
            rec[f"{kind}_{ADDRESS_EXTRAS[name]}"] = _strip(child)
        else:
            errors.append(RecordError(child.sourceline, _("Ukendt element %(el)s i adressen.") % {"el": name}))


VIRTUAL_PARTS = {"EmailAddressIdentifier": "email", "Website": "website", "TelephoneNumberIdentifier": "phone",
                 "FaxNumberIdentifier": "fax"}


def _virtual(el, rec, errors):
    rec.update(virtual_present=True, email="", website="", phone="", fax="")
    for child in el:
        name = local(child.tag)
        if name in VIRTUAL_PARTS:
            rec[VIRTUAL_PARTS[name]] = _txt(child)
        elif name:
            errors.append(RecordError(child.sourceline, _("Ukendt element %(el)s i de elektroniske adresser.") % {"el": name}))


def _status(el, target, errors):
    target.update(from_date=None, to_date=None, updated_at_date=None, first_from_date=None)
    names = {"FromDate": "from_date", "ToDate": "to_date", "UpdatedAt": "updated_at_date", "FirstFromDate": "first_from_date"}
    for child in el:
        name = local(child.tag)
        if name in names:
            target[names[name]] = _date(child, errors)
        elif name:
            errors.append(RecordError(child.sourceline, _("Ukendt element %(el)s i SorStatus.") % {"el": name}))
    if target["from_date"] is None or target["first_from_date"] is None:
        errors.append(RecordError(el.sourceline, _("SorStatus mangler FromDate eller FirstFromDate.")))


EAN_CODES = {
    "SystemSupplier": "system_supplier", "SystemSupplierIdentifier": "system_supplier",
    "SystemType": "system_type", "SystemTypeIdentifier": "system_type",
    "CommunicationSupplier": "network_operator", "CommunicationSupplierIdentifier": "network_operator",
    "RegionCode": "region",
    "EdiAdministrator": "edi_administrator", "EdiAdministratorIdentifier": "edi_administrator",
}


def _ean(el, errors) -> dict:
    ln = {"gln": "", "only_internal": False, "non_active": False, "system_supplier": None, "system_type": None,
          "network_operator": None, "region": None, "edi_administrator": None, "note": "", "status_present": False,
          "from_date": None, "to_date": None, "first_from_date": None, "updated_at_date": None, "_line": el.sourceline}
    for child in el:
        name = local(child.tag)
        if name == "EanLocationCode":
            ln["gln"] = _strip(child)
            ln["_line"] = child.sourceline
        elif name == "OnlyInternalIndicator":
            ln["only_internal"] = _bool(child, errors)
        elif name == "NonActiveIndicator":
            ln["non_active"] = _bool(child, errors)
        elif name in EAN_CODES:
            ln[EAN_CODES[name]] = _code(child, errors)
        elif name == "SorNote":
            ln["note"] = _txt(child)
        elif name == "SorStatus":
            ln["status_present"] = True
            _status(child, ln, errors)
        elif name:
            errors.append(RecordError(child.sourceline, _("Ukendt element %(el)s i lokationsnummeret.") % {"el": name}))
    return ln


def _id_list(el, errors):
    ids = []
    for child in el:
        name = local(child.tag)
        if name == "SorIdentifier":
            value = _int(child, errors)
            if value is not None:
                ids.append(value)
        elif name:
            errors.append(RecordError(child.sourceline, _("Ukendt element %(el)s i listen.") % {"el": name}))
    return ids


LOCAL_ATTRS = {f"LocalAttribute{i}": f"local_attribute_{i}" for i in range(1, 6)}
SIMPLE_TEXT = {"EntityName": "name", "PharmacyIdentifier": "pharmacy_number", "ShakIdentifier": "shak",
               "ProviderIdentifier": "provider_number", "LocalCode": "local_code", "CVRnumberIdentifier": "cvr"}
TYPE_TAGS = {"OwnerType", "InstitutionType", "UnitType", "EntityTypeIdentifier"}
OU_INFO = {"AmbulantActivityIndicator": "ambulant_activity", "PatientsAdmittedIndicator": "patients_admitted",
           "ReportingLevelIndicator": "reporting_level"}


def parse_record(el, level: str, version: str, errors: list) -> dict:
    """One InstitutionOwner / HealthInstitution / OrganizationalUnit element → record dict."""
    # Only the fields the level's XML record can carry: anything else stays as it is in the register.
    rec = {
        "_line": el.sourceline, "_ln": None, "level": level, "sor_id": None, "name": "",
        "virtual_present": False, "email": "", "website": "", "phone": "", "fax": "",
        "location_mode": "none" if level == "IE" else "unspecified",
    }
    for name in level_fields(level):
        if name in ("owner_type", "entity_type"):
            rec[f"{name}_code"] = None  # read as the code; the importer finds the row
        elif name == "p_number" or (name.startswith("geo_parent") and version != "v1"):
            continue  # the file carries no P-number; v2 dropped GeographicalParent
        else:
            rec[name] = _EMPTY[name]
    for kind in ("postal", "visiting", "activity"):
        if kind in LEVEL_ADDRESSES[level]:
            rec[f"{kind}_present"] = False
            for suffix in address_suffixes(version):
                rec[f"{kind}_{suffix}"] = None if suffix == "po_box" else ""
    status_seen = False
    for child in el:
        name = local(child.tag)
        if not name:
            continue
        if name == "SorIdentifier":
            rec["sor_id"] = _strip(child)
            rec["_line"] = child.sourceline
        elif name in TYPE_TAGS:
            rec["owner_type_code" if level == "IE" else "entity_type_code"] = _code(child, errors)
        elif name in SIMPLE_TEXT and SIMPLE_TEXT[name] in rec:
            rec[SIMPLE_TEXT[name]] = _txt(child) if name == "EntityName" else _strip(child)
        elif name == "EanLocationCodeEntity" and level == "IE":
            rec["location_mode"] = "own"
            rec["_ln"] = _ean(child, errors)
        elif name in ("OptionalEanLocationCode", "EanLocationCodeOption") and level != "IE":
            rec["location_mode"] = "unspecified"
            for opt in child:
                oname = local(opt.tag)
                if oname in ("EntityInheritedIndicator", "EntityInheritanceIndicator"):
                    rec["location_mode"] = "inherited" if _bool(opt, errors) else "none"
                elif oname == "EanLocationCodeEntity":
                    rec["location_mode"] = "own"
                    rec["_ln"] = _ean(opt, errors)
                elif oname:
                    errors.append(RecordError(opt.sourceline, _("Ukendt element %(el)s i %(p)s.") % {"el": oname, "p": name}))
        elif name == "GeographicalParent" and level != "IE":
            rec["geo_parent_relation"] = None
            rec["geo_parent_sor_id"] = None
            for g in child:
                gname = local(g.tag)
                if gname == "GeographicalParentRelation":
                    rec["geo_parent_relation"] = _int(g, errors)
                elif gname == "GeographicalParentSorIdentifier":
                    rec["geo_parent_sor_id"] = _int(g, errors)
                elif gname:
                    errors.append(RecordError(g.sourceline, _("Ukendt element %(el)s i GeographicalParent.") % {"el": gname}))
        elif name in ADDRESS_TAGS and ADDRESS_TAGS[name] in LEVEL_ADDRESSES[level]:
            _address(child, ADDRESS_TAGS[name], rec, errors, version)
        elif name == "VirtualAddressInformation":
            _virtual(child, rec, errors)
        elif name == "ClinicalSpecialityCollection" and level == "OE":
            items = []
            for spec in child:
                if not local(spec.tag):
                    continue
                item = {"code": "", "type": ""}
                for part in spec:
                    pname = local(part.tag)
                    if pname in ("SpecialityCode", "SpecialityIdentifier"):
                        item["code"] = _code(part, errors)
                    elif pname in ("SpecialityType", "SpecialityTypeIdentifier"):
                        item["type"] = _code(part, errors)
                    elif pname:
                        errors.append(RecordError(part.sourceline, _("Ukendt element %(el)s i ClinicalSpeciality.")
                                                  % {"el": pname}))
                items.append(item)
            rec["specialities"] = items
        elif name == "SorStatus":
            status_seen = True
            _status(child, rec, errors)
        elif name == "ReplacesEntityCollection" and level != "IE":
            rec["replaces"] = _id_list(child, errors)
        elif name == "ReplacedByEntityCollection" and level != "IE":
            rec["replaced_by"] = _id_list(child, errors)
        elif name == "OrganizationalUnitInformation" and level == "OE":
            for part in child:
                pname = local(part.tag)
                if pname in OU_INFO:
                    rec[OU_INFO[pname]] = _bool(part, errors)
                elif pname:
                    errors.append(RecordError(part.sourceline, _("Ukendt element %(el)s.") % {"el": pname}))
        elif name == "LocalAttributeCollection" and level == "OE":
            for part in child:
                pname = local(part.tag)
                if pname in LOCAL_ATTRS:
                    rec[LOCAL_ATTRS[pname]] = _txt(part)
                elif pname:
                    errors.append(RecordError(part.sourceline, _("Ukendt element %(el)s.") % {"el": pname}))
        else:
            errors.append(RecordError(child.sourceline, _("Elementet %(el)s hører ikke hjemme i %(rec)s.")
                                      % {"el": name, "rec": local(el.tag)}))
    if not status_seen:
        errors.append(RecordError(el.sourceline, _("%(rec)s mangler SorStatus.") % {"rec": local(el.tag)}))
        rec.update(from_date=None, to_date=None, updated_at_date=None, first_from_date=None)
    if rec["sor_id"] is None:
        errors.append(RecordError(el.sourceline, _("%(rec)s mangler SorIdentifier.") % {"rec": local(el.tag)}))
    return rec


# Structure: wrapper → (record element, level, allowed child wrapper)
WRAPPERS = {
    "InstitutionOwnerEntity": ("InstitutionOwner", "IE", "HealthInstitutionEntity"),
    "HealthInstitutionEntity": ("HealthInstitution", "SI", "OrganizationalUnitEntity"),
    "OrganizationalUnitEntity": ("OrganizationalUnit", "OE", "OrganizationalUnitEntity"),
}
LEVEL_NAMES = {"InstitutionOwnerEntity": Level.OWNER.label, "HealthInstitutionEntity": Level.INSTITUTION.label,
               "OrganizationalUnitEntity": Level.UNIT.label}


def parse_owner(wrapper, version: str, errors: list) -> list[dict]:
    """An InstitutionOwnerEntity → records in tree order (parents before children)."""
    out: list[dict] = []

    def walk(el, parent: dict | None):
        wname = local(el.tag)
        record_tag, level, child_wrapper = WRAPPERS[wname]
        rec = None
        for i, child in enumerate(c for c in el if local(c.tag)):
            cname = local(child.tag)
            if i == 0:
                if cname != record_tag:
                    errors.append(RecordError(child.sourceline, _("%(w)s skal begynde med %(r)s, ikke %(c)s.")
                                              % {"w": wname, "r": record_tag, "c": cname}))
                    return
                rec = parse_record(child, level, version, errors)
                rec["parent_id"] = parent["sor_id"] if parent else None
                rec["_parent"] = parent
                out.append(rec)
            elif cname == child_wrapper:
                walk(child, rec)
            elif cname in WRAPPERS:
                errors.append(RecordError(child.sourceline, _("En %(child)s kan ikke ligge direkte under en %(parent)s.")
                                          % {"child": LEVEL_NAMES[cname], "parent": LEVEL_NAMES[wname]}))
            else:
                errors.append(RecordError(child.sourceline, _("Elementet %(el)s hører ikke hjemme i %(w)s.")
                                          % {"el": cname, "w": wname}))
        if rec is None:
            errors.append(RecordError(el.sourceline, _("%(w)s er tom.") % {"w": wname}))

    walk(wrapper, None)
    return out


def iter_owners(stream, info: FileInfo):
    """Yield the records of each owner sub-tree; fills `info` (version, SnapshotDate) on the way.
    Raises SorFileError for anything that makes the file unreadable."""
    head = stream.read(65536)
    check_prolog(head)
    data = io.BufferedReader(_Prepend(head, stream))
    context = etree.iterparse(
        data, events=("start", "end"), resolve_entities=False, no_network=True, load_dtd=False,
        dtd_validation=False, huge_tree=False, remove_comments=True, remove_pis=True,
    )
    depth = 0
    root = None
    owner_elements = 0
    errors = info.errors
    try:
        for event, el in context:
            if event == "start":
                depth += 1
                if depth > 2:
                    owner_elements += 1
                    if owner_elements > MAX_OWNER_ELEMENTS:
                        raise SorFileError(_("Institutionsejeren har mere end %(n)s elementer; filen afvises.")
                                           % {"n": f"{MAX_OWNER_ELEMENTS:,}".replace(",", ".")}, el.sourceline)
                elif depth == 2:
                    owner_elements = 0
                if depth == 1:
                    root = el
                    ns = el.tag[1:].partition("}")[0] if el.tag.startswith("{") else ""
                    if local(el.tag) != "SorTree" or ns not in NAMESPACES:
                        raise SorFileError(
                            _("Ukendt rodelement eller navnerum: %(tag)s. Forventet SorTree i %(v1)s (v1.0.0) eller %(v2)s (v2.0.0).")
                            % {"tag": el.tag, "v1": V1_NS, "v2": V2_NS}, el.sourceline)
                    if el.getroottree().docinfo.doctype:
                        raise SorFileError(_("Filen indeholder en DOCTYPE-erklæring."), 1)
                    info.version = NAMESPACES[ns]
                continue
            depth -= 1
            if depth > 1:
                known = _KNOWN_TAGS.get(el.tag)
                if known is None:
                    known = _known(el.tag)
                    if len(_KNOWN_TAGS) < 10_000:
                        _KNOWN_TAGS[el.tag] = known
                if not known:
                    # Dropped as soon as it ends, so a flood of unknown elements costs no memory.
                    errors.append(RecordError(el.sourceline, _("Ukendt element %(el)s.") % {"el": local(el.tag) or el.tag}))
                    parent = el.getparent()
                    if parent is not None:
                        parent.remove(el)
                    if len(errors) >= MAX_ERRORS:
                        raise TooManyErrors(el.sourceline)
                continue
            if depth != 1:
                continue
            if len(errors) >= MAX_ERRORS:
                raise TooManyErrors(el.sourceline)
            name = local(el.tag)
            if name == "InstitutionOwnerEntity":
                if info.snapshot_date is None:
                    info.errors.append(RecordError(el.sourceline, _("SnapshotDate mangler før første institutionsejer.")))
                yield parse_owner(el, info.version, info.errors)
            elif name == "SnapshotDate":
                info.snapshot_date = _date(el, info.errors)
            elif name == "CreatedAtTime":
                info.created_at = _strip(el)
            elif name in WRAPPERS:
                info.errors.append(RecordError(el.sourceline, _("En %(child)s kan ikke ligge direkte under SorTree.")
                                               % {"child": LEVEL_NAMES[name]}))
            elif name:
                info.errors.append(RecordError(el.sourceline, _("Ukendt element %(el)s under SorTree.") % {"el": name}))
            el.clear()
            while el.getprevious() is not None:
                del root[0]
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or (exc.position[0] if exc.position else None)
        if not exc.lineno and not exc.position:
            line = None
        raise SorFileError(_("Filen er ikke gyldig XML: %(msg)s") % {"msg": exc.msg}, line) from None
    if root is None:
        raise SorFileError(_("Filen er tom."))


def _schema_names() -> frozenset[str]:
    """Local names of every element SOR XML v1 or v2 may hold: the v1 XSD with its OIO
    dependencies, the v2 names the builder writes, and the wrappers the reader knows."""
    from pathlib import Path

    from .builder import V1, V2

    names = set(WRAPPERS) | {"InstitutionOwner", "HealthInstitution", "OrganizationalUnit", "SorTree"}
    for value in (*vars(V1).values(), *vars(V2).values()):
        if isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9:_-]+", value):
            names.add(value.rpartition(":")[2])
    names |= set(ADDRESS_PARTS) | set(ADDRESS_EXTRAS) | set(ADDRESS_TAGS)
    xsd_root = Path(__file__).resolve().parent.parent / "xsd"
    for xsd in xsd_root.rglob("*.xsd"):
        names.update(re.findall(r'<(?:xs:|xsd:)?element[^>]*?\b(?:name|ref)="(?:[A-Za-z0-9_-]+:)?([A-Za-z0-9_-]+)"',
                                xsd.read_text(encoding="utf-8", errors="replace")))
    return frozenset(names)


# Qualified tag → known, filled as tags are met (a handful of namespaces × some 100 names). Bounded:
# a file of endless distinct unknown names stops at the error bound first.
_KNOWN_TAGS: dict = {}


def _known(tag) -> bool:
    if not isinstance(tag, str):  # comments and processing instructions are removed by the parser
        return True
    return local(tag) in _SCHEMA_NAMES()


_SCHEMA_NAMES = functools.cache(_schema_names)


class _Prepend(io.RawIOBase):
    """A raw stream that first returns `head`, then the rest of `stream`."""

    def __init__(self, head: bytes, stream):
        self.head = head
        self.stream = stream

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        chunk = self.stream.read(len(buffer))
        n = len(chunk)
        buffer[:n] = chunk
        return n
