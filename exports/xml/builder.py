"""Builder: register values → SOR XML elements (v1.0.0 or v2.0.0), in XSD sequence order.

No ORM here: the builder reads attributes of already-loaded unit and location-number objects
(model instances or any object with the same attribute names), so the same code writes from the
database and from in-memory data (the bench's floor). Inheritance is by omission: a block is
written only when the unit has its own (`<kind>_present`, `virtual_present`); the location
number is own / inherited indicator true / none indicator false / unspecified (empty element).
Every choice not evidenced by an SDS file is listed in docs/sor-xml-format-choices.md."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils.translation import gettext as _

from registry.inheritance import location_number_in_file
from registry.levels import LEVEL_ADDRESSES, carries
from registry.models import Level

from .names import V1_DECLARATIONS, V2_DECLARATIONS, root_start_tag
from .writer import XmlTextWriter

# The key of `codes` holding {code-list model: primary keys of its v2-only codes}.
V2_ONLY = "v2_only"

# The v2 file gives every OE a type (SOR 1.2.1.22). An OE without one in our register (possible
# only for data imported from a v1 file, where UnitType is optional) is written with SNOMED CT
# 255203001 "Additional values", the type SDS's own v2 extract carries on the private-practice OE
# that v1 files wrote without a UnitType.
V2_FALLBACK_OE_TYPE = "255203001"
# The v1 XSD requires GeographicalParent on every OE. An OE without a relation in our register is
# written with 2, the value every OE in SDS's v1 extracts carries (the organisational parent's
# location), so the file stays schema-valid; counted as `fallback_geo`.
V1_FALLBACK_OE_GEO_RELATION = 2


@dataclass(frozen=True)
class Names:
    """Qualified element names of one version."""

    version: str
    declarations: tuple
    xml_declaration: str
    newline: str
    final_newline: bool
    created_at: str
    snapshot: str
    sor_id: str
    name: str
    owner_type: str
    si_type: str
    oe_type: str
    local_code: str
    pharmacy: str
    shak: str
    provider: str
    option: str
    inherited_indicator: str
    ean_entity: str
    ean_code: str
    only_internal: str
    non_active: str
    system_supplier: str
    system_type: str
    communication_supplier: str
    ean_region: str
    edi_administrator: str
    sor_note: str
    geo_parent: str | None
    geo_relation: str
    geo_sor_id: str
    postal: str
    visiting: str
    activity: str
    address_postal: str
    stairway: str
    virtual: str
    email: str
    website: str
    phone: str
    fax: str
    spec_collection: str
    spec: str
    spec_code: str
    spec_type: str
    status: str
    from_date: str
    to_date: str
    updated_at: str
    first_from_date: str
    replaces: str
    replaced_by: str
    collection_sor_id: str
    ou_info: str
    ambulant: str
    admitted: str
    reporting: str
    local_attrs: str
    local_attr: str
    cvr: str | None
    address_extras: bool


V1 = Names(
    version="v1", declarations=V1_DECLARATIONS, xml_declaration='<?xml version="1.0" encoding="UTF-8"?>',
    newline="\n", final_newline=False,
    created_at="CreatedAtTime", snapshot="SnapshotDate", sor_id="SorIdentifier", name="EntityName",
    owner_type="OwnerType", si_type="InstitutionType", oe_type="UnitType", local_code="LocalCode",
    pharmacy="PharmacyIdentifier", shak="ShakIdentifier", provider="ProviderIdentifier",
    option="OptionalEanLocationCode", inherited_indicator="EntityInheritedIndicator",
    ean_entity="EanLocationCodeEntity", ean_code="EanLocationCode", only_internal="OnlyInternalIndicator",
    non_active="NonActiveIndicator", system_supplier="SystemSupplier", system_type="SystemType",
    communication_supplier="CommunicationSupplier", ean_region="RegionCode", edi_administrator="EdiAdministrator",
    sor_note="SorNote", geo_parent="GeographicalParent", geo_relation="GeographicalParentRelation",
    geo_sor_id="GeographicalParentSorIdentifier",
    postal="PostalAddressInformation", visiting="VisitingAddressInformation", activity="ActivityAddressInformation",
    address_postal="xkom-1:AddressPostal", stairway="Stairway",
    virtual="VirtualAddressInformation", email="xkom:EmailAddressIdentifier", website="Website",
    phone="TelephoneNumberIdentifier", fax="FaxNumberIdentifier",
    spec_collection="ClinicalSpecialityCollection", spec="ClinicalSpeciality", spec_code="SpecialityCode",
    spec_type="SpecialityType",
    status="SorStatus", from_date="FromDate", to_date="ToDate", updated_at="UpdatedAt", first_from_date="FirstFromDate",
    replaces="ReplacesEntityCollection", replaced_by="ReplacedByEntityCollection", collection_sor_id="SorIdentifier",
    ou_info="OrganizationalUnitInformation", ambulant="AmbulantActivityIndicator",
    admitted="PatientsAdmittedIndicator", reporting="ReportingLevelIndicator",
    local_attrs="LocalAttributeCollection", local_attr="LocalAttribute",
    cvr=None, address_extras=False,
)

V2 = Names(
    version="v2", declarations=V2_DECLARATIONS, xml_declaration='<?xml version="1.0" encoding="utf-8"?>',
    newline="\r\n", final_newline=True,
    created_at="sor1:CreatedAtTime", snapshot="sor1:SnapshotDate", sor_id="sor1:SorIdentifier",
    name="sor1:EntityName", owner_type="EntityTypeIdentifier", si_type="EntityTypeIdentifier",
    oe_type="EntityTypeIdentifier", local_code="sor1:LocalCode", pharmacy="sor1:PharmacyIdentifier",
    shak="sor1:ShakIdentifier", provider="sor1:ProviderIdentifier",
    option="EanLocationCodeOption", inherited_indicator="EntityInheritanceIndicator",
    ean_entity="EanLocationCodeEntity", ean_code="sor1:EanLocationCode", only_internal="sor1:OnlyInternalIndicator",
    non_active="sor1:NonActiveIndicator", system_supplier="SystemSupplierIdentifier",
    system_type="SystemTypeIdentifier", communication_supplier="CommunicationSupplierIdentifier",
    ean_region="kms:RegionCode", edi_administrator="EdiAdministratorIdentifier", sor_note="sor1:SorNote",
    # SDS's v2 extract has no GeographicalParent on SI or OE, where v1 requires it on every OE.
    geo_parent=None, geo_relation="sor1:GeographicalParentRelation", geo_sor_id="sor1:GeographicalParentSorIdentifier",
    postal="PostalAddressInformation", visiting="VisitingAddressInformation", activity="ActivityAddressInformation",
    address_postal="xkom:AddressPostal", stairway="sor1:Stairway",
    virtual="sor1:VirtualAddressInformation", email="xkom1:EmailAddressIdentifier", website="sor1:Website",
    phone="sor1:TelephoneNumberIdentifier", fax="sor1:FaxNumberIdentifier",
    spec_collection="ClinicalSpecialityCollection", spec="ClinicalSpeciality", spec_code="SpecialityIdentifier",
    spec_type="sor1:SpecialityType",
    status="sor1:SorStatus", from_date="sor1:FromDate", to_date="sor1:ToDate", updated_at="sor1:UpdatedAt",
    first_from_date="sor1:FirstFromDate",
    replaces="sor1:ReplacesEntityCollection", replaced_by="sor1:ReplacedByEntityCollection",
    collection_sor_id="sor1:SorIdentifier",
    ou_info="sor1:OrganizationalUnitInformation", ambulant="sor1:AmbulantActivityIndicator",
    admitted="sor1:PatientsAdmittedIndicator", reporting="sor1:ReportingLevelIndicator",
    local_attrs="sor1:LocalAttributeCollection", local_attr="sor1:LocalAttribute",
    cvr="cvr:CVRnumberIdentifier", address_extras=True,
)

VERSIONS = {"v1": V1, "v2": V2}

# (model suffix, qualified name) in AddressPostal sequence order; the country code follows them.
ADDRESS_POSTAL = (
    ("mail_sublocation", "dkcc:MailDeliverySublocationIdentifier"),
    ("street_name", "dkcc2005:StreetName"),
    ("street_name_for_addressing", "cpr:StreetNameForAddressingName"),
    ("building", "dkcc:StreetBuildingIdentifier"),
    ("floor", "dkcc:FloorIdentifier"),
    ("suite", "dkcc:SuiteIdentifier"),
    ("district_subdivision", "dkcc2005:DistrictSubdivisionIdentifier"),
    ("po_box", "dkcc2005-2:PostOfficeBoxIdentifier"),
    ("post_code", "dkcc2005:PostCodeIdentifier"),
    ("district_name", "dkcc2005:DistrictName"),
)
ADDRESS_EXTRAS_V2 = (
    ("municipality_code", "cpr:MunicipalityCode"),
    ("street_code", "cpr:StreetCode"),
    ("region_code", "kms:RegionCode"),
    ("coord_n", "osak:CoordETRS89z32NMeasure"),
    ("coord_e", "osak:CoordETRS89z32EMeasure"),
)
# Attribute names per address kind, computed once.
_ADDR_ATTRS = {
    kind: (
        [(f"{kind}_{s}", q) for s, q in ADDRESS_POSTAL],
        f"{kind}_country_code", f"{kind}_country_scheme", f"{kind}_stairway",
        [(f"{kind}_{s}", q) for s, q in ADDRESS_EXTRAS_V2],
    )
    for kind in ("postal", "visiting", "activity")
}


def b(value) -> str:
    return "true" if value else "false"


def d(value: dt.date) -> str:
    return value.isoformat()


def created_at_text(moment: dt.datetime, version: str) -> str:
    """v2: .NET round-trip style, 7 fractional digits and offset (2019-04-12T01:00:29.6269718+02:00);
    v1: seconds and offset (2010-01-26T00:00:00+01:00)."""
    text = moment.isoformat(timespec="microseconds" if version == "v2" else "seconds")
    if version == "v2":
        head, _dot, rest = text.partition(".")
        text = f"{head}.{rest[:6]}0{rest[6:]}"
    return text


class MissingTypeError(ValueError):
    """An owner or institution without its type: the XSD requires it and real consumers (NSP's
    importer among them) abort the whole file on its absence, so no file is written. The admin
    and the import refuse such units; this names one that got in some other way."""

    def __init__(self, sor_id, what):
        self.sor_id = sor_id
        super().__init__(_("Enhed %(id)s har ingen %(what)s; filen kan ikke dannes. Angiv typen i administrationen.")
                         % {"id": sor_id, "what": what})


class SorXmlBuilder:
    """Writes one SorTree; call `header`, then `owner` per owner in SOR-ID order, then `close`."""

    def __init__(self, fh, version: str, snapshot_date: dt.date, codes: dict):
        """`codes` maps each code-list model to {primary key: code} (see source.code_maps)."""
        from registry.models import (
            EdiAdministrator,
            EntityType,
            NetworkOperator,
            OwnerType,
            Region,
            SystemSupplier,
            SystemType,
        )

        self.owner_types = codes[OwnerType]
        self.entity_types = codes[EntityType]
        # A v2-only attribute code in a v1 file is written as it is and counted (never dropped).
        v2_only = codes.get(V2_ONLY, {}) if version == "v1" else {}
        self.ln_v2_only = (v2_only.get(SystemSupplier, set()), v2_only.get(SystemType, set()), set(), set(),
                           v2_only.get(EdiAdministrator, set()))
        self.ln_codes = ((codes[SystemSupplier], "system_supplier_id"), (codes[SystemType], "system_type_id"),
                         (codes[NetworkOperator], "network_operator_id"), (codes[Region], "region_id"),
                         (codes[EdiAdministrator], "edi_administrator_id"))
        self.n = VERSIONS[version]
        self.day = snapshot_date
        self.w = XmlTextWriter(fh, newline=self.n.newline, declaration=self.n.xml_declaration,
                               final_newline=self.n.final_newline)
        self.counts = {"owners": 0, "institutions": 0, "units": 0, "location_numbers": 0,
                       "fallback_types": 0, "fallback_geo": 0, "skipped_values": 0, "fallback_v2_codes": 0}

    # -- document ---------------------------------------------------------------------------------
    def header(self, created_at: dt.datetime) -> None:
        n, w = self.n, self.w
        w.raw_start(root_start_tag(n.declarations))
        w.leaf(n.created_at, created_at_text(created_at, n.version))
        w.leaf(n.snapshot, d(self.day))

    def close(self) -> None:
        self.w.close_root("SorTree")

    # -- tree -------------------------------------------------------------------------------------
    def owner(self, owner, children: dict, location_numbers: dict) -> None:
        """`children` maps sor_id → list of child units in SOR-ID order."""
        w = self.w
        self.lns = location_numbers
        w.start("InstitutionOwnerEntity")
        self._owner_record(owner)
        for si in children.get(owner.sor_id, ()):
            w.start("HealthInstitutionEntity")
            self._record(si, "HealthInstitution")
            for oe in children.get(si.sor_id, ()):
                self._oe(oe, children)
            w.end("HealthInstitutionEntity")
        w.end("InstitutionOwnerEntity")
        self.counts["owners"] += 1

    def _oe(self, oe, children) -> None:
        w = self.w
        w.start("OrganizationalUnitEntity")
        self._record(oe, "OrganizationalUnit")
        for child in children.get(oe.sor_id, ()):
            self._oe(child, children)
        w.end("OrganizationalUnitEntity")

    # -- records ----------------------------------------------------------------------------------
    def _owner_record(self, u) -> None:
        n, w = self.n, self.w
        w.start("InstitutionOwner")
        w.leaf(n.sor_id, str(u.sor_id))
        w.leaf(n.name, u.name)
        if u.owner_type_id is None:
            raise MissingTypeError(u.sor_id, _("ejertype (OwnerType)"))
        w.leaf(n.owner_type, self.owner_types[u.owner_type_id])
        if u.location_mode == "own":
            ln = location_number_in_file(self.lns.get(u.sor_id, ()), self.day)
            if ln is not None:
                self._ean_entity(ln)
        self._address(u, "postal", n.postal)
        self._virtual(u)
        self._status(u)
        if n.cvr and u.cvr:
            w.leaf(n.cvr, u.cvr)
        w.end("InstitutionOwner")

    def _record(self, u, tag: str) -> None:
        n, w = self.n, self.w
        is_oe = tag == "OrganizationalUnit"
        level = Level.UNIT if is_oe else Level.INSTITUTION  # the light export rows carry no level
        w.start(tag)
        w.leaf(n.sor_id, str(u.sor_id))
        w.leaf(n.name, u.name)
        if u.entity_type_id is not None:
            w.leaf(n.oe_type if is_oe else n.si_type, self.entity_types[u.entity_type_id])
        elif not is_oe:
            raise MissingTypeError(u.sor_id, _("institutionstype (InstitutionType)"))
        elif n.version == "v2":
            w.leaf(n.oe_type, V2_FALLBACK_OE_TYPE)
            self.counts["fallback_types"] += 1
        if is_oe:
            if u.local_code:
                w.leaf(n.local_code, u.local_code)
            if u.pharmacy_number:
                w.leaf(n.pharmacy, u.pharmacy_number)
            if u.shak:
                w.leaf(n.shak, u.shak)
            if u.provider_number:
                w.leaf(n.provider, u.provider_number)  # as registered: never padded
        else:
            if u.pharmacy_number:
                w.leaf(n.pharmacy, u.pharmacy_number)
            if u.shak:
                w.leaf(n.shak, u.shak)
        self._option(u)
        relation = u.geo_parent_relation
        if relation is None and is_oe and n.geo_parent:
            relation = V1_FALLBACK_OE_GEO_RELATION
            self.counts["fallback_geo"] += 1
        if n.geo_parent and relation is not None:
            w.start(n.geo_parent)
            w.leaf(n.geo_relation, str(relation))
            if u.geo_parent_sor_id is not None:
                w.leaf(n.geo_sor_id, str(u.geo_parent_sor_id))
            w.end(n.geo_parent)
        for kind, element in (("postal", n.postal), ("visiting", n.visiting), ("activity", n.activity)):
            if kind in LEVEL_ADDRESSES[level]:
                self._address(u, kind, element)
        self._virtual(u)
        if carries(level, "specialities") and u.specialities is not None:
            self._specialities(u.specialities)
        self._status(u)
        self._collection(n.replaces, u.replaces)
        self._collection(n.replaced_by, u.replaced_by)
        if carries(level, "ambulant_activity"):  # and the other OE-only blocks below
            if u.ambulant_activity is not None or u.patients_admitted is not None or u.reporting_level is not None:
                w.start(n.ou_info)
                w.leaf(n.ambulant, b(u.ambulant_activity))
                w.leaf(n.admitted, b(u.patients_admitted))
                w.leaf(n.reporting, b(u.reporting_level))
                w.end(n.ou_info)
            attrs = (u.local_attribute_1, u.local_attribute_2, u.local_attribute_3, u.local_attribute_4,
                     u.local_attribute_5)
            if any(attrs):
                w.start(n.local_attrs)
                for i, value in enumerate(attrs, start=1):
                    if value:
                        w.leaf(f"{n.local_attr}{i}", value)
                w.end(n.local_attrs)
        w.end(tag)
        self.counts["units" if is_oe else "institutions"] += 1

    def _option(self, u) -> None:
        n, w = self.n, self.w
        mode = u.location_mode
        if mode == "unspecified":
            w.empty(n.option)
            return
        w.start(n.option)
        ln = location_number_in_file(self.lns.get(u.sor_id, ()), self.day) if mode == "own" else None
        if ln is not None:
            self._ean_entity(ln)
        else:
            # "own" without any location number row is written as "has none".
            w.leaf(n.inherited_indicator, b(mode == "inherited"))
        w.end(n.option)

    def _ean_entity(self, ln) -> None:
        n, w = self.n, self.w
        w.start(n.ean_entity)
        w.leaf(n.ean_code, ln.gln)
        w.leaf(n.only_internal, b(ln.only_internal))
        w.leaf(n.non_active, b(ln.non_active))
        for tag, (codes, attname), v2_only in zip((n.system_supplier, n.system_type, n.communication_supplier,
                                                   n.ean_region, n.edi_administrator), self.ln_codes, self.ln_v2_only,
                                                  strict=True):
            pk = getattr(ln, attname)
            if pk is not None:
                w.leaf(tag, codes[pk])
                if pk in v2_only:
                    self.counts["fallback_v2_codes"] += 1
            else:
                self.counts["skipped_values"] += 1
        if ln.note:
            w.leaf(n.sor_note, ln.note)
        if ln.status_present and ln.from_date is not None and ln.first_from_date is not None:
            self._dates(ln)
        w.end(n.ean_entity)
        self.counts["location_numbers"] += 1

    def _address(self, u, kind: str, tag: str) -> None:
        if not getattr(u, f"{kind}_present"):
            return
        n, w = self.n, self.w
        fields, country, scheme, stairway, extras = _ADDR_ATTRS[kind]
        w.start(tag)
        w.start(n.address_postal)
        for attr, qname in fields:
            value = getattr(u, attr)
            if value is not None and value != "":
                w.leaf(qname, str(value))
        code = getattr(u, country)
        if code:
            w.leaf("dkcc:CountryIdentificationCode", code,
                   f' scheme="{getattr(u, scheme) or "iso3166-alpha2"}"')
        w.end(n.address_postal)
        value = getattr(u, stairway)
        if value:
            w.leaf(n.stairway, value)
        if n.address_extras:
            for attr, qname in extras:
                value = getattr(u, attr)
                if value:
                    w.leaf(qname, value)
        w.end(tag)

    def _virtual(self, u) -> None:
        if not u.virtual_present:
            return
        n, w = self.n, self.w
        w.start(n.virtual)
        if u.email:
            w.leaf(n.email, u.email)
        if u.website:
            w.leaf(n.website, u.website)
        if u.phone:
            w.leaf(n.phone, u.phone)
        if u.fax:
            w.leaf(n.fax, u.fax)
        w.end(n.virtual)

    def _specialities(self, items) -> None:
        n, w = self.n, self.w
        if not items:
            w.empty(n.spec_collection)
            return
        w.start(n.spec_collection)
        for item in items:
            w.start(n.spec)
            w.leaf(n.spec_code, str(item.get("code", "")))
            w.leaf(n.spec_type, str(item.get("type", "")))
            w.end(n.spec)
        w.end(n.spec_collection)

    def _collection(self, tag: str, ids) -> None:
        if ids is None:
            return
        w = self.w
        if not ids:
            w.empty(tag)
            return
        w.start(tag)
        for sor_id in ids:
            w.leaf(self.n.collection_sor_id, str(sor_id))
        w.end(tag)

    def _status(self, u) -> None:
        self._dates(u)

    def _dates(self, obj) -> None:
        n, w = self.n, self.w
        w.start(n.status)
        w.leaf(n.from_date, d(obj.from_date))
        if obj.to_date is not None:
            w.leaf(n.to_date, d(obj.to_date))
        if obj.updated_at_date is not None:
            w.leaf(n.updated_at, d(obj.updated_at_date))
        w.leaf(n.first_from_date, d(obj.first_from_date))
        w.end(n.status)
