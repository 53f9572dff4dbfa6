"""`manage.py sor_duplicates run|list|dismiss …`: duplicate detection (README "Duplicates"), the
same service as the nightly task and the admin (`registry.quality.duplicates`).

    run [--json]                                   one run now; prints the open groups after it
    list [--rule RULE] [--json]                    the open groups
    dismiss GROUP --reason TEXT --user LOGIN [--json]   "not a duplicate", remembered
    merge GROUP --survivor SOR-ID [--fields F,G] [--numbers move|close] --user LOGIN [--json]
                                                   drafts the merge change-set

JSON: run prints {"run": "id", "counts": {rule: n}, "groups": [group]}; list [group]; a group is
{"id", "rule", "units": [SOR-IDs as strings], "score": 0–100, "reason"}; dismiss {"id", "status"};
merge {"group", "change_set", "status", "risk", "changes"} (the set is a draft: submit it with
`sor_changeset submit`). The survivor is a unit of the group or an owner/parent of one (two owners
sharing a ydernummer are merged as owners). Exit 0 whatever was found; 1 when the run failed or a
dismissal or merge was refused; 2 wrong usage."""

from django.core.management.base import BaseCommand

from registry.quality import duplicates

from ._cli import add_user_argument, dumps, fail, resolve_user, run_verb


def group_json(g) -> dict:
    return {"id": str(g.pk), "rule": g.rule, "units": [str(pk) for pk in g.unit_ids], "score": g.score,
            "reason": g.reason}


class Command(BaseCommand):
    help = "Mulige dubletter: kør reglerne, vis de åbne grupper, afvis en gruppe (ikke en dublet)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        run = sub.add_parser("run", help="Kør dubletreglerne nu")
        run.add_argument("--json", action="store_true")
        lst = sub.add_parser("list", help="Vis de åbne grupper")
        lst.add_argument("--rule", choices=list(duplicates.RULES))
        lst.add_argument("--json", action="store_true")
        dismiss = sub.add_parser("dismiss", help="Ikke en dublet (huskes med begrundelsen)")
        dismiss.add_argument("group")
        dismiss.add_argument("--reason", required=True)
        dismiss.add_argument("--json", action="store_true")
        add_user_argument(dismiss)
        merge = sub.add_parser("merge", help="Lav ændringssættet, der lægger gruppen sammen (kladde)")
        merge.add_argument("group")
        merge.add_argument("--survivor", required=True, metavar="SOR-ID")
        merge.add_argument("--fields", default="", help="Felter, hvis værdi tages fra dubletten, fx phone,email")
        merge.add_argument("--numbers", choices=["move", "close"], default="move",
                           help="Dublettens lokationsnumre: flyttes til den, der bevares (standard), eller lukkes")
        merge.add_argument("--json", action="store_true")
        add_user_argument(merge)

    def handle(self, *args, verb, json=False, **options):
        run_verb(self, verb, json, options)

    def do_run(self, *, json, **_):
        try:
            record = duplicates.run(trigger="command")
        except Exception as exc:  # the run is marked failed with the reason
            fail(self, f"Dubletkørslen fejlede: {type(exc).__name__}: {exc}", as_json=json)
        groups = list(duplicates.open_groups())
        if json:
            self.stdout.write(dumps({"run": str(record.pk), "counts": record.counts,
                                     "groups": [group_json(g) for g in groups]}))
            return
        self.stdout.write(f"Kørsel {record.pk}: " + ", ".join(f"{rule} {n}" for rule, n in record.counts.items()))
        self._print(groups)

    def do_list(self, *, json, rule=None, **_):
        groups = duplicates.open_groups()
        if rule:
            groups = groups.filter(rule=rule)
        groups = list(groups)
        if json:
            self.stdout.write(dumps([group_json(g) for g in groups]))
            return
        self._print(groups)

    def do_dismiss(self, *, json, group, reason, user=None, **_):
        g = duplicates.dismiss(actor=resolve_user(user), group=group, reason=reason)
        self.stdout.write(dumps({"id": str(g.pk), "status": g.status}) if json
                          else f"Gruppe {g.pk}: {g.get_status_display()}.")

    def do_merge(self, *, json, group, survivor, fields="", numbers="move", user=None, **_):
        cs = duplicates.merge_draft(actor=resolve_user(user), group=group, survivor=survivor,
                                    fields=[f.strip() for f in fields.split(",") if f.strip()], numbers=numbers)
        out = {"group": str(group), "change_set": str(cs.pk), "status": cs.status, "risk": cs.risk,
               "changes": cs.changes.count()}
        self.stdout.write(dumps(out) if json else
                          f"Ændringssæt {cs.pk} ({cs.get_status_display()}, {out['changes']} ændringer) lægger gruppe "
                          f"{group} sammen.")

    def _print(self, groups):
        for g in groups:
            self.stdout.write(f"{g.pk:>6}  {g.score:>3}  {g.rule:<26} {' '.join(map(str, g.unit_ids))}")
