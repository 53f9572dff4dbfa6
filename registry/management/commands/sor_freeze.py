"""`manage.py sor_freeze add|list|end …`: freeze windows (README "Freeze windows").

    add --from WHEN --to WHEN --reason TEXT [--allow-imports] [--allow-scheduled] --user LOGIN [--json]
    list [--all] [--json]
    end ID --user LOGIN [--json]

WHEN is YYYY-MM-DD (a whole day: --from at 00:00, --to to the end of that day) or
YYYY-MM-DDTHH:MM, in Copenhagen time. JSON: a window is {"id", "from", "to", "reason",
"allow_imports", "allow_scheduled", "active", "created_by", "ended_by"}; list prints a list of them.
Exit 0 done, 1 refused (`{"error": …}` with --json), 2 wrong usage."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from registry import freeze
from registry.errors import DomainError, ValidationFailed

from ._cli import add_user_argument, dumps, fail, resolve_user


def _when(text: str, *, end: bool) -> dt.datetime:
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            moment = dt.datetime.combine(day + dt.timedelta(days=1) if end else day, dt.time())
        else:
            moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"Tidspunktet skal være ÅÅÅÅ-MM-DD eller ÅÅÅÅ-MM-DDTTT:MM, ikke {text!r}",
                           returncode=2) from None
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


class Command(BaseCommand):
    help = "Frysevinduer: erklær, list og afslut tider, hvor kun SOR-administratorer kan rette i registeret."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        add = sub.add_parser("add", help="Erklær et frysevindue")
        add.add_argument("--from", dest="start", required=True)
        add.add_argument("--to", dest="end", required=True)
        add.add_argument("--reason", required=True)
        add.add_argument("--allow-imports", action="store_true", help="Importer kører alligevel")
        add.add_argument("--allow-scheduled", action="store_true", help="Planlagte ændringssæt gennemføres alligevel")
        listing = sub.add_parser("list", help="List aktuelle og kommende vinduer")
        listing.add_argument("--all", action="store_true", help="Også afsluttede")
        end = sub.add_parser("end", help="Afslut et vindue nu")
        end.add_argument("id")
        for p in (add, end):
            add_user_argument(p)
        for p in (add, listing, end):
            p.add_argument("--json", action="store_true")

    def handle(self, *args, verb, json=False, **options):
        try:
            if verb == "add":
                window = freeze.freeze_add(actor=resolve_user(options["user"]), reason=options["reason"],
                                           starts_at=_when(options["start"], end=False),
                                           ends_at=_when(options["end"], end=True),
                                           allow_imports=options["allow_imports"],
                                           allow_scheduled=options["allow_scheduled"])
                self._print(window, json, f"Frysevindue {window.pk} erklæret")
            elif verb == "end":
                if not options["id"].isdigit():
                    raise CommandError(f"Vinduets nummer skal være et tal, ikke {options['id']!r}", returncode=2)
                window = freeze.freeze_end(actor=resolve_user(options["user"]), window=int(options["id"]))
                self._print(window, json, f"Frysevindue {window.pk} afsluttet")
            else:
                rows = [freeze.as_json(w) for w in freeze.windows(include_past=options["all"])]
                if json:
                    self.stdout.write(dumps(rows))
                for row in rows if not json else []:
                    self.stdout.write(f"{row['id']:>4}  {row['from']} – {row['to']}  "
                                      f"{'AKTIVT ' if row['active'] else ''}{row['reason']}")
        except ValidationFailed as exc:
            fail(self, "; ".join(m for msgs in exc.errors.values() for m in msgs), as_json=json)
        except DomainError as exc:
            fail(self, str(exc), as_json=json)

    def _print(self, window, json, text):
        if json:
            self.stdout.write(dumps(freeze.as_json(window)))
        else:
            self.stdout.write(f"{text}: {freeze.span(window)} ({window.reason}).")
