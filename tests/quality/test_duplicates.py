"""Duplicate detection: each rule finds what was planted and nothing on a clean generated register;
"not a duplicate" is remembered until a compared value changes; a fixed duplicate goes away."""

import datetime as dt
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from registry import identifiers as ids
from registry.generator import generate
from registry.models import DuplicateGroup, DuplicateRun
from registry.quality import duplicates
from registry.services.location_numbers import location_number_assign
from registry.services.units import unit_create, unit_update
from tests.factories import gln, location_codes

pytestmark = pytest.mark.django_db
CMD = dict(actor=None, reason="testdata", origin="command")


def _open(rule):
    return list(duplicates.open_groups().filter(rule=rule))


def test_on_a_generated_register_each_rule_finds_exactly_what_the_generator_planted():
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval('registry_sor_id_seq', %s, false)", [ids.FIRST_ALLOCATED_SEQUENCE])
    summary = generate(owners=300, seed=7, progress=False, out=io.StringIO())
    assert summary.planted_duplicates >= 2 and summary.legacy_99 >= 1
    record = duplicates.run()
    found = {rule: _open(rule) for rule in duplicates.RULES}
    dup_numbers = {g.compared[str(g.unit_ids[0])]["provider_number"] for g in found["same_provider_number"]}
    assert dup_numbers == set(summary.planted_numbers["dup"])
    legacy = {v["provider_number"] for g in found["legacy_99"] for v in g.compared.values()
              if v["provider_number"].startswith("99")}
    assert legacy == set(summary.planted_numbers["legacy"])
    # The generator plants nothing else, and nothing else is found.
    assert found["same_cvr"] == found["same_location_number"] == found["similar_name_same_address"] == []
    assert record.counts == {rule: len(groups) for rule, groups in found.items()}


@pytest.fixture
def planted(make_tree):
    a = make_tree(name="Lægehuset Åbyhøj ApS", provider_number="123456")
    b = make_tree(name="Laegehuset Aabyhoej")  # the same name normalised; the same ydernummer below
    unit_update(unit=b["oe"], changes={"provider_number": "123456"}, override_warnings=True, **CMD)
    c = make_tree(name="Tandklinik Nord", cvr="22370170")
    d = make_tree(name="Fysioterapi Syd", cvr="22370170")
    number = gln(9100)
    until = dt.date.today() + dt.timedelta(days=400)
    for tree in (c, d):  # the second assignment gets past the uniqueness check only with a ToDate
        location_number_assign(unit=tree["oe"], gln=number, from_date=dt.date(2020, 1, 1), to_date=until,
                               **location_codes(), **CMD)
    legacy = unit_create(level="OE", parent=c["si"], name="Tandlæge gammel", provider_number="99" + "123456",
                         override_warnings=True, from_date=dt.date(2020, 1, 1), **CMD)
    return {"a": a, "b": b, "c": c, "d": d, "gln": number, "legacy": legacy}


def test_each_rule_finds_its_planted_group_with_a_score_and_a_danish_reason(planted):
    duplicates.run()
    a, b, c, d = (planted[k] for k in "abcd")
    (same_number,) = _open("same_provider_number")
    assert set(same_number.unit_ids) == {a["oe"].pk, b["oe"].pk} and same_number.score == 90
    assert "Ydernummer 123456 er aktivt hos 2 forskellige ejere" in same_number.reason
    (legacy,) = _open("legacy_99")
    assert set(legacy.unit_ids) == {planted["legacy"].pk, a["oe"].pk, b["oe"].pk}
    assert "99123456" in legacy.reason
    (cvr,) = _open("same_cvr")
    assert set(cvr.unit_ids) == {c["ie"].pk, d["ie"].pk} and "22370170" in cvr.reason
    (number,) = _open("same_location_number")
    assert set(number.unit_ids) == {c["oe"].pk, d["oe"].pk} and number.score == 100
    (name,) = _open("similar_name_same_address")
    assert set(name.unit_ids) == {a["ie"].pk, b["ie"].pk} and name.score == 100
    assert "samme navn og samme adresse" in name.reason


def test_not_a_duplicate_is_remembered_until_a_compared_value_changes(planted, sor_admin):
    duplicates.run()
    (group,) = _open("similar_name_same_address")
    duplicates.dismiss(actor=sor_admin, group=group, reason="To selvstændige praksisser i samme hus.")
    duplicates.run()
    assert _open("similar_name_same_address") == []
    assert DuplicateGroup.objects.get(pk=group.pk).dismissed_reason == "To selvstændige praksisser i samme hus."
    unit_update(unit=planted["b"]["ie"], changes={"name": "Laegehuset Aabyhoej I/S"}, **CMD)
    duplicates.run()
    (again,) = _open("similar_name_same_address")
    assert again.pk == group.pk  # the same group, back because a name it compared changed


def test_a_fixed_duplicate_is_gone_after_the_next_run(planted):
    duplicates.run()
    (group,) = _open("same_provider_number")
    unit_update(unit=planted["b"]["oe"], changes={"provider_number": "654321"}, **CMD)
    duplicates.run()
    assert DuplicateGroup.objects.get(pk=group.pk).status == "gone"


