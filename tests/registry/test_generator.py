"""The synthetic register generator: deterministic, realistic in shape, valid by the register's own rules,
and written with history like any other change."""

import re
from collections import defaultdict

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone
from stdnum.dk import cvr as stdnum_cvr

from registry import identifiers as ids
from registry.generator import SHAK_PREFIX, generate
from registry.models import (
    EntityType,
    LocationMode,
    LocationNumber,
    LocationNumberMessageType,
    OwnerType,
    Unit,
)
from registry.services.validation import unit_messages

OWNERS = 60
SEED = 7
pytestmark = pytest.mark.django_db


def _restart_sor_id_sequence():
    """A fresh register starts the SOR-ID sequence at 90,000,000 (sequences ignore rollbacks, so tests
    reset it)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval('registry_sor_id_seq', %s, false)", [ids.FIRST_ALLOCATED_SEQUENCE])


def _generate(owners=OWNERS, seed=SEED):
    _restart_sor_id_sequence()
    return generate(owners=owners, seed=seed, progress=False)


def _snapshot():
    units = list(Unit.objects.order_by("sor_id").values_list("sor_id", "name", "provider_number", "shak", "parent_id"))
    glns = list(LocationNumber.objects.order_by("gln").values_list("gln", "unit_id"))
    return units, glns


@pytest.fixture
def register():
    summary = _generate()
    return summary


def _by_type(code):
    return EntityType.objects.get(code=code)


def test_same_seed_on_a_fresh_register_gives_the_same_sor_ids_names_and_glns():
    preexisting = Unit.objects.count()  # 0 unless another test committed units
    outer = transaction.savepoint()
    _generate()
    first = _snapshot()
    transaction.savepoint_rollback(outer)
    assert Unit.objects.count() == preexisting

    outer = transaction.savepoint()
    _generate()
    second = _snapshot()
    transaction.savepoint_rollback(outer)

    _generate(seed=SEED + 1)
    other = _snapshot()

    assert first[0] and first[1]
    assert first == second
    assert [u[1] for u in other[0]] != [u[1] for u in first[0]]
    assert other[1] != first[1]
    # SOR-IDs come from the sequence in generation order: the first owner gets item number
    # 90,000,000, an 18-digit SOR-ID no real SDS file uses.
    if not preexisting:
        assert first[0][0][0] == ids.sor_id_for_sequence(ids.FIRST_ALLOCATED_SEQUENCE)
        assert len(str(first[0][0][0])) == 18


def test_register_has_every_level_and_owner_type_in_the_planned_proportions(register):
    assert register.owners == OWNERS
    counts = defaultdict(int)
    for level, n in Unit.objects.values_list("level").annotate(n=Count("sor_id")):
        counts[level] = n
    assert counts["IE"] == OWNERS
    assert counts["SI"] >= OWNERS and counts["OE"] > counts["SI"]
    assert sum(counts.values()) == sum(register.units.values())
    owner_types = defaultdict(int)
    for code in Unit.objects.filter(level="IE").values_list("owner_type__code", flat=True):
        owner_types[code] += 1
    region, kommune, stat, privat = (OwnerType.objects.get(name_da=n).code for n in ("region", "kommune", "stat", "privat"))
    assert owner_types[region] == 5
    assert owner_types[kommune] >= 2 and owner_types[stat] >= 1
    assert owner_types[privat] == OWNERS - owner_types[region] - owner_types[kommune] - owner_types[stat]
    # Every kind of private practice and every municipal service is there.
    si_types = set(Unit.objects.filter(level="SI").values_list("entity_type__name_da", flat=True))
    for name in ("almen lægepraksis", "speciallægepraksis", "tandlægepraksis", "fysioterapiklinik", "kiropraktorklinik",
                 "psykologisk rådgivningsklinik", "fodterapeutklinik", "apotek", "hospital",
                 "hjemmeplejeenhed", "sundhedsplejen", "tandplejeklinik", "plejehjem"):
        assert name in si_types, name


def test_hospitals_have_three_to_five_oe_levels_and_shak_codes_by_level(register):
    hospitals = list(Unit.objects.filter(entity_type=_by_type("22232009")))
    assert len(hospitals) >= 5
    depths = set()
    for hospital in hospitals:
        assert re.fullmatch(r"[0-9]{4}", hospital.shak)
        assert hospital.shak[:2] in SHAK_PREFIX.values()
        below = list(Unit.objects.filter(ancestors__contains=[hospital.sor_id]))
        oe_levels = max(len(u.ancestors) for u in below) - len(hospital.ancestors)
        assert 3 <= oe_levels <= 5
        depths.add(oe_levels)
        departments = [u for u in below if u.parent_id == hospital.sor_id]
        assert departments
        for dept in departments:
            assert re.fullmatch(hospital.shak + r"[0-9A-Z][0-9]", dept.shak), dept.shak
            assert dept.specialities and dept.ambulant_activity is not None and dept.patients_admitted is not None
            for section in (u for u in below if u.parent_id == dept.sor_id):
                assert re.fullmatch(dept.shak + r"[0-9A-Z]", section.shak), section.shak
                assert section.reporting_level is True
        assert all(ids.SHAK_RE.match(u.shak) for u in below if u.shak)
    assert depths == {3, 4, 5}
    shaks = [h.shak for h in hospitals]
    assert len(shaks) == len(set(shaks))


def test_gp_practices_have_an_oe_per_ydernummer_with_general_medicine(register):
    gp_sis = Unit.objects.filter(level="SI", entity_type=_by_type("394761003"))
    assert gp_sis.exists()
    yder = list(Unit.objects.filter(parent__in=gp_sis).exclude(provider_number=""))
    assert len(yder) >= gp_sis.count() - gp_sis.filter(name__endswith=", filial").count()
    for unit in yder:
        assert re.fullmatch(r"[0-9]{6}|99[0-9]{6}", unit.provider_number), unit.provider_number
        assert unit.specialities == [{"code": "408443003", "type": "51000095001"}]


def test_closed_future_and_pending_units_and_planted_duplicate_ydernumre_are_present(register):
    today = timezone.localdate()
    closed = Unit.objects.filter(to_date__lt=today)
    assert closed.exists()
    assert Unit.objects.filter(from_date__gt=today).exists()
    assert Unit.objects.filter(to_date__gt=today).exists()
    # A closed unit has no open unit below it.
    for unit in closed[:50]:
        assert not Unit.objects.filter(ancestors__contains=[unit.sor_id]).exclude(to_date__lte=unit.to_date).exists()
    owners_of = defaultdict(set)
    for number, owner in Unit.objects.exclude(provider_number="").values_list("provider_number", "owner_id"):
        owners_of[number].add(owner)
    duplicates = [n for n, owners in owners_of.items() if len(owners) > 1]
    assert len(duplicates) >= register.planted_duplicates >= 2
    legacy = [n for n in owners_of if len(n) == 8 and n.startswith("99")]
    assert legacy and all(n[2:] in owners_of for n in legacy)


def test_every_identifier_is_valid_and_every_unit_passes_the_services_validation(register):
    units = list(Unit.objects.select_related("owner"))
    assert units
    for unit in units:
        assert ids.check_sor_id(unit.sor_id) == ([], []), unit
        errors, _warnings = unit_messages(unit)
        assert errors == {}, (unit, errors)
        assert unit.region_id is not None and unit.region_id == unit.owner.region_id
        if unit.level == "IE":
            assert stdnum_cvr.is_valid(unit.cvr), unit.cvr
            assert unit.postal_present and unit.virtual_present and len(unit.phone) == 8
            assert re.fullmatch(r"[0-9]{4}", unit.postal_municipality_code) and unit.postal_region_code
            assert 6_000_000 < float(unit.postal_coord_n) < 6_420_000
            assert 440_000 < float(unit.postal_coord_e) < 900_000
            assert unit.location_mode in (LocationMode.OWN, LocationMode.NONE)
    cvrs = [u.cvr for u in units if u.level == "IE"]
    assert len(cvrs) == len(set(cvrs))
    lns = list(LocationNumber.objects.all())
    assert len(lns) == register.location_numbers
    for ln in lns:
        assert ids.check_gln(ln.gln) == ([], []) and ln.gln.startswith("579")
        assert ln.system_supplier_id and ln.system_type_id and ln.network_operator_id and ln.edi_administrator_id
    assert len({ln.gln for ln in lns}) == len(lns)
    with_ln = {ln.unit_id for ln in lns}
    own = {u.sor_id for u in units if u.location_mode == LocationMode.OWN}
    assert own == with_ln
    assert any(u.location_mode == LocationMode.NONE for u in units if u.level != "IE")
    per_ln = defaultdict(int)
    for ln_id in LocationNumberMessageType.objects.values_list("location_number_id", flat=True):
        per_ln[ln_id] += 1
    assert set(per_ln) == {ln.pk for ln in lns}
    assert all(1 <= n <= 6 for n in per_ln.values())


def test_every_row_has_one_history_row_from_the_command_in_one_batch(register):
    units = Unit.objects.count()
    history = Unit.history.all()
    assert history.count() == units
    assert set(history.values_list("history_type", "origin")) == {("+", "command")}
    assert set(history.values_list("operation_id", flat=True)) == {register.operation.pk}
    assert set(history.values_list("history_change_reason", flat=True)) == {f"sor_generate --owners {OWNERS} --seed {SEED}"}
    assert history.values("sor_id").distinct().count() == units
    assert set(LocationNumber.history.values_list("operation_id", flat=True)) == {register.operation.pk}
    assert LocationNumber.history.count() == LocationNumber.objects.count()
    assert LocationNumberMessageType.history.count() == LocationNumberMessageType.objects.count()


def test_sor_generate_refuses_a_non_empty_register_unless_appending():
    _restart_sor_id_sequence()
    call_command("sor_generate", owners=12, seed=3, no_progress=True)
    before = Unit.objects.count()
    with pytest.raises(CommandError, match="--append"):
        call_command("sor_generate", owners=12, seed=3, no_progress=True)
    assert Unit.objects.count() == before
    call_command("sor_generate", owners=12, seed=3, no_progress=True, append=True)
    assert Unit.objects.filter(level="IE").count() == 24
    assert LocationNumber.objects.filter(to_date__isnull=True).values("gln").distinct().count() == \
        LocationNumber.objects.filter(to_date__isnull=True).count()


def test_sor_demo_generates_only_into_an_empty_register_and_creates_the_personas(capsys):
    _restart_sor_id_sequence()
    call_command("sor_demo", owners=12)
    assert Unit.objects.filter(level="IE").count() == 12
    call_command("sor_demo", owners=12)
    assert Unit.objects.filter(level="IE").count() == 12
    out = capsys.readouterr().out
    assert "sor-admin" in out and "nothing generated" in out
    from django.contrib.auth import get_user_model

    assert get_user_model().objects.filter(username="sor-admin", is_staff=True).exists()


def test_copy_create_writes_the_same_rows_and_history_as_bulk_create():
    import datetime as dt

    from registry.audit import audit_context
    from registry.models import Region
    from registry.services import bulk

    def owner(seq):
        return Unit(sor_id=ids.sor_id_for_sequence(seq), level="IE", owner_id=ids.sor_id_for_sequence(seq),
                    name="Lægerne Østergade", owner_type=OwnerType.objects.get(name_da="privat"),
                    region=Region.objects.get(code="1081"), cvr="35095748", postal_present=True,
                    postal_street_name="Østergade", postal_post_code="9700", postal_district_name="Brønderslev",
                    specialities=[{"code": "408443003", "type": "51000095001"}], replaces=[], ancestors=[],
                    from_date=dt.date(2020, 1, 1), first_from_date=dt.date(2020, 1, 1), location_mode="none")

    with audit_context(actor=None, reason="copy vs bulk", origin="command") as ctx:
        bulk.bulk_create(Unit, [owner(900001)])
        bulk.copy_create(Unit, [owner(900002)])
    ignore = {"sor_id", "owner", "history_id", "history_date"}

    def row(seq):
        values = Unit.history.filter(sor_id=ids.sor_id_for_sequence(seq)).values().get()
        return {k: v for k, v in values.items() if k not in ignore and k != "owner_id"}

    assert row(900001) == row(900002)
    assert row(900002)["operation_id"] == ctx.operation_id and row(900002)["origin"] == "command"
    copied = Unit.objects.get(sor_id=ids.sor_id_for_sequence(900002))
    assert copied.specialities == [{"code": "408443003", "type": "51000095001"}] and copied.replaces == []


def test_pharmacies_are_shaped_as_sds_files_show_them(register):
    """ONE_APOTEK.xml: owner → institution "apotek" → organisational unit with PharmacyIdentifier
    "apoteksnummer,filial"; consumers make one Apotek per such unit."""
    apotek = EntityType.objects.get(code="264372000")
    institutions = list(Unit.objects.filter(level="SI", entity_type=apotek))
    assert institutions
    assert not Unit.objects.filter(level="SI").exclude(pharmacy_number="").exists()
    numbers = set()
    for si in institutions:
        units = list(Unit.objects.filter(parent=si, level="OE").exclude(pharmacy_number=""))
        assert units, f"{si} has no pharmacy unit"
        for unit in units:
            assert re.fullmatch(r"\d+,\d+", unit.pharmacy_number), unit.pharmacy_number
            numbers.add(unit.pharmacy_number)
            assert "filial af" not in unit.name
        main, *branches = sorted(units, key=lambda u: int(u.pharmacy_number.split(",")[1]))
        assert main.pharmacy_number.endswith(",1")
        for branch in branches:  # numbered after the main pharmacy, each with its own location number
            assert branch.pharmacy_number.split(",")[0] == main.pharmacy_number.split(",")[0]
            assert branch.location_mode == LocationMode.OWN
    assert len(numbers) == Unit.objects.exclude(pharmacy_number="").count()  # each number once
