"""`manage.py sor_changeset VERB …`: the change-set workflow on the command line (README "Change-sets").

    create --name TEXT --reason TEXT [--effective YYYY-MM-DD] [--changes FILE.csv] --user LOGIN [--json]
    add ID --changes FILE.csv --user LOGIN [--json]
    show ID [--json]          list [--status S] [--json]          preview ID [--json]
    submit | approve | reject | cancel | apply ID --user LOGIN [--note TEXT] [--json]
    revert ID --user LOGIN [--effective YYYY-MM-DD] [--reason TEXT] [--json]

Submitting (a low-risk set the policy approves) or approving a set dated today or earlier applies
it at once; if it then fails, the command exits 1 with the set's reason (`"status": "failed"`).

The same services as the admin (`registry.changesets.engine`). Exit 0 done; 1 refused or failed
(the reason on stderr; `{"error": …}` on stdout with --json, plus `"errors": [{"row", "message"}]`
for a bad changes file); 2 wrong usage. Ids and SOR-IDs are JSON strings."""

import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from registry.changesets import engine
from registry.errors import DomainError, ValidationFailed
from registry.models import ChangeSet, ChangeSetStatus

from ._cli import add_user_argument, dumps, fail, resolve_user

WRITING = ("create", "add", "submit", "approve", "reject", "cancel", "apply", "revert")


