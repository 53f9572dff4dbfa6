"""`manage.py sor_mail poll|ingest|retry|quarantine`: the SORpost mail intake (README "Correction requests").

    poll [--json]                     fetch new mail from the IMAP mailbox (settings SOR_IMAP_*)
    ingest FILE.eml… [--json]         ingest files as if they had arrived by mail
    retry ID [--json]                 read a quarantined mail again
    quarantine [--json]               list the quarantined mails
    seed-demo                         put the sample mails (naming units of this register) into an
                                      empty mailbox: `make run` does, so a newcomer finds work

ingest --json prints a list, one object per file in the order given: {"file", "action":
"created" | "reply" | "duplicate" | "quarantined", "case": reference or null, "new", "quarantined":
null or the reason, "units": [SOR-IDs as strings], "identifiers": [{"kind", "value", "valid"}]}.
A quarantined mail is a handled outcome (exit 0); exit 1 only when a file cannot be read at all
(or, for poll, the mailbox cannot be reached)."""

from pathlib import Path

from django.core.management.base import BaseCommand

from registry.cases.intake.imap import MailboxError, poll
from registry.cases.intake.ingest import ingest, retry
from registry.models import IntakeStatus, MailIntake

from ._cli import dumps, fail


class Command(BaseCommand):
    help = "SORpost: hent post (IMAP), indlæs .eml-filer, prøv karantæne igen."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        p = sub.add_parser("poll", help="Hent nye mails fra postkassen")
        p.add_argument("--json", action="store_true")
        i = sub.add_parser("ingest", help="Indlæs .eml-filer")
        i.add_argument("files", nargs="+", metavar="FILE.eml")
        i.add_argument("--json", action="store_true")
        r = sub.add_parser("retry", help="Læs en mail i karantæne igen")
        r.add_argument("id")
        r.add_argument("--json", action="store_true")
        q = sub.add_parser("quarantine", help="List mails i karantæne")
        q.add_argument("--json", action="store_true")
        sub.add_parser("seed-demo", help="Læg eksempelmails i en tom postkasse (make run)")

    def handle(self, *args, verb, json=False, **options):
        getattr(self, f"do_{verb.replace('-', '_')}")(json=json, **options)

    def do_seed_demo(self, **_):
        from registry.cases.intake.imap import append, folder_count
        from registry.cases.samples import sample_mails
        from registry.models import Case, LocationNumber, Unit

        try:
            if Case.objects.exists() or folder_count("INBOX") or folder_count("Behandlet"):
                self.stdout.write("SORpost: postkassen har allerede post; intet lagt i.")
                return
        except MailboxError as exc:
            fail(self, str(exc), as_json=False)
        units = []
        with_gln = LocationNumber.objects.filter(to_date__isnull=True).select_related("unit").first()
        picks = ([with_gln.unit] if with_gln else []) + list(
            Unit.objects.filter(level="OE", to_date__isnull=True).exclude(provider_number="").order_by("sor_id")[:3])
        for unit in picks[:3]:
            units.append({"sor_id": str(unit.pk), "name": unit.name, "provider_number": unit.provider_number,
                          "gln": with_gln.gln if with_gln and unit.pk == with_gln.unit_id else "",
                          "phone": unit.phone, "email": unit.email})
        if len(units) < 3:
            fail(self, "Registeret har for få enheder til eksempelmails (kør manage.py sor_demo først).", as_json=False)
        mails = sample_mails(units)
        for _name, raw in mails:
            append(raw)
        self.stdout.write(f"SORpost: {len(mails)} eksempelmails lagt i postkassen.")

    def do_poll(self, *, json, **_):
        try:
            counts = poll()
        except MailboxError as exc:
            fail(self, str(exc), as_json=json)
        if json:
            self.stdout.write(dumps(counts))
            return
        self.stdout.write(f"Hentet {counts['fetched']}: {counts['created']} nye sager, {counts['reply']} svar, "
                          f"{counts['duplicate']} dubletter, {counts['quarantined']} i karantæne.")

    def do_ingest(self, *, json, files, **_):
        results = []
        for name in files:
            try:
                raw = Path(name).read_bytes()
            except OSError as exc:
                fail(self, f"{name}: kan ikke læses ({exc.strerror or exc})", as_json=json, done=results)
            outcome = ingest(raw, origin=f"file:{Path(name).name}")
            results.append(outcome.as_json(name))
            if not json:
                self.stdout.write(self._line(name, outcome.as_json()))
        if json:
            self.stdout.write(dumps(results))

    def do_retry(self, *, json, id, **_):
        if not str(id).isdigit() or not MailIntake.objects.filter(pk=int(id)).exists():
            fail(self, f"Ingen modtaget mail med nummer {id}", as_json=json)
        outcome = retry(int(id))
        if json:
            self.stdout.write(dumps(outcome.as_json()))
        else:
            self.stdout.write(self._line(f"mail {id}", outcome.as_json()))

    def do_quarantine(self, *, json, **_):
        rows = [{"id": str(m.pk), "received_at": m.received_at.isoformat(), "sender": m.sender, "subject": m.subject,
                 "reason": m.reason, "origin": m.origin}
                for m in MailIntake.objects.filter(status=IntakeStatus.QUARANTINED).order_by("-received_at")[:500]]
        if json:
            self.stdout.write(dumps(rows))
            return
        for row in rows:
            self.stdout.write(f"{row['id']:>6}  {row['received_at'][:16]}  {row['sender'][:40]}  {row['reason']}")

    @staticmethod
    def _line(name, out) -> str:
        if out["action"] == "quarantined":
            return f"{name}: karantæne ({out['quarantined']})"
        units = ", ".join(out["units"]) or "ingen enheder genkendt"
        word = {"created": "ny sag", "reply": "svar på", "duplicate": "allerede modtaget:"}[out["action"]]
        return f"{name}: {word} {out['case'] or ''} ({units})"
