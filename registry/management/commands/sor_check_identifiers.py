"""`manage.py sor_check_identifiers [--json]`: report stored identifiers that break a rule.

Checks every unit's ydernummer, P-number, CVR, SHAK and pharmacy number, every location number's
GLN and every SOR-ID reference (geographical parent, replaces, replaced by) with the same rules
as the forms and the import (lenient where SDS's own files are: a legacy ydernummer of 1–9
digits passes), ASCII digits only. Values stored before a rule existed show up here; correct
them in the admin. Text: one line a problem, `SOR-ID<TAB>field<TAB>value<TAB>message`, then a
count on stderr. --json: `{"problems": [{"sor_id", "model", "field", "value", "message"}], "count"}`.
Exit 0 when every value passes, 1 when a problem is found."""

from django.core.management.base import BaseCommand, CommandError

from registry import identifiers as ids
from registry.models import LocationNumber, Unit

from ._cli import dumps

UNIT_CHECKS = {
    "provider_number": lambda v: ids.check_provider_number(v, strict=False),
    "p_number": ids.check_p_number,
    "cvr": ids.check_cvr,
    "shak": ids.check_shak,
    "pharmacy_number": ids.check_pharmacy_number,
    "geo_parent_sor_id": ids.check_sor_id,
}


def find_problems():
    fields = list(UNIT_CHECKS) + ["replaces", "replaced_by"]
    for row in Unit.objects.order_by("sor_id").values_list("sor_id", *fields).iterator(5000):
        sor_id, values = row[0], dict(zip(fields, row[1:], strict=True))
        for field, check in UNIT_CHECKS.items():
            value = values[field]
            if value in (None, ""):
                continue
            for message in check(str(value))[0]:
                yield {"sor_id": str(sor_id), "model": "unit", "field": field, "value": str(value), "message": message}
        for field in ("replaces", "replaced_by"):
            for ref in values[field] or []:
                for message in ids.check_sor_id(str(ref))[0]:
                    yield {"sor_id": str(sor_id), "model": "unit", "field": field, "value": str(ref), "message": message}
    for unit_id, gln in LocationNumber.objects.order_by("unit_id", "pk").values_list("unit_id", "gln").iterator(5000):
        for message in ids.check_gln(gln)[0]:
            yield {"sor_id": str(unit_id), "model": "location_number", "field": "gln", "value": gln, "message": message}


class Command(BaseCommand):
    help = "Find gemte identifikatorer (ydernummer, P-nummer, CVR, SHAK, GLN, SOR-ID), der bryder en regel."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Skriv JSON.")

    def handle(self, *args, json, **options):
        problems = list(find_problems())
        if json:
            self.stdout.write(dumps({"problems": problems, "count": len(problems)}))
        else:
            for p in problems:
                self.stdout.write(f"{p['sor_id']}\t{p['field']}\t{p['value']}\t{p['message']}")
        self.stderr.write(f"{len(problems)} problemer fundet.")
        if problems:
            raise CommandError(f"{len(problems)} gemte værdier bryder en regel; ret dem i administrationen.", returncode=1)