class Command(BaseCommand):
    help = "Ændringssæt: opret, tilføj, vis, forhåndsvis, indsend, godkend, afvis, annullér, gennemfør, tilbagefør."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)

        def verb(name, help_text, *, with_id=True, writing=True):
            p = sub.add_parser(name, help=help_text)
            if with_id:
                p.add_argument("id", help="Ændringssættets nummer")
            if writing:
                add_user_argument(p)
            p.add_argument("--json", action="store_true", help="Skriv resultatet som JSON.")
            return p

        create = verb("create", "Opret en kladde", with_id=False)
        create.add_argument("--name", required=True)
        create.add_argument("--reason", required=True)
        create.add_argument("--effective", help="Gældende fra (ÅÅÅÅ-MM-DD); standard i dag")
        create.add_argument("--changes", help="Ændringer som CSV (change;sor_id;target;field;value)")
        verb("add", "Tilføj ændringer fra en CSV-fil").add_argument("--changes", required=True)
        verb("show", "Vis et sæt", writing=False)
        verb("list", "List sæt", with_id=False, writing=False).add_argument(
            "--status", choices=ChangeSetStatus.values)
        verb("preview", "Vis virkningen uden at skrive", writing=False)
        for name, text in (("submit", "Indsend"), ("approve", "Godkend"), ("reject", "Afvis"),
                           ("cancel", "Annullér"), ("apply", "Gennemfør")):
            verb(name, text).add_argument("--note", default="", help="Bemærkning i sættets tidslinje")
        revert = verb("revert", "Lav det modsatte sæt (en kladde, der skal godkendes som ethvert sæt)")
        revert.add_argument("--effective", help="Tilbageførslens gældende-fra-dato (ÅÅÅÅ-MM-DD); standard i dag")
        revert.add_argument("--reason", default="", help="Begrundelse; standard: tilbagefører sæt nr. ID")

    def handle(self, *args, verb, json=False, **options):
        actor = resolve_user(options.get("user")) if verb in WRITING else None
        try:
            return getattr(self, f"do_{verb}")(actor, json=json, **options)
        except engine.ChangeRowsInvalid as exc:
            fail(self, str(exc), as_json=json, errors=exc.errors)
        except ValidationFailed as exc:
            messages = [m for msgs in {**exc.warnings, **exc.errors}.values() for m in msgs]
            fail(self, "; ".join(messages), as_json=json, errors=[{"message": m} for m in messages])
        except DomainError as exc:
            fail(self, str(exc), as_json=json)

    # -- helpers ------------------------------------------------------------------------------------
    def _set(self, ident: str) -> ChangeSet:
        if not str(ident).isdigit():
            raise CommandError(f"Ændringssættets nummer skal være et tal, ikke {ident!r}", returncode=2)
        cs = ChangeSet.objects.filter(pk=int(ident)).first()
        if cs is None:
            raise DomainError(f"Ændringssæt {ident} findes ikke.")
        return cs

    def _rows(self, path: str):
        file = Path(path)
        if not file.is_file():
            raise DomainError(f"Filen findes ikke: {path}")
        return engine.parse_changes_csv(file.read_bytes())

    def _status(self, cs, json, line):
        if json:
            self.stdout.write(dumps({"id": str(cs.pk), "status": cs.status, "risk": cs.risk,
                                     "changes": cs.changes.count()}))
        else:
            self.stdout.write(line)

    # -- verbs --------------------------------------------------------------------------------------
    @staticmethod
    def _day(effective):
        try:
            return dt.date.fromisoformat(effective) if effective else None
        except ValueError:
            raise CommandError(f"--effective skal være ÅÅÅÅ-MM-DD, ikke {effective!r}", returncode=2) from None

    def do_create(self, actor, *, json, name, reason, effective, changes, **_):
        day = self._day(effective)
        rows = self._rows(changes) if changes else []
        cs = engine.changeset_create(actor=actor, name=name, reason=reason, effective_date=day, rows=rows)
        self._status(cs, json, f"Ændringssæt {cs.pk} oprettet som kladde med {cs.changes.count()} ændringer "
                               f"(risiko {cs.get_risk_display()}).")

    def do_add(self, actor, *, json, id, changes, **_):
        cs = engine.changeset_add(actor=actor, changeset=self._set(id), rows=self._rows(changes))
        self._status(cs, json, f"Ændringssæt {cs.pk}: nu {cs.changes.count()} ændringer.")

    def do_show(self, actor, *, json, id, **_):
        data = engine.summary(self._set(id))
        if json:
            self.stdout.write(dumps(data))
            return
        self.stdout.write(f"Ændringssæt {data['id']}: {data['name']} [{data['status']}, risiko {data['risk']}, "
                          f"gældende fra {data['effective_date']}]")
        for change in data["changes"]:
            self.stdout.write(f"  {change['n']:>4}. {change['change']}: {change['description']}")
        for event in data["timeline"]:
            self.stdout.write(f"  {event['at']} {event['event']} {event['by'] or 'system'} {event['note']}".rstrip())

    def do_list(self, actor, *, json, status, **_):
        qs = ChangeSet.objects.select_related("author")
        if status:
            qs = qs.filter(status=status)
        rows = [{"id": str(cs.pk), "name": cs.name, "status": cs.status, "risk": cs.risk,
                 "effective_date": cs.effective_date.isoformat(), "author": cs.author.username if cs.author else None}
                for cs in qs]
        if json:
            self.stdout.write(dumps(rows))
            return
        for row in rows:
            self.stdout.write(f"{row['id']:>6}  {row['status']:<10} {row['risk']:<5} {row['effective_date']}  "
                              f"{row['name']} ({row['author'] or 'system'})")

    def do_preview(self, actor, *, json, id, **_):
        result = engine.preview(self._set(id))
        if json:
            extra = {"error": result["errors"][0]["message"]} if result["errors"] else {}
            self.stdout.write(dumps({**result, **extra}))
        elif result["errors"]:
            self.stdout.write(f"Ændringssæt {result['id']} kan ikke gennemføres som det er:")
            for error in result["errors"]:
                self.stdout.write(f"  FEJL: {error['message']}")
        else:
            self.stdout.write(f"Ændringssæt {result['id']}: {len(result['affected'])} enheder får andre værdier, "
                              f"{len(result['routing_changed'])} andet lokationsnummer eller andre meddelelsestyper, "
                              f"{result['file_records_changed']} poster i dagens fil ændres.")
            for unit in result["units"][:200]:
                fields = ", ".join(unit["changes"])
                self.stdout.write(f"  {unit['sor_id']} {unit['name']}: {fields}")
            for warning in result["warnings"]:
                self.stdout.write(f"  ADVARSEL: {warning['unit']}: {warning['message']}")
            for note in result["notes"]:
                self.stdout.write(f"  NB: {note}")
        if result["errors"]:
            raise CommandError(result["errors"][0]["message"], returncode=1)

    def _transition(self, service, actor, json, id, note=None):
        kwargs = {"note": note} if note is not None else {}
        cs = service(actor=actor, changeset=self._set(id), **kwargs)
        if cs.status == ChangeSetStatus.FAILED:  # applied at once, and that failed
            fail(self, cs.status_reason, as_json=json, id=str(cs.pk), status=cs.status)
        self._status(cs, json, f"Ændringssæt {cs.pk}: {cs.get_status_display()}.")

    def do_submit(self, actor, *, json, id, **_):
        self._transition(engine.changeset_submit, actor, json, id)

    def do_approve(self, actor, *, json, id, note, **_):
        self._transition(engine.changeset_approve, actor, json, id, note)

    def do_reject(self, actor, *, json, id, note, **_):
        self._transition(engine.changeset_reject, actor, json, id, note)

    def do_cancel(self, actor, *, json, id, note, **_):
        self._transition(engine.changeset_cancel, actor, json, id, note)

    def do_apply(self, actor, *, json, id, **_):
        self._transition(engine.changeset_apply, actor, json, id)

    def do_revert(self, actor, *, json, id, effective, reason, **_):
        original = self._set(id)
        inverse = engine.changeset_revert(actor=actor, changeset=original, effective_date=self._day(effective),
                                          reason=reason)
        original.refresh_from_db()
        skipped = engine.revert_conflicts(inverse)
        if json:
            self.stdout.write(dumps({"id": str(original.pk), "status": original.status, "inverse": str(inverse.pk),
                                     "conflicts": skipped}))
            return
        self.stdout.write(f"Ændringssæt {original.pk}: {original.get_status_display()}; det modsatte sæt er "
                          f"{inverse.pk} (kladde med {inverse.changes.count()} ændringer).")
        for item in skipped:
            self.stdout.write(f"  KONFLIKT: ændring {item['change']}: {item['message']}")