def test_dismissing_needs_a_reason_and_the_right_role(planted, sor_admin, guest):
    from registry.errors import NotAllowed, ValidationFailed

    duplicates.run()
    group = _open("same_cvr")[0]
    with pytest.raises(ValidationFailed):
        duplicates.dismiss(actor=sor_admin, group=group, reason=" ")
    with pytest.raises(NotAllowed):
        duplicates.dismiss(actor=guest, group=group, reason="nej")


def test_command_runs_lists_and_dismisses_with_json(planted, sor_admin, capsys):
    out = io.StringIO()
    call_command("sor_duplicates", "run", "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert DuplicateRun.objects.filter(pk=int(result["run"]), status="done").exists()
    rules = {g["rule"] for g in result["groups"]}
    assert rules == set(duplicates.RULES)
    group = next(g for g in result["groups"] if g["rule"] == "same_cvr")
    assert group["units"] == sorted(group["units"]) and all(isinstance(u, str) for u in group["units"])
    out = io.StringIO()
    call_command("sor_duplicates", "dismiss", group["id"], "--reason", "Koncern med to ejere", "--user", "sor-admin",
                 "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"id": group["id"], "status": "dismissed"}
    with pytest.raises(CommandError) as refused:
        call_command("sor_duplicates", "dismiss", group["id"], "--reason", "igen", "--user", "sor-admin")
    assert refused.value.returncode == 1


def test_a_failing_run_is_recorded_and_the_command_exits_1(planted, monkeypatch):
    def broken():
        raise RuntimeError("regel fejlede")

    monkeypatch.setitem(duplicates.RULES, "same_cvr", broken)
    with pytest.raises(CommandError) as failed:
        call_command("sor_duplicates", "run", stdout=io.StringIO())
    assert failed.value.returncode == 1
    assert DuplicateRun.objects.get().status == "failed" and "regel fejlede" in DuplicateRun.objects.get().error


def test_merging_two_owners_sharing_a_ydernummer_reparents_moves_numbers_links_and_is_one_operation(
        make_tree, sor_admin, personas):
    from registry.changesets import engine
    from registry.models import ChangeEvent, LocationNumber, Unit
    from registry.selectors import unit_effective_values

    a = make_tree(name="Lægerne Nord")
    b = make_tree(name="Klinik Sydhavn")
    unit_update(unit=b["oe"], changes={"provider_number": a["oe"].provider_number}, override_warnings=True, **CMD)
    number = gln(9300)
    location_number_assign(unit=b["si"], gln=number, from_date=dt.date(2020, 1, 1), **location_codes(), **CMD)
    duplicates.run()
    (group,) = _open("same_provider_number")
    before = {pk: unit_effective_values(Unit.objects.get(pk=pk)) for pk in (b["si"].pk, b["oe"].pk, b["leaf"].pk)}

    cs = duplicates.merge_draft(actor=personas["sor-admin"], group=group, survivor=a["ie"].pk, fields=["phone"])
    kinds = list(cs.changes.values_list("kind", flat=True))
    assert kinds.count("move") == 1 and "move_location_number" not in kinds  # B's IE holds no number itself
    assert kinds[-1] == "close" and "replacement_link" not in kinds  # the file links successors on SI/OE only
    engine.changeset_submit(actor=personas["sor-admin"], changeset=cs)
    assert cs.__class__.objects.get(pk=cs.pk).status == "submitted"  # closing is high risk: four eyes
    engine.changeset_approve(actor=personas["sor-admin2"], changeset=cs)
    cs.refresh_from_db()
    assert cs.status == "applied"

    si = Unit.objects.get(pk=b["si"].pk)
    assert si.parent_id == a["ie"].pk and si.owner_id == a["ie"].pk
    assert Unit.objects.get(pk=b["leaf"].pk).owner_id == a["ie"].pk
    old_owner, survivor = Unit.objects.get(pk=b["ie"].pk), Unit.objects.get(pk=a["ie"].pk)
    assert old_owner.to_date == dt.date.today() - dt.timedelta(days=1)
    assert old_owner.to_date is not None and survivor.to_date is None
    assert LocationNumber.objects.get(gln=number).unit_id == b["si"].pk  # the SI kept its number
    operations = set(ChangeEvent.objects.filter(unit_id__in=[b["ie"].pk, b["si"].pk, a["ie"].pk])
                     .filter(operation__provenance__duplicate_group=group.pk).values_list("operation_id", flat=True))
    assert len(operations) == 1
    assert DuplicateGroup.objects.get(pk=group.pk).status == "merged"

    inverse = engine.changeset_revert(actor=personas["sor-admin"], changeset=cs, reason="fejl")
    engine.changeset_submit(actor=personas["sor-admin"], changeset=inverse)
    inverse.refresh_from_db()
    if inverse.status == "submitted":
        engine.changeset_approve(actor=personas["sor-admin2"], changeset=inverse)
    assert Unit.objects.get(pk=b["si"].pk).parent_id == b["ie"].pk
    restored = Unit.objects.get(pk=b["ie"].pk)
    assert restored.to_date is None
    after = {pk: unit_effective_values(Unit.objects.get(pk=pk)) for pk in before}
    assert {pk: {k: v.value for k, v in e.items()} for pk, e in after.items()} == \
        {pk: {k: v.value for k, v in e.items()} for pk, e in before.items()}
    assert DuplicateGroup.objects.get(pk=group.pk).status == "open"


def test_merging_two_units_links_replaced_by_and_replaces_and_moves_the_location_number(make_tree, personas):
    from registry.changesets import engine
    from registry.models import LocationNumber, Unit

    a = make_tree(name="Lægerne Vest")
    dup = unit_create(level="OE", parent=a["si"], name="Lægerne Vest ydernummer (dublet)", from_date=dt.date(2020, 1, 1),
                      **CMD)
    number = gln(9400)
    location_number_assign(unit=dup, gln=number, from_date=dt.date(2020, 1, 1), **location_codes(), **CMD)
    rows = [{"row": 2, "change": "merge", "sor_id": str(dup.pk), "target": str(a["oe"].pk), "field": "", "value": "move"}]
    cs = engine.changeset_create(actor=personas["sor-admin"], name="sammenlægning", reason="dublet", rows=rows)
    engine.changeset_submit(actor=personas["sor-admin"], changeset=cs)
    engine.changeset_approve(actor=personas["sor-admin2"], changeset=cs)
    closed, survivor = Unit.objects.get(pk=dup.pk), Unit.objects.get(pk=a["oe"].pk)
    assert closed.replaced_by == [survivor.pk] and survivor.replaces == [closed.pk]
    assert LocationNumber.objects.get(gln=number).unit_id == survivor.pk
    # Moving its number began a version today, so it closes at the end of today (not before it began).
    assert closed.to_date == dt.date.today()


def test_merge_command_drafts_the_set_and_refuses_a_survivor_outside_the_group(planted, personas, capsys):
    duplicates.run()
    group = _open("same_provider_number")[0]
    out = io.StringIO()
    call_command("sor_duplicates", "merge", str(group.pk), "--survivor", str(planted["a"]["ie"].pk), "--user",
                 "sor-admin", "--json", stdout=out)
    result = json.loads(out.getvalue())
    from registry.models import ChangeSet

    cs = ChangeSet.objects.get(pk=int(result["change_set"]))
    assert result["status"] == "draft" and cs.provenance == {"duplicate_group": group.pk}
    assert cs.changes.filter(kind="close", unit_id=planted["b"]["ie"].pk).exists()
    with pytest.raises(CommandError) as refused:
        call_command("sor_duplicates", "merge", str(group.pk), "--survivor", str(planted["c"]["ie"].pk), "--user",
                     "sor-admin", "--json", stdout=io.StringIO())
    assert refused.value.returncode == 1


def test_a_survivor_that_carried_the_99_number_gets_the_plain_one_and_the_99_goes_with_the_closed_unit(
        make_tree, personas):
    from registry.changesets import engine
    from registry.models import Unit

    a = make_tree(name="Lægerne Øst")
    hidden = unit_create(level="OE", parent=a["si"], name="Lægerne Øst (skjult dublet)", from_date=dt.date(2020, 1, 1),
                         provider_number="99" + a["oe"].provider_number, override_warnings=True, **CMD)
    duplicates.run()
    (group,) = _open("legacy_99")
    cs = duplicates.merge_draft(actor=personas["sor-admin"], group=group, survivor=hidden.pk)
    assert cs.changes.filter(kind="set", unit_id=hidden.pk, field="provider_number",
                             value=a["oe"].provider_number).exists()
    engine.changeset_submit(actor=personas["sor-admin"], changeset=cs)
    engine.changeset_approve(actor=personas["sor-admin2"], changeset=cs)
    survivor, closed = Unit.objects.get(pk=hidden.pk), Unit.objects.get(pk=a["oe"].pk)
    assert survivor.provider_number == a["oe"].provider_number and survivor.to_date is None
    assert closed.to_date is not None
    duplicates.run()
    assert _open("legacy_99") == [] and _open("same_provider_number") == []


def test_the_name_similarity_is_pg_trgm_on_the_normalised_names():
    assert duplicates.normalise_name("Lægehuset Åbyhøj ApS") == duplicates.normalise_name("Laegehuset Aabyhoej")
    same, near, far = duplicates.similarities([("laegehuset aabyhoej", "laegehuset aabyhoej"),
                                               ("hvidovre hjorte apotek", "hvidovre apotek"),
                                               ("tandklinik nord", "fysioterapi syd")])
    assert same == 1.0 and 0.6 <= near < 1.0 and far < 0.3


def test_a_group_about_units_is_not_merged_as_owners(planted, personas):
    from registry.errors import ValidationFailed

    duplicates.run()
    (legacy,) = _open("legacy_99")
    with pytest.raises(ValidationFailed, match="Denne regel gælder enhederne selv"):
        duplicates.merge_draft(actor=personas["sor-admin"], group=legacy, survivor=planted["a"]["ie"].pk)
