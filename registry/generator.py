"""A deterministic synthetic national register for demos, tests and benchmarks.

`generate(owners=N, seed=S)` writes N institution owners (IE) with their health institutions
(SI) and organisational units (OE): 5 regions with hospitals (SHAK codes, 3–5 OE levels), up to
98 municipalities with home care, district nursing, health visitors, dental care and nursing
homes, a few state owners, and private practices (GPs and specialists with ydernumre, dentists,
physiotherapists, chiropractors, psychologists, chiropodists, pharmacies with branches …).
About 6 units per owner: 25,000 owners give a national-scale register of roughly 150,000 units.

Determinism: everything comes from `random.Random(seed)` and the code lists ordered by code, and
SOR-IDs come from the `registry_sor_id_seq` sequence in generation order, so the same seed on an
empty database (sequence at its start) gives the same register. Dates are offsets from the day
of the run (closed units lie in the past, future units ahead), so the same seed on the same day
gives the same dates.

Writes go through one `audit_context` (origin "command", one batch id) and the history-aware
bulk helpers, owner batch by owner batch (bounded memory), parents before children. Every unit is
checked with the services' own rules (`unit_messages`) and every identifier with
`registry.identifiers` before it is written; a failure is a bug in the generator and aborts the
whole run (one transaction, nothing half-written).
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone
from stdnum import ean

from . import identifiers as ids
from .audit import audit_context
from .codelists import DATA_DIR
from .models import (
    ClinicalSpeciality,
    EdiAdministrator,
    EdiMessageType,
    EntityType,
    Level,
    LocationMode,
    LocationNumber,
    LocationNumberMessageType,
    Municipality,
    NetworkOperator,
    OwnerType,
    PostalDistrict,
    Region,
    SpecialityType,
    SystemSupplier,
    SystemType,
    Unit,
)
from .services import bulk
from .services.codes import code_create
from .services.validation import MAX_SPECIALITIES, unit_messages

MIN_OWNERS = 12
OWNER_BATCH = 250


def _words(text: str, sep: str | None = None) -> list[str]:
    return text.split(sep)


# --- code lists used by name ------------------------------------------------------------------

OWNER_REGION, OWNER_MUNICIPALITY, OWNER_STATE, OWNER_PRIVATE = (
    "550881000005103", "547211000005108", "398070004", "550891000005100")

ET = {
    "hospital": "22232009",
    "gp": "394761003",
    "specialist": "550671000005100",
    "pharmacy": "264372000",
    "pharmacy_branch": "557501000005109",
    # The type SDS's v2 file gives an organisational unit without one of its own (pharmacy units).
    "unit_without_type": "255203001",
    "physio": "547011000005103",
    "chiro": "550641000005106",
    "dentist": "550681000005102",
    "psychologist": "550711000005101",
    "chiropodist": "554061000005105",
    "occupational": "546821000005103",
    "midwife": "550631000005103",
    "laboratory": "550651000005108",
    "nurse_clinic": "703069008",
    "dietician": "554031000005103",
    "optician": "557581000005102",
    "audiology": "702824005",
    "dental_tech": "550701000005104",
    "home_care": "554821000005109",
    "district_nursing": "550621000005101",
    "health_visitors": "554021000005101",
    "dental_care": "550691000005104",
    "nursing_home": "42665001",
    "rehabilitation": "546811000005109",
    "health_centre": "264361005",
    "health_admin": "554041000005106",
    "substance": "20078004",
    "ppr": "556841000005105",
    "psychiatry": "554871000005105",
    "prison": "722173008",
    "asylum": "554851000005102",
    "other": "550411000005105",
    "prehospital": "554211000005102",
    "clinical": "550851000005109",
    "admin": "550811000005108",
    "radiology": "309964003",
    "intensive": "309904001",
    "surgical_ward": "551611000005102",
    "emergency": "225728007",
    "acute": "550871000005101",
    "hospital_pharmacy": "554071000005100",
    "research": "550841000005107",
    "person": "255203001",
}

SP = {
    "general": "408443003", "dental": "394812008", "orthodontics": "394608004", "home_care": "658171000005102",
    "home_nursing": "658161000005107", "health_visiting": "658191000005101", "municipal_dental": "658201000005103",
    "rehab": "658141000005108", "prevention": "658151000005105", "psychiatry": "394587001",
    "child_psychiatry": "394588006", "anaesthesia": "394577000", "radiology": "394914008",
    "biochemistry": "394596001", "pathology": "394915009", "emergency": "773568002",
}
MAIN_SPECIALITY_TYPE = "51000095001"

# (department name, speciality code, entity type key)
DEPARTMENTS = [
    ("Medicinsk afdeling", "419192003", "clinical"), ("Kirurgisk afdeling", "394609007", "clinical"),
    ("Ortopædkirurgisk afdeling", "394801008", "clinical"), ("Børne- og ungeafdeling", "394537008", "clinical"),
    ("Gynækologisk-obstetrisk afdeling", "394585009", "clinical"), ("Akutafdeling", "773568002", "acute"),
    ("Anæstesiologisk afdeling", "394577000", "intensive"), ("Radiologisk afdeling", "394914008", "radiology"),
    ("Klinisk biokemisk afdeling", "394596001", "clinical"), ("Neurologisk afdeling", "394591006", "clinical"),
    ("Hjertemedicinsk afdeling", "394579002", "clinical"), ("Lungemedicinsk afdeling", "418112009", "clinical"),
    ("Urologisk afdeling", "394612005", "clinical"), ("Øre-næse-halsafdeling", "394604002", "clinical"),
    ("Øjenafdeling", "394594003", "clinical"), ("Onkologisk afdeling", "394592004", "clinical"),
    ("Hæmatologisk afdeling", "394803006", "clinical"), ("Nyremedicinsk afdeling", "394589003", "clinical"),
    ("Reumatologisk afdeling", "394810000", "clinical"), ("Hudafdeling", "394582007", "clinical"),
    ("Geriatrisk afdeling", "394811001", "clinical"), ("Patologisk afdeling", "394915009", "clinical"),
    ("Klinisk fysiologisk afdeling", "394601005", "clinical"), ("Plastikkirurgisk afdeling", "394611003", "clinical"),
    ("Mave- og tarmkirurgisk afdeling", "551411000005104", "clinical"), ("Karkirurgisk afdeling", "408463005", "clinical"),
    ("Infektionsmedicinsk afdeling", "394807007", "clinical"), ("Endokrinologisk afdeling", "394583002", "clinical"),
    ("Klinisk mikrobiologisk afdeling", "408454008", "clinical"), ("Neurokirurgisk afdeling", "394610002", "clinical"),
]
PSYCH_DEPARTMENTS = [
    ("Afdeling for psykoser", "394587001"), ("Afdeling for depression og angst", "394587001"),
    ("Børne- og ungdomspsykiatrisk afdeling", "394588006"), ("Retspsykiatrisk afdeling", "394587001"),
    ("Gerontopsykiatrisk afdeling", "394587001"), ("Psykiatrisk akutmodtagelse", "394587001"),
]
SPECIALIST_KINDS = [
    ("Øjenklinikken", "Øjenlæge", "394594003"), ("Hudklinikken", "Hudlæge", "394582007"),
    ("Øre-Næse-Halsklinikken", "Øre-næse-halslæge", "394604002"), ("Psykiaterne", "Psykiater", "394587001"),
    ("Gynækologisk Klinik", "Gynækolog", "394585009"), ("Reumatologisk Klinik", "Reumatolog", "394810000"),
    ("Børnelægeklinikken", "Børnelæge", "394537008"), ("Ortopædkirurgisk Klinik", "Ortopædkirurg", "394801008"),
    ("Kirurgisk Klinik", "Kirurg", "394609007"), ("Hjerteklinikken", "Kardiolog", "394579002"),
    ("Neurologisk Klinik", "Neurolog", "394591006"), ("Allergiklinikken", "Allergolog", "394805004"),
]
SECTION_KINDS = [
    ("Sengeafsnit", dict(patients_admitted=True, ambulant_activity=False)),
    ("Ambulatorium", dict(patients_admitted=False, ambulant_activity=True)),
    ("Dagafsnit", dict(patients_admitted=False, ambulant_activity=True)),
    ("Sengeafsnit og ambulatorium", dict(patients_admitted=True, ambulant_activity=True)),
]
TEAM_NAMES = ["Team", "Funktion", "Klinik", "Enhed", "Gruppe"]
SECTION_CHARS = "0123456789ABCDEFGHJKLMNPRSTUVXYZ"
SHAK_PREFIX = {"1081": "80", "1082": "70", "1083": "42", "1084": "13", "1085": "38"}
PHONE_PREFIXES = {
    "1081": ["96", "98", "99"], "1082": ["86", "87", "89", "97"], "1083": ["62", "63", "65", "66", "75", "76"],
    "1084": ["33", "35", "36", "38", "39", "44", "45", "48"], "1085": ["46", "55", "56", "57", "58", "59"],
}
# Rough ETRS89 / UTM zone 32N boxes (E min, E max, N min, N max) in metres.
REGION_BOX = {
    "1081": (455_000, 595_000, 6_295_000, 6_395_000), "1082": (445_000, 605_000, 6_175_000, 6_290_000),
    "1083": (475_000, 615_000, 6_085_000, 6_175_000), "1084": (690_000, 728_000, 6_160_000, 6_215_000),
    "1085": (625_000, 705_000, 6_065_000, 6_185_000),
}
BORNHOLM_BOX = (868_000, 888_000, 6_108_000, 6_132_000)

FEMALE_NAMES = _words(
    "Anne Kirsten Mette Hanne Helle Anna Susanne Lene Maria Marianne Lone Camilla Pia Louise Charlotte Tina "
    "Gitte Bente Karen Inge Ida Sofie Freja Line Julie Mathilde Cecilie Signe Maja Emma Birgitte Tove Rikke"
)
MALE_NAMES = _words(
    "Peter Jens Lars Michael Henrik Søren Thomas Jan Niels Anders Christian Martin Morten Jesper Mads Rasmus "
    "Per Hans Ole Kim Frederik Mikkel Jacob Emil Kasper Jonas Simon Torben Bo Steen Poul Erik Karsten Allan"
)
LAST_NAMES = _words(
    "Jensen Nielsen Hansen Pedersen Andersen Christensen Larsen Sørensen Rasmussen Jørgensen Petersen Madsen "
    "Kristensen Olsen Thomsen Christiansen Poulsen Johansen Møller Mortensen Knudsen Jakobsen Mikkelsen "
    "Frederiksen Laursen Henriksen Lund Schmidt Eriksen Holm Kristiansen Clausen Simonsen Svendsen Andreasen "
    "Iversen Jeppesen Vestergaard Mogensen Nissen Lauridsen Dam Kjær Bach Friis Berg Bak Skov Lauritsen "
    "Østergaard Damgaard Overgaard Nørgaard Bruun Juhl Krogh Winther Brandt Dahl Høj"
)
STREETS = _words(
    "Østergade|Vestergade|Nørregade|Søndergade|Algade|Storegade|Jernbanegade|Bredgade|Kirkevej|Skolevej|"
    "Møllevej|Stationsvej|Havnegade|Torvet|Parkvej|Strandvej|Bygaden|Hovedgaden|Ringvej|Industrivej|Engvej|"
    "Skovvej|Birkevej|Bøgevej|Egevej|Lindevej|Ahornvej|Rosenvej|Violvej|Nyvej|Grønnegade|Slotsgade|"
    "Kongensgade|Dronningensgade|Frederiksgade|Adelgade|Vesterbrogade|Nørrebrogade|Østerbrogade|Jyllandsvej|"
    "Fynsvej|Banegårdspladsen|Sygehusvej|Sundhedsvej|Lægehusvej|Bakkevej|Kærvej|Fasanvej|Solvej|Vængevej|"
    "Klostergade|Borgergade|Sankt Mathias Gade|Vestre Ringgade|Nørre Allé|Sønder Allé|Amagerbrogade|"
    "Frederiksborgvej|Roskildevej|Køgevej|Århusvej|Viborgvej|Vejlevej|Haderslevvej|Odensevej|Holbækvej",
    sep="|",
)
HOSPITAL_PATTERNS = ["Regionshospitalet {town}", "{town} Sygehus", "Sygehus {town}", "Hospitalet {town}",
                     "{town} Universitetshospital", "Hospitalsenheden {town}"]
NURSING_HOMES = ["Plejecenter {s}", "{s} Plejehjem", "Ældrecenter {s}", "Plejeboligerne {s}", "Omsorgscenter {s}"]
NURSING_HOME_WORDS = _words("Solgården Lindehøj Birkebo Egebo Fyrrehøj Kastaniegården Rosenhaven Engbo Skovbo Bakkehuset "
                      "Møllehuset Strandhaven Åbo Kildebo Lyngbo Toftegården Nørrevang Søndervang Østervang Vestervang")
DISTRICT_NAMES = ["Nord", "Syd", "Øst", "Vest", "Midt", "Centrum", "Land", "By"]
POSTCODE_BLACKLIST = ("pakke", "udland", "facility", "h&m", "bestseller", "ufrankeret")

SYSTEM_SUPPLIERS = [("162", "Novax A/S"), ("171", "EG Danmark A/S"), ("183", "Systematic A/S"),
                    ("190", "Netcompany A/S"), ("204", "CGM Danmark A/S"), ("215", "Plandent A/S")]
SYSTEM_TYPES = [("225", "Novax"), ("231", "XMO"), ("238", "WinPLC"), ("244", "Sundhedsplatformen"),
                ("251", "Columna CIS"), ("259", "Nexus"), ("263", "Cura"), ("270", "Apoteks-EDB"),
                ("277", "Tandlægesystem")]
EDI_ADMINISTRATORS = [("639", "MedCom"), ("641", "Region Nordjylland IT"), ("642", "Region Midtjylland IT"),
                      ("643", "Region Syddanmark IT"), ("644", "Region Hovedstaden IT"), ("645", "Region Sjælland IT"),
                      ("650", "KMD EDI-administration")]
# System type keys per kind of location (supplier, system)
SYSTEMS = {
    "gp": [("162", "225"), ("171", "231"), ("204", "238")],
    "hospital": [("183", "251"), ("190", "244")],
    "municipality": [("190", "259"), ("183", "263")],
    "pharmacy": [("171", "270")],
    "dentist": [("215", "277"), ("162", "225")],
    "other": [("162", "225"), ("171", "231"), ("204", "238")],
}
NETWORK_OPERATORS = ["41000035001", "81000035007", "91000035009", "51000035003", "100097"]
CORE_MESSAGE_STANDARDS = ("XREF15", "XDIS15", "XDIS16", "XRPT01", "XCTL03", "XREF01", "DIS01", "REF01", "RPT01")

# Private owner kinds and their shares of the private owners.
PRIVATE_KINDS = [
    ("gp", 0.27), ("dentist", 0.17), ("physio", 0.13), ("specialist", 0.10), ("psychologist", 0.09),
    ("chiropodist", 0.08), ("chiro", 0.04), ("pharmacy", 0.025), ("other", 0.095),
]
OTHER_KINDS = [
    ("occupational", "Ergoterapi {town}", "Ergoterapeut"), ("midwife", "Jordemoderklinikken {town}", "Jordemoder"),
    ("laboratory", "Laboratoriet {town}", "Bioanalytiker"), ("nurse_clinic", "Sygeplejeklinikken {town}", "Sygeplejerske"),
    ("dietician", "Diætistklinikken {town}", "Klinisk diætist"), ("optician", "{town} Optik", "Optiker"),
    ("audiology", "Hørecenter {town}", "Audiolog"), ("dental_tech", "{town} Tandteknik", "Tandtekniker"),
]


@dataclass
class Node:
    """A unit to be written: its own values, its children and its own location number."""

    level: str
    name: str
    values: dict
    children: list[Node] = field(default_factory=list)
    ln: dict | None = None  # own location number: {"systems": key, "message_types": [...]}
    sor_id: int = 0

    def add(self, child: Node) -> Node:
        self.children.append(child)
        return child

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class Summary:
    owners: int = 0
    units: Counter = field(default_factory=Counter)
    location_numbers: int = 0
    message_type_links: int = 0
    closed: int = 0
    future: int = 0
    pending_closure: int = 0
    planted_duplicates: int = 0
    legacy_99: int = 0
    # The planted ydernumre themselves ("dup": a number another owner has; "legacy": "99" + one).
    planted_numbers: dict = field(default_factory=dict)
    elapsed: float = 0.0
    operation: object = None  # the OperationState (its pk once something was written)

    def line(self) -> str:
        total = sum(self.units.values())
        return (
            f"{self.owners:,} institutionsejere, {total:,} enheder (IE {self.units['IE']:,}, SI {self.units['SI']:,}, "
            f"OE {self.units['OE']:,}), {self.location_numbers:,} lokationsnumre, {self.message_type_links:,} "
            f"meddelelsestyper; {self.closed:,} lukkede, {self.future:,} fremtidige, {self.pending_closure:,} med "
            f"kommende lukning; {self.planted_duplicates} dublet-ydernumre, {self.legacy_99} 99-ydernumre; "
            f"{self.elapsed:.1f} s"
        )


class GenerationError(RuntimeError):
    """The generator produced something its own validation rejects (a bug in the generator)."""


def _cvr_from(seven: str) -> str | None:
    weights = (2, 7, 6, 5, 4, 3, 2)
    check = (-sum(w * int(d) for w, d in zip(weights, seven, strict=True))) % 11
    return None if check == 10 else seven + str(check)


def _ascii_slug(text: str) -> str:
    table = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa", "é": "e", "ü": "u", "ö": "oe", "ä": "ae"})
    out = []
    for ch in text.lower().translate(table):
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        elif out and out[-1] != "-":
            out.append("-")
    return "".join(out).strip("-")[:40] or "klinik"


class _Codes:
    """The code lists the generator uses, loaded once (ordered by code: deterministic)."""

    def __init__(self):
        self.owner_type = dict(OwnerType.objects.values_list("code", "id"))
        self.entity_type = dict(EntityType.objects.values_list("code", "id"))
        missing = [code for code in list(ET.values()) if code not in self.entity_type]
        missing += [c for c in (OWNER_REGION, OWNER_MUNICIPALITY, OWNER_STATE, OWNER_PRIVATE) if c not in self.owner_type]
        if missing:
            raise GenerationError(f"Kodelisterne mangler koder ({', '.join(missing)}); kør manage.py sor_load_codes.")
        self.specialities = set(ClinicalSpeciality.objects.values_list("code", flat=True))
        self.speciality_types = set(SpecialityType.objects.values_list("code", flat=True))
        self.regions = dict(Region.objects.order_by("code").values_list("code", "id"))
        self.region_names = dict(Region.objects.order_by("code").values_list("code", "name_da"))
        self.municipalities = [
            (code, name, region_code)
            for code, name, region_code in Municipality.objects.order_by("code").values_list("code", "name_da", "region__code")
            if code != "0411" and region_code  # Christiansø is not a municipality
        ]
        self.network_operator = dict(NetworkOperator.objects.values_list("code", "id"))
        self.message_types = list(EdiMessageType.objects.order_by("standard", "version_code").values_list("id", "standard"))
        known_post = dict(PostalDistrict.objects.values_list("code", "name_da"))
        by_municipality: dict[str, list[tuple[str, str]]] = {}
        with open(DATA_DIR / "postal_districts.csv", encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                code = row["post_code"]
                name = known_post.get(code)
                if not name or code < "1000" or any(word in name.lower() for word in POSTCODE_BLACKLIST):
                    continue
                for mun in row["municipality_codes"].split(";"):
                    by_municipality.setdefault(mun, []).append((code, name[:20]))
        self.post_codes = {mun: sorted(codes) for mun, codes in by_municipality.items()}
        self.municipalities = [m for m in self.municipalities if self.post_codes.get(m[0])]
        if len(self.municipalities) < 5 or len(self.regions) < 5:
            raise GenerationError("Kodelisterne mangler regioner, kommuner eller postnumre; kør manage.py sor_load_codes.")

    def ensure_location_codes(self):
        """System suppliers, system types and EDI administrators: SDS's lists are not public, so a
        few plausible codes are created (through the code service) when missing."""
        for model, rows, attr in ((SystemSupplier, SYSTEM_SUPPLIERS, "system_supplier"),
                                  (SystemType, SYSTEM_TYPES, "system_type"),
                                  (EdiAdministrator, EDI_ADMINISTRATORS, "edi_administrator")):
            existing = dict(model.objects.values_list("code", "id"))
            for code, name in rows:
                if code not in existing:
                    obj = code_create(actor=None, reason="sor_generate: plausible code for synthetic data",
                                      origin="command", model=model, code=code, name_da=name)
                    existing[code] = obj.pk
            setattr(self, attr, existing)


class RegisterGenerator:
    """Builds owner trees (plain `Node`s) from the seed; `write_batch` turns them into rows."""

    def __init__(self, owners: int, seed: int, *, today: dt.date | None = None):
        if owners < MIN_OWNERS:
            raise GenerationError(f"Mindst {MIN_OWNERS} institutionsejere (5 regioner, kommuner, staten og private).")
        self.owners = owners
        self.seed = seed
        self.rng = random.Random(seed)
        self.today = today or timezone.localdate()
        self.codes = _Codes()
        self.used_cvr: set[str] = set(Unit.objects.exclude(cvr="").values_list("cvr", flat=True))
        self.used_gln: set[str] = set(
            LocationNumber.objects.filter(to_date__isnull=True).values_list("gln", flat=True))
        self.used_provider: set[str] = set(
            Unit.objects.exclude(provider_number="").values_list("provider_number", flat=True).distinct())
        self.issued_providers: list[tuple[int, str]] = []  # (owner index, ydernummer) for planting duplicates
        self.provider_count = 0
        self.gln_counter = 100_000 + self.rng.randrange(0, 50_000)
        self.pharmacy_number = self.rng.randrange(100, 140)
        self.street_codes: dict[tuple[str, str], str] = {}
        self.owner_index = 0
        # The plan: counts per owner kind.
        self.n_municipalities = min(len(self.codes.municipalities), max(2, owners // 20))
        self.n_state = 1 if owners < 2000 else min(4, 1 + owners // 8000)
        self.n_private = owners - 5 - self.n_municipalities - self.n_state
        if self.n_private < len(PRIVATE_KINDS):
            self.n_municipalities = max(1, owners - 5 - self.n_state - len(PRIVATE_KINDS))
            self.n_private = owners - 5 - self.n_municipalities - self.n_state
        self.hospitals_per_region = min(60, max(1, round(owners / 1250)))
        self.n_duplicates = max(2, owners // 2500)
        self.n_legacy = max(1, owners // 5000)
        expected_providers = max(10, int(self.n_private * 0.9))
        step = max(3, expected_providers // (self.n_duplicates + self.n_legacy + 1))
        self.plant_at = {step * (i + 1): ("dup" if i < self.n_duplicates else "legacy")
                         for i in range(self.n_duplicates + self.n_legacy)}
        self.planted = Counter()
        self.planted_numbers: dict[str, list[str]] = {}
        self.mun_weights = [len(self.codes.post_codes[m[0]]) for m in self.codes.municipalities]

    # --- small value makers ------------------------------------------------------------------

    def person(self) -> str:
        rng = self.rng
        names = FEMALE_NAMES if rng.random() < 0.55 else MALE_NAMES
        first = rng.choice(names)
        if rng.random() < 0.15:
            second = rng.choice(names)
            first = first if second == first else f"{first} {second}"
        return f"{first} {rng.choice(LAST_NAMES)}"

    def place(self):
        """Where a practice is: municipality, (post code, town) and street, used for its name and address."""
        mun = self.pick_municipality()
        return mun, self.rng.choice(self.codes.post_codes[mun[0]]), self.rng.choice(STREETS)

    def cvr(self) -> str:
        while True:
            value = _cvr_from(str(self.rng.randrange(1_000_000, 4_500_000)))
            if value and value not in self.used_cvr:
                self.used_cvr.add(value)
                return value

    def phone(self, region_code: str) -> str:
        return self.rng.choice(PHONE_PREFIXES[region_code]) + f"{self.rng.randrange(0, 1_000_000):06d}"

    def provider_number(self) -> tuple[str, str | None]:
        """A fresh 6-digit ydernummer, or (at planned positions) a planted duplicate of another
        owner's ydernummer or a legacy "99"-prefixed one. Returns (value, planted kind)."""
        self.provider_count += 1
        plan = self.plant_at.get(self.provider_count)
        earlier = [p for owner, p in self.issued_providers if owner != self.owner_index] if plan else []
        if earlier:
            value = self.rng.choice(earlier)
            self.planted[plan] += 1
            number = "99" + value if plan == "legacy" else value
            self.planted_numbers.setdefault(plan, []).append(number)
            return number, plan
        while True:
            value = f"{self.rng.randrange(1_000, 999_999):06d}"
            if value not in self.used_provider:
                self.used_provider.add(value)
                self.issued_providers.append((self.owner_index, value))
                return value, None

    def next_gln(self) -> str:
        while True:
            self.gln_counter += self.rng.randint(1, 7)
            body = f"5790{self.gln_counter:08d}"
            gln = body + ean.calc_check_digit(body)
            if gln not in self.used_gln:
                self.used_gln.add(gln)
                return gln

    def pick_municipality(self):
        return self.rng.choices(self.codes.municipalities, weights=self.mun_weights)[0]

    def coords(self, municipality_code: str, region_code: str) -> tuple[str, str]:
        e0, e1, n0, n1 = BORNHOLM_BOX if municipality_code == "0400" else REGION_BOX[region_code]
        # A fixed centre per municipality inside its region's box, then a few km around it.
        h = zlib.crc32(municipality_code.encode())
        ce = e0 + 8_000 + (h % 1000) / 1000 * max(1, (e1 - e0 - 16_000))
        cn = n0 + 8_000 + ((h // 1000) % 1000) / 1000 * max(1, (n1 - n0 - 16_000))
        e = ce + self.rng.uniform(-6_000, 6_000)
        n = cn + self.rng.uniform(-6_000, 6_000)
        return f"{n:.3f}", f"{e:.3f}"

    def address(self, municipality, *, street: str | None = None, building: str | None = None,
                post: tuple[str, str] | None = None) -> dict:
        """One address (without the kind prefix): street, number, post code and district of a real
        post code in the municipality, and the v2 extras (codes and coordinates)."""
        rng = self.rng
        mun_code, _name, region_code = municipality
        post_code, district = post or rng.choice(self.codes.post_codes[mun_code])
        street = street or rng.choice(STREETS)
        key = (mun_code, street)
        if key not in self.street_codes:
            self.street_codes[key] = f"{rng.randrange(1, 9999):04d}"
        if building is None:
            building = str(rng.randint(1, 180))
            if rng.random() < 0.08:
                building += rng.choice("ABCD")
        values = {
            "street_name": street, "building": building, "post_code": post_code, "district_name": district,
            "country_code": "DK", "country_scheme": "iso3166-alpha2", "municipality_code": mun_code,
            "street_code": self.street_codes[key], "region_code": region_code,
        }
        if rng.random() < 0.25:
            values["floor"] = rng.choice(["st", "1", "2", "3"])
            if rng.random() < 0.5:
                values["suite"] = rng.choice(["tv", "th", "mf"])
        values["coord_n"], values["coord_e"] = self.coords(mun_code, region_code)
        return values

    @staticmethod
    def with_address(values: dict, kind: str, address: dict) -> dict:
        values[f"{kind}_present"] = True
        for key, value in address.items():
            values[f"{kind}_{key}"] = value
        return values

    def virtual(self, values: dict, name: str, region_code: str, *, domain: str | None = None, web: bool = True) -> dict:
        domain = domain or f"{_ascii_slug(name)}.dk"
        values.update(virtual_present=True, phone=self.phone(region_code),
                      email=f"{self.rng.choice(['kontakt', 'post', 'info', 'klinik'])}@{domain}")
        if web:
            values["website"] = f"www.{domain}"
        if self.rng.random() < 0.1:
            values["fax"] = self.phone(region_code)
        return values

    @staticmethod
    def speciality(*codes: str) -> list[dict]:
        return [{"code": code, "type": MAIN_SPECIALITY_TYPE} for code in codes]

    def location(self, systems: str, n_types: tuple[int, int] = (1, 6)) -> dict:
        rng = self.rng
        k = rng.randint(*n_types)
        core = [mt for mt in self.codes.message_types if mt[1] in CORE_MESSAGE_STANDARDS]
        pool = core if core and rng.random() < 0.7 else self.codes.message_types
        chosen = rng.sample(pool, min(k, len(pool)))
        return {"systems": systems, "message_types": sorted(mt_id for mt_id, _std in chosen)}

    def entity(self, key: str) -> dict:
        return {"entity_type_id": self.codes.entity_type[ET[key]]}

    def node(self, level: str, name: str, values: dict | None = None, **extra) -> Node:
        values = dict(values or {})
        values.update(extra)
        return Node(level=level, name=name[:60], values=values)

    # --- owners ------------------------------------------------------------------------------

    def owner(self, name: str, owner_type: str, municipality, *, street=None, building=None, domain=None,
              post=None) -> Node:
        mun_code, _mun_name, region_code = municipality
        values = {"owner_type_id": self.codes.owner_type[owner_type], "region_id": self.codes.regions[region_code],
                  "cvr": self.cvr(), "location_mode": LocationMode.NONE}
        if owner_type == OWNER_PRIVATE and self.rng.random() < 0.2:
            values["p_number"] = f"10{self.rng.randrange(0, 100_000_000):08d}"
        self.with_address(values, "postal", self.address(municipality, street=street, building=building, post=post))
        self.virtual(values, name, region_code, domain=domain)
        while values["cvr"] in (values["phone"][-8:], values.get("fax", "")[-8:]):
            values["cvr"] = self.cvr()
        return self.node(Level.OWNER, name, values)

    def iter_owners(self):
        """Yields owner trees in a fixed order: regions, municipalities, state, private."""
        for region_code in sorted(self.codes.regions)[:5]:
            yield self.region_owner(region_code)
        chosen = sorted(self.rng.sample(self.codes.municipalities, self.n_municipalities))
        for municipality in chosen:
            yield self.municipality_owner(municipality)
        for i in range(self.n_state):
            yield self.state_owner(i)
        kinds = [k for k, _w in PRIVATE_KINDS]
        weights = [w for _k, w in PRIVATE_KINDS]
        for i in range(self.n_private):
            kind = kinds[i] if i < len(kinds) else self.rng.choices(kinds, weights=weights)[0]
            yield getattr(self, f"private_{kind}")()

    def _region_municipalities(self, region_code):
        return [m for m in self.codes.municipalities if m[2] == region_code]

    def region_owner(self, region_code: str) -> Node:
        rng = self.rng
        muns = self._region_municipalities(region_code)
        seat = muns[0] if region_code != "1084" else next((m for m in muns if m[0] == "0219"), muns[0])
        ie = self.owner(self.codes.region_names[region_code], OWNER_REGION, seat, street="Regionsgården",
                        building=str(rng.randint(1, 20)), domain=f"rn{region_code[-1]}.dk")
        prefix = SHAK_PREFIX.get(region_code, "9" + region_code[-1])
        towns = set()
        for h in range(1, self.hospitals_per_region + 1):
            mun = rng.choice(muns)
            town = rng.choice(self.codes.post_codes[mun[0]])[1]
            if town in towns:
                town = f"{town} {rng.choice(['Nord', 'Syd', 'Øst', 'Vest'])}"
            towns.add(town)
            depth = 3 + (h + int(region_code[-1])) % 3
            ie.add(self.hospital(region_code, f"{prefix}{h:02d}", mun, town, depth=depth))
        ie.add(self.psychiatry(region_code, f"{prefix}{self.hospitals_per_region + 1:02d}", rng.choice(muns)))
        return ie

    def hospital(self, region_code, shak, municipality, town, *, depth: int) -> Node:
        rng = self.rng
        name = rng.choice(HOSPITAL_PATTERNS).format(town=town)
        values = {**self.entity("hospital"), "shak": shak, "location_mode": LocationMode.OWN, "geo_parent_relation": 1}
        addr = self.address(municipality, street=rng.choice(["Sygehusvej", "Hospitalsvej", "Sundhedsvej", "Parkvej"]))
        self.with_address(values, "postal", addr)
        self.with_address(values, "visiting", addr)
        self.virtual(values, name, region_code, domain=f"{_ascii_slug(town)}-hospital.dk")
        si = self.node(Level.INSTITUTION, name, values)
        si.ln = self.location("hospital")
        n_dept = rng.randint(6, 22) if self.hospitals_per_region > 1 else rng.randint(8, 14)
        for d, (dname, spec, etype) in enumerate(rng.sample(DEPARTMENTS, min(n_dept, len(DEPARTMENTS))), start=1):
            dept_shak = f"{shak}{d:02d}"
            own_ln = rng.random() < 0.55
            dvals = {**self.entity(etype), "shak": dept_shak, "specialities": self.speciality(spec),
                     "ambulant_activity": True, "patients_admitted": etype != "radiology", "reporting_level": False,
                     "geo_parent_relation": 2,
                     "location_mode": LocationMode.OWN if own_ln else LocationMode.INHERITED}
            if rng.random() < 0.3:
                self.virtual(dvals, dname, region_code, domain=f"{_ascii_slug(town)}-hospital.dk", web=False)
            if rng.random() < 0.3:
                building = addr["building"]
                dvals = self.with_address(dvals, "visiting", {**addr, "building": building,
                                                              "mail_sublocation": f"Indgang {rng.randint(1, 40)}"})
            if rng.random() < 0.2:
                dvals["local_code"] = f"{_ascii_slug(dname)[:6].upper()}{d}"
            dept = si.add(self.node(Level.UNIT, dname, dvals))
            if own_ln:
                dept.ln = self.location("hospital")
            n_sec = rng.randint(1, 5)
            for s in range(n_sec):
                kind, flags = rng.choice(SECTION_KINDS)
                short = dname.replace(" afdeling", "").replace("afdeling", "").strip()
                sec_name = f"{short} {kind.lower()} {s + 1}"
                svals = {**self.entity("clinical"), "shak": dept_shak + SECTION_CHARS[s], "reporting_level": True,
                         "specialities": self.speciality(spec), **flags, "geo_parent_relation": 2}
                if rng.random() < 0.15:
                    svals["location_mode"] = LocationMode.OWN
                sec = dept.add(self.node(Level.UNIT, sec_name, svals))
                if sec.values.get("location_mode") == LocationMode.OWN:
                    sec.ln = self.location("hospital")
                force = d == 1 and s == 0
                self._hospital_deep(sec, level=3, depth=depth, force=force, spec=spec)
        return si

    def _hospital_deep(self, parent: Node, *, level: int, depth: int, force: bool, spec: str):
        """OE levels 3..depth below a section: teams and functions; one forced chain reaches `depth`."""
        rng = self.rng
        if level > depth:
            return
        n = 1 if force else (rng.randint(1, 3) if rng.random() < 0.3 else 0)
        for i in range(n):
            name = f"{rng.choice(TEAM_NAMES)} {rng.choice(DISTRICT_NAMES + [str(k) for k in range(1, 6)])}"
            values = {**self.entity("clinical"), "specialities": self.speciality(spec), "geo_parent_relation": 2,
                      "ambulant_activity": True, "patients_admitted": False, "reporting_level": False}
            if rng.random() < 0.1:
                values["location_mode"] = LocationMode.NONE
            child = parent.add(self.node(Level.UNIT, f"{name} ({parent.name[:30]})", values))
            self._hospital_deep(child, level=level + 1, depth=depth, force=force and i == 0, spec=spec)

    def psychiatry(self, region_code, shak, municipality) -> Node:
        rng = self.rng
        name = f"Psykiatrien i {self.codes.region_names[region_code]}"
        # Specialities live on organisational units only (the SOR file has no place for them on an SI).
        values = {**self.entity("psychiatry"), "shak": shak, "location_mode": LocationMode.OWN,
                  "geo_parent_relation": 1}
        self.with_address(values, "visiting", self.address(municipality))
        self.virtual(values, name, region_code, domain=f"psykiatri-{region_code}.dk")
        si = self.node(Level.INSTITUTION, name, values)
        si.ln = self.location("hospital")
        for d, (dname, spec) in enumerate(rng.sample(PSYCH_DEPARTMENTS, rng.randint(3, len(PSYCH_DEPARTMENTS))), start=1):
            dept = si.add(self.node(Level.UNIT, dname, self.entity("clinical"), shak=f"{shak}{d:02d}",
                                    specialities=self.speciality(spec), ambulant_activity=True,
                                    patients_admitted=True, reporting_level=True, geo_parent_relation=2))
            for s in range(rng.randint(0, 3)):
                dept.add(self.node(Level.UNIT, f"Sengeafsnit {dname.split()[-1][:20]} {s + 1}", self.entity("clinical"),
                                   shak=f"{shak}{d:02d}{SECTION_CHARS[s]}", specialities=self.speciality(spec),
                                   ambulant_activity=False, patients_admitted=True, reporting_level=True,
                                   geo_parent_relation=2))
        return si

    def municipality_owner(self, municipality) -> Node:
        rng = self.rng
        code, name, region_code = municipality
        ie_name = {"0101": "Københavns Kommune", "0400": "Bornholms Regionskommune"}.get(code, f"{name} Kommune")
        domain = f"{_ascii_slug(name)}.dk"
        ie = self.owner(ie_name, OWNER_MUNICIPALITY, municipality, street="Rådhuspladsen",
                        building=str(rng.randint(1, 3)), domain=domain)
        size = 1 + min(3, len(self.codes.post_codes[code]) // 8)

        def si(key, si_name, spec, *, districts=(0, 0), teams=(0, 0), own_ln=True, child_type=None):
            values = {**self.entity(key), "geo_parent_relation": 1,
                      "location_mode": LocationMode.OWN if own_ln else LocationMode.INHERITED}
            self.with_address(values, "visiting", self.address(municipality))
            if rng.random() < 0.7:
                self.virtual(values, si_name, region_code, domain=domain, web=False)
            unit = ie.add(self.node(Level.INSTITUTION, si_name, values))
            if own_ln:
                unit.ln = self.location("municipality")
            for d in range(rng.randint(*districts) * size if districts[1] else 0):
                label = DISTRICT_NAMES[d % len(DISTRICT_NAMES)] + ("" if d < len(DISTRICT_NAMES) else f" {d // 8 + 1}")
                dvals = {**self.entity(child_type or key), "geo_parent_relation": 2,
                         "specialities": self.speciality(spec) if spec else None}
                if rng.random() < 0.4:
                    dvals["location_mode"] = LocationMode.OWN
                if rng.random() < 0.3:
                    self.with_address(dvals, "visiting", self.address(municipality))
                if rng.random() < 0.03:
                    self.with_address(dvals, "activity", self.address(municipality))
                if rng.random() < 0.3:
                    self.virtual(dvals, si_name, region_code, domain=domain, web=False)
                district = unit.add(self.node(Level.UNIT, f"{si_name}, område {label}", dvals))
                if dvals.get("location_mode") == LocationMode.OWN:
                    district.ln = self.location("municipality")
                for t in range(rng.randint(*teams) if teams[1] else 0):
                    district.add(self.node(Level.UNIT, f"{si_name}, {label} team {t + 1}",
                                           self.entity(child_type or key), geo_parent_relation=2))
            return unit

        si("home_care", f"Hjemmeplejen {name}", SP["home_care"], districts=(2, 5), teams=(1, 5))
        si("district_nursing", f"Hjemmesygeplejen {name}", SP["home_nursing"], districts=(1, 3), teams=(0, 2))
        si("health_visitors", f"Sundhedsplejen {name}", SP["health_visiting"], districts=(1, 3))
        si("dental_care", f"Den kommunale tandpleje {name}", SP["municipal_dental"], districts=(2, 5))
        for _ in range(rng.randint(3, 6) * size):
            si("nursing_home", rng.choice(NURSING_HOMES).format(s=rng.choice(NURSING_HOME_WORDS)), None,
               districts=(0, 2), own_ln=rng.random() < 0.8, child_type="nursing_home")
        si("rehabilitation", f"Genoptræningscenter {name}", SP["rehab"], districts=(0, 2))
        si("substance", f"Rusmiddelcenter {name}", None, own_ln=rng.random() < 0.7)
        if rng.random() < 0.6:
            si("health_centre", f"Sundhedscenter {name}", SP["prevention"])
        if rng.random() < 0.5:
            si("ppr", f"PPR {name}", None, own_ln=False)
        return ie

    def state_owner(self, i: int) -> Node:
        rng = self.rng
        seat = next((m for m in self.codes.municipalities if m[0] == "0101"), self.codes.municipalities[0])
        name, key, si_pattern = [
            ("Kriminalforsorgen", "prison", "Sundhedsafdelingen, {town} Fængsel"),
            ("Statens Serum Institut", "laboratory", "Statens Serum Institut, {town}"),
            ("Forsvarets Sundhedstjeneste", "other", "Forsvarets Sundhedscenter {town}"),
            ("Udlændingestyrelsen", "asylum", "Sundhedsklinikken, Center {town}"),
        ][i % 4]
        ie = self.owner(name, OWNER_STATE, seat, domain=f"{_ascii_slug(name)}.dk")
        for _ in range(rng.randint(3, 10)):
            mun = self.pick_municipality()
            town = rng.choice(self.codes.post_codes[mun[0]])[1]
            values = {**self.entity(key), "location_mode": LocationMode.OWN, "geo_parent_relation": 1}
            self.with_address(values, "visiting", self.address(mun))
            self.virtual(values, name, mun[2], domain=f"{_ascii_slug(name)}.dk", web=False)
            unit = ie.add(self.node(Level.INSTITUTION, si_pattern.format(town=town), values))
            unit.ln = self.location("other")
            for k in range(rng.randint(0, 2)):
                unit.add(self.node(Level.UNIT, f"{unit.name[:40]}, {['Lægekonsultation', 'Sygepleje'][k]}",
                                   self.entity("clinical"), geo_parent_relation=2))
        return ie

    # --- private practices -------------------------------------------------------------------

    def _practice(self, *, ie_name: str, si_name: str, si_type: str, systems: str, municipality, post, street):
        """IE (privat) + one SI with the practice address; the location number on the SI (mostly),
        on the IE (some) or none."""
        rng = self.rng
        ie = self.owner(ie_name, OWNER_PRIVATE, municipality, street=street, post=post)
        where = rng.random()
        values = {**self.entity(si_type), "geo_parent_relation": 1}
        if rng.random() < 0.7:
            same = {k[len("postal_"):]: v for k, v in ie.values.items() if k.startswith("postal_") and k != "postal_present"}
            self.with_address(values, "visiting", same if rng.random() < 0.8 else self.address(municipality))
        if rng.random() < 0.6:
            self.virtual(values, si_name, municipality[2])
        si = ie.add(self.node(Level.INSTITUTION, si_name, values))
        if where < 0.15:
            ie.values["location_mode"] = LocationMode.OWN
            ie.ln = self.location(systems)
            si.values["location_mode"] = LocationMode.INHERITED
        elif where < 0.95:
            si.values["location_mode"] = LocationMode.OWN
            si.ln = self.location(systems)
        else:
            si.values["location_mode"] = LocationMode.NONE
        return ie, si, municipality

    def _providers(self, si: Node, *, n: int, name_for, spec: str, persons: tuple[int, int], person_title: str):
        """n ydernummer OEs under `si`, each with `persons` practitioner OEs."""
        rng = self.rng
        for _ in range(n):
            number, _planted = self.provider_number()
            values = {**self.entity("clinical"), "provider_number": number, "specialities": self.speciality(spec),
                      "geo_parent_relation": 2}
            if rng.random() < 0.1:
                values["location_mode"] = LocationMode.OWN
            yder = si.add(self.node(Level.UNIT, name_for(), values))
            if yder.values.get("location_mode") == LocationMode.OWN:
                yder.ln = self.location("gp")
            for _p in range(rng.randint(*persons)):
                pvals = {**self.entity("person"), "geo_parent_relation": 2}
                if rng.random() < 0.05:
                    pvals["location_mode"] = LocationMode.NONE
                yder.add(self.node(Level.UNIT, f"{person_title} {self.person()}", pvals))

    def private_gp(self) -> Node:
        rng = self.rng
        style = rng.random()
        doctor = self.person()
        mun, post, street = self.place()
        town = post[1]
        if style < 0.4:
            name = f"Lægerne {street}"
        elif style < 0.6:
            name = f"Lægehuset {town}"
        elif style < 0.8:
            name = f"Læge {doctor}"
        else:
            name = f"{town} Lægecenter"
        ie, si, mun = self._practice(ie_name=name if style < 0.8 else f"Lægeselskabet {town} ApS", si_name=name,
                                     si_type="gp", systems="gp", municipality=mun, post=post, street=street)
        n = rng.choices([1, 2, 3], weights=[78, 17, 5])[0]
        self._providers(si, n=n, name_for=lambda: name if n == 1 else f"Læge {self.person()}",
                        spec=SP["general"], persons=(1, 4) if n == 1 else (1, 2), person_title="Læge")
        if rng.random() < 0.06:  # a second consultation site (filialpraksis)
            values = {**self.entity("gp"), "geo_parent_relation": 1, "location_mode": LocationMode.INHERITED}
            self.with_address(values, "visiting", self.address(mun))
            ie.add(self.node(Level.INSTITUTION, f"{name}, filial", values))
        return ie

    def private_specialist(self) -> Node:
        rng = self.rng
        clinic, title, spec = rng.choice(SPECIALIST_KINDS)
        doctor = self.person()
        mun, post, street = self.place()
        town = post[1]
        name = f"{clinic} {town}" if rng.random() < 0.5 else f"{title} {doctor}"
        ie, si, _mun = self._practice(ie_name=name, si_name=name, si_type="specialist", systems="gp",
                                      municipality=mun, post=post, street=street)
        n = rng.choices([1, 2], weights=[88, 12])[0]
        self._providers(si, n=n, name_for=lambda: f"{title} {self.person()}" if n > 1 else name, spec=spec,
                        persons=(1, 2), person_title="Speciallæge")
        return ie

    def _simple_provider_practice(self, *, names, si_type, systems, spec, persons, person_title):
        rng = self.rng
        mun, post, street = self.place()
        town = post[1]
        pattern = rng.choice(names)
        name = pattern.format(town=town, street=street, person=self.person())
        ie, si, _mun = self._practice(ie_name=name, si_name=name, si_type=si_type, systems=systems,
                                      municipality=mun, post=post, street=street)
        self._providers(si, n=1, name_for=lambda: name, spec=spec, persons=persons, person_title=person_title)
        return ie

    def private_dentist(self) -> Node:
        return self._simple_provider_practice(
            names=["Tandlæge {person}", "Tandlægerne {street}", "{town} Tandlægecenter", "Tandklinikken {town}"],
            si_type="dentist", systems="dentist", spec=SP["dental"] if self.rng.random() < 0.9 else SP["orthodontics"],
            persons=(1, 5), person_title="Tandlæge")

    def private_physio(self) -> Node:
        return self._simple_provider_practice(
            names=["Fysioterapi {town}", "{town} Fysioterapi & Træning", "Fysioterapeut {person}", "Fysio {street}"],
            si_type="physio", systems="other", spec=SP["rehab"], persons=(1, 6), person_title="Fysioterapeut")

    def private_chiro(self) -> Node:
        return self._simple_provider_practice(
            names=["Kiropraktisk Klinik {town}", "Kiropraktor {person}", "{town} Kiropraktorklinik"],
            si_type="chiro", systems="other", spec=SP["rehab"], persons=(1, 3), person_title="Kiropraktor")

    def private_psychologist(self) -> Node:
        return self._simple_provider_practice(
            names=["Psykolog {person}", "Psykologhuset {town}", "Psykologerne {street}"],
            si_type="psychologist", systems="other", spec=SP["psychiatry"], persons=(0, 2), person_title="Psykolog")

    def private_chiropodist(self) -> Node:
        return self._simple_provider_practice(
            names=["Fodterapeut {person}", "{town} Fodterapi", "Fodklinikken {street}"],
            si_type="chiropodist", systems="other", spec=SP["prevention"], persons=(0, 1), person_title="Fodterapeut")

    def private_pharmacy(self) -> Node:
        rng = self.rng
        mun, post, street = self.place()
        town = post[1]
        self.pharmacy_number += rng.randint(1, 2)
        number = str(self.pharmacy_number)
        name = f"{town} {rng.choice(['Apotek', 'Hjorte Apotek', 'Løve Apotek', 'Svane Apotek', 'Ørne Apotek'])}"
        ie, si, mun = self._practice(ie_name=name, si_name=name, si_type="pharmacy", systems="pharmacy",
                                     municipality=mun, post=post, street=street)
        if si.ln is None and ie.ln is None:  # every pharmacy receives prescriptions electronically
            si.values["location_mode"] = LocationMode.OWN
            si.ln = self.location("pharmacy")
        # As SDS's ONE_APOTEK.xml: owner → institution "apotek" → one organisational unit per
        # pharmacy carrying `PharmacyIdentifier` "apoteksnummer,filial" (consumers make one Apotek
        # per such unit and split the number on the comma). Branches are further units under the
        # same institution, named without "filial af …", each with its own location number.
        si.add(self.node(Level.UNIT, name, {**self.entity("unit_without_type"), "pharmacy_number": f"{number},1"},
                         geo_parent_relation=2))
        n_branches = rng.randint(1, 4) if rng.random() < 0.7 else 0
        for b in range(2, n_branches + 2):
            branch_mun = rng.choice([m for m in self.codes.municipalities if m[2] == mun[2]])
            branch_town = rng.choice(self.codes.post_codes[branch_mun[0]])[1]
            values = {**self.entity("unit_without_type"), "pharmacy_number": f"{number},{b}",
                      "location_mode": LocationMode.OWN}
            self.with_address(values, "visiting", self.address(branch_mun))
            self.virtual(values, name, mun[2], web=False)
            branch = si.add(self.node(Level.UNIT, f"{branch_town} Apotek"[:60], values, geo_parent_relation=1))
            branch.ln = self.location("pharmacy")
        return ie

    def private_other(self) -> Node:
        rng = self.rng
        key, pattern, title = rng.choice(OTHER_KINDS)
        mun, post, street = self.place()
        town = post[1]
        name = pattern.format(town=town) if rng.random() < 0.6 else f"{title} {self.person()}"
        ie, si, _mun = self._practice(ie_name=name, si_name=name, si_type=key, systems="other",
                                      municipality=mun, post=post, street=street)
        for _ in range(rng.randint(0, 2)):
            si.add(self.node(Level.UNIT, f"{title} {self.person()}", self.entity("person"), geo_parent_relation=2))
        return ie

    # --- dates -------------------------------------------------------------------------------

    def assign_dates(self, ie: Node):
        """Validity dates top-down (a child starts no earlier than its parent), then a few
        closed subtrees, future subtrees and pending closures."""
        rng = self.rng
        today = self.today

        def days(a, b):
            return dt.timedelta(days=rng.randint(a, b))

        def walk(node: Node, parent_first: dt.date | None):
            if parent_first is None:
                first = dt.date(1995, 1, 1) + days(0, (today - dt.date(1995, 1, 1)).days - 400)
            else:
                first = min(parent_first + days(0, 3000), today - days(30, 60))
                first = max(first, parent_first)
            last_change = min(first + days(0, 4000), today - days(1, 30))
            node.values["first_from_date"] = first
            node.values["from_date"] = max(first, last_change)
            node.values["updated_at_date"] = max(node.values["from_date"], today - days(1, 900))
            node.values["updated_at_date"] = min(node.values["updated_at_date"], today)
            for child in node.children:
                walk(child, first)

        walk(ie, None)
        roll = rng.random()
        if ie.values["owner_type_id"] == self.codes.owner_type[OWNER_PRIVATE]:
            if roll < 0.04:
                self._close(ie)
                return
            if roll < 0.05:
                self._future(ie)
                return
        for node in list(ie.walk())[1:]:
            r = rng.random()
            if r < 0.03:
                self._close(node)
            elif r < 0.04:
                self._future(node)
            elif r < 0.05:
                self._pending(node)

    def _subtree_max_from(self, node: Node) -> dt.date:
        return max(n.values["from_date"] for n in node.walk())

    def _close(self, node: Node):
        if node.values.get("to_date") is not None:
            return
        start = self._subtree_max_from(node) + dt.timedelta(days=1)
        end = self.today - dt.timedelta(days=1)
        if start > end:
            return
        closed_on = start + dt.timedelta(days=self.rng.randint(0, (end - start).days))
        for n in node.walk():
            if n.values.get("to_date") is None or n.values["to_date"] > closed_on:
                n.values["to_date"] = closed_on

    def _future(self, node: Node):
        if any(n.values.get("to_date") for n in node.walk()):
            return
        starts = self.today + dt.timedelta(days=self.rng.randint(5, 150))
        for n in node.walk():
            n.values["first_from_date"] = n.values["from_date"] = max(starts, n.values["first_from_date"])
            n.values["updated_at_date"] = self.today

    def _pending(self, node: Node):
        ends = self.today + dt.timedelta(days=self.rng.randint(5, 200))
        if self._subtree_max_from(node) > ends or any(n.values.get("to_date") for n in node.walk()):
            return
        for n in node.walk():
            n.values["to_date"] = ends


def _reserve_sor_ids(n: int) -> list[int]:
    """n fresh SOR-IDs from the sequence, in order; ids already in use (imported) are skipped."""
    out: list[int] = []
    with connection.cursor() as cursor:
        while len(out) < n:
            need = n - len(out)
            cursor.execute("SELECT nextval('registry_sor_id_seq') FROM generate_series(1, %s)", [need])
            candidates = [ids.sor_id_for_sequence(row[0]) for row in sorted(cursor.fetchall())]
            taken = set(Unit.objects.filter(sor_id__in=candidates).values_list("sor_id", flat=True))
            out.extend(c for c in candidates if c not in taken)
    return out


def _check(condition: bool, what: str, errors: list[str]):
    if not condition:
        errors.append(what)


def _validate_unit(unit: Unit, codes: _Codes, errors: list[str]) -> int:
    """The services' own rules for a unit (`unit_messages`), with the speciality look-ups answered
    from the loaded code lists instead of two queries per unit. Returns the number of warnings."""
    specialities = unit.specialities
    unit.specialities = None
    try:
        unit_errors, unit_warnings = unit_messages(unit)
    finally:
        unit.specialities = specialities
    if specialities:
        if len(specialities) > MAX_SPECIALITIES:
            unit_errors.setdefault("specialities", []).append("too many")
        for spec in specialities:
            if spec.get("code") not in codes.specialities or spec.get("type") not in codes.speciality_types:
                unit_errors.setdefault("specialities", []).append(f"unknown {spec}")
    sor_errors, _w = ids.check_sor_id(unit.sor_id)
    if sor_errors:
        unit_errors["sor_id"] = sor_errors
    if unit_errors:
        errors.append(f"{unit.name} ({unit.sor_id}): {unit_errors}")
    return len(unit_warnings)


@dataclass
class _Batch:
    units: list[Unit] = field(default_factory=list)
    location_numbers: list[tuple[LocationNumber, list[int]]] = field(default_factory=list)


def _materialise(gen: RegisterGenerator, trees: list[Node], summary: Summary) -> _Batch:
    """Assign SOR-IDs (pre-order, so every parent precedes its children) and build the rows."""
    batch = _Batch()
    nodes = [n for tree in trees for n in tree.walk()]
    sor_ids = _reserve_sor_ids(len(nodes))
    for node, sor_id in zip(nodes, sor_ids, strict=True):
        node.sor_id = sor_id
    codes = gen.codes
    errors: list[str] = []
    today = gen.today

    def build(node: Node, parent: Node | None, owner: Node, ancestors: list[int]):
        values = dict(node.values)
        values.setdefault("region_id", owner.values["region_id"])
        unit = Unit(sor_id=node.sor_id, level=node.level, parent_id=parent.sor_id if parent else None,
                    owner_id=owner.sor_id, ancestors=ancestors, name=node.name, **values)
        _validate_unit(unit, codes, errors)
        batch.units.append(unit)
        summary.units[node.level] += 1
        if unit.to_date and unit.to_date < today:
            summary.closed += 1
        elif unit.to_date:
            summary.pending_closure += 1
        if unit.from_date > today:
            summary.future += 1
        if node.ln is not None:
            _check(unit.location_mode == LocationMode.OWN, f"{unit}: location number without mode 'own'", errors)
            gln = gen.next_gln()
            gln_errors, _w = ids.check_gln(gln)
            _check(not gln_errors and gln.startswith("579"), f"{unit}: invalid GLN {gln}", errors)
            supplier, system = gen.rng.choice(SYSTEMS[node.ln["systems"]])
            region_code = next(code for code, pk in codes.regions.items() if pk == unit.region_id)
            ln = LocationNumber(
                gln=gln, unit_id=unit.sor_id, only_internal=gen.rng.random() < 0.02,
                non_active=gen.rng.random() < 0.01,
                system_supplier_id=codes.system_supplier[supplier], system_type_id=codes.system_type[system],
                network_operator_id=codes.network_operator.get(gen.rng.choice(NETWORK_OPERATORS))
                or next(iter(codes.network_operator.values())),
                region_id=unit.region_id,
                edi_administrator_id=codes.edi_administrator[
                    gen.rng.choice(["639", "650", f"64{region_code[-1]}"])],
                note="Ikke i brug for adresserne!" if gen.rng.random() < 0.01 else "",
                from_date=unit.from_date, first_from_date=unit.first_from_date, to_date=unit.to_date,
                updated_at_date=unit.updated_at_date,
            )
            batch.location_numbers.append((ln, node.ln["message_types"]))
        else:
            _check(unit.location_mode != LocationMode.OWN, f"{unit}: mode 'own' without a location number", errors)
        for child in node.children:
            build(child, node, owner, ancestors + [node.sor_id])

    for tree in trees:
        build(tree, None, tree, [])
    if errors:
        raise GenerationError("Den genererede data overholder ikke valideringsreglerne:\n" + "\n".join(errors[:20]))
    return batch


def _write(batch: _Batch, summary: Summary):
    bulk.copy_create(Unit, batch.units)
    if batch.location_numbers:
        lns = bulk.copy_create(LocationNumber, [ln for ln, _types in batch.location_numbers])
        links = [LocationNumberMessageType(location_number_id=ln.pk, message_type_id=mt)
                 for ln, (_orig, types) in zip(lns, batch.location_numbers, strict=True) for mt in types]
        bulk.copy_create(LocationNumberMessageType, links)
        summary.location_numbers += len(lns)
        summary.message_type_links += len(links)


def generate(*, owners: int, seed: int, progress: bool | None = None, today: dt.date | None = None,
             out=None) -> Summary:
    """Generate and write the register (see the module docstring). `progress`: a tqdm bar; by
    default only when `out` (stdout) is a terminal."""
    started = time.perf_counter()
    out = out or sys.stdout
    if progress is None:
        progress = bool(getattr(out, "isatty", lambda: False)())
    summary = Summary()
    with transaction.atomic(), audit_context(actor=None, reason=f"sor_generate --owners {owners} --seed {seed}",
                                             origin="command") as ctx:
        summary.operation = ctx.op
        gen = RegisterGenerator(owners, seed, today=today)
        gen.codes.ensure_location_codes()
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=owners, unit=" ejere", file=out, desc="sor_generate", dynamic_ncols=True)
        trees: list[Node] = []
        size = 0
        for tree in gen.iter_owners():
            gen.owner_index += 1
            gen.assign_dates(tree)
            trees.append(tree)
            size += sum(1 for _ in tree.walk())
            if len(trees) >= OWNER_BATCH or size >= 5000:
                _write(_materialise(gen, trees, summary), summary)
                summary.owners += len(trees)
                if bar:
                    bar.update(len(trees))
                trees, size = [], 0
        if trees:
            _write(_materialise(gen, trees, summary), summary)
            summary.owners += len(trees)
            if bar:
                bar.update(len(trees))
        if bar:
            bar.close()
        summary.planted_duplicates = gen.planted["dup"]
        summary.legacy_99 = gen.planted["legacy"]
        summary.planted_numbers = gen.planted_numbers
        # Kept with the operation, so a bench (or anyone) can check the duplicate rules find them all.
        ctx.op.provenance["planted_numbers"] = gen.planted_numbers
    summary.elapsed = time.perf_counter() - started
    return summary
