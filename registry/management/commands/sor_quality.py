"""`manage.py sor_quality run|list …`: data-quality control runs (README "Data quality"), the same
service as the nightly task and the admin (`registry.quality.control`).

    run [--json]                     one control run now; prints the open findings after it
    list [--rule RULE] [--severity error|warning|info] [--json]

JSON: run prints {"run": "id", "counts": {rule: open findings}, "findings": [finding]}; list
[finding]; a finding is {"rule", "severity": "error" | "warning" | "info", "unit": SOR-ID as a
string, "message"}. Exit 0 whatever was found; 1 when the run failed; 2 wrong usage."""

from django.core.management.base import BaseCommand

from registry.quality import control

from ._cli import dumps, fail


def finding_json(f) -> dict:
    return {"rule": f.rule, "severity": f.severity, "unit": str(f.unit_id), "message": f.message}


class Command(BaseCommand):
    help = "Datakvalitet: kør kontrollen, vis de åbne fund."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        run = sub.add_parser("run", help="Kør kontrollen nu")
        run.add_argument("--json", action="store_true")
        lst = sub.add_parser("list", help="Vis de åbne fund")
        lst.add_argument("--rule")
        lst.add_argument("--severity", choices=["error", "warning", "info"])
        lst.add_argument("--json", action="store_true")

    def handle(self, *args, verb, json=False, **options):
        findings = None
        if verb == "run":
            try:
                record = control.run(trigger="command")
            except Exception as exc:
                fail(self, f"Kontrolkørslen fejlede: {type(exc).__name__}: {exc}", as_json=json)
        findings = control.open_findings().order_by("rule", "unit_id")
        if options.get("rule"):
            findings = findings.filter(rule=options["rule"])
        if options.get("severity"):
            findings = findings.filter(severity=options["severity"])
        rows = [finding_json(f) for f in findings]
        if json:
            self.stdout.write(dumps({"run": str(record.pk), "counts": record.counts, "findings": rows} if verb == "run"
                                    else rows))
            return
        for f in rows:
            self.stdout.write(f"{f['severity']:<8} {f['rule']:<32} {f['unit']:<20} {f['message']}")
