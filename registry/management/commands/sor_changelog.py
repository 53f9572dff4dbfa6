"""`manage.py sor_changelog [--after N] [--limit K] [--unit SOR-ID] [--json]`: read the change log.

Prints the events with a sequence number above N, in sequence order. Page on with the last
`seq` printed: numbers become visible in commit order without gaps, so nothing is missed.
Text: one line an event, `seq  time  operation  kind  entity object (unit)  changed fields`.
With --json: one JSON object, `{"after", "last", "events": [...]}`; SOR-IDs are strings."""

import json as jsonlib

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from registry.selectors import change_feed, changelog_position


def event_json(event) -> dict:
    return {
        "seq": event.seq, "sequenced_at": event.sequenced_at.isoformat() if event.sequenced_at else None,
        "operation": event.operation_id, "entity": event.entity, "model": event.model, "object_id": event.object_id,
        "unit": str(event.unit_id) if event.unit_id is not None else None, "kind": event.kind,
        "changes": event.changes,
    }


class Command(BaseCommand):
    help = "Vis ændringsloggen efter et løbenummer (--after), i løbenummerorden."

    def add_arguments(self, parser):
        parser.add_argument("--after", type=int, default=0, help="Vis hændelser med løbenummer over dette (0).")
        parser.add_argument("--limit", type=int, default=100, help="Højst så mange hændelser (100, højst 10000).")
        parser.add_argument("--unit", type=int, help="Kun hændelser for denne enhed (SOR-ID).")
        parser.add_argument("--json", action="store_true", help="Skriv JSON.")

    def handle(self, *args, after, limit, unit, json: bool, **options):
        if after < 0 or not 1 <= limit <= 10000:
            message = "--after skal være 0 eller mere, og --limit mellem 1 og 10000."
            if json:
                self.stdout.write(_dumps({"error": message}))
            raise CommandError(message)
        events = change_feed(after=after, limit=limit, unit_id=unit)
        last = events[-1].seq if events else after
        if json:
            self.stdout.write(_dumps({"after": after, "last": last, "position": changelog_position(),
                                      "events": [event_json(e) for e in events]}))
            return
        for e in events:
            when = timezone.localtime(e.sequenced_at).strftime("%Y-%m-%d %H:%M:%S") if e.sequenced_at else "-"
            unit_part = f" ({e.unit_id})" if e.unit_id and e.entity != "unit" else ""
            self.stdout.write(f"{e.seq}\t{when}\t{e.operation_id}\t{e.kind}\t{e.entity} {e.object_id}{unit_part}\t"
                              f"{', '.join(sorted(e.changes))}")
        self.stderr.write(f"{len(events)} hændelser; sidste løbenummer {last}")


def _dumps(value) -> str:
    return jsonlib.dumps(value, ensure_ascii=False)
