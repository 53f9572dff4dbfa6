"""`manage.py sor_case list|show|assign|propose|reply|close …`: work correction requests (README
"Correction requests"). The same services as the admin (`registry.cases`).

    list [--status S] [--mine] [--unassigned] [--overdue] [--user LOGIN] [--json]
    show REF [--json]
    assign REF (--to LOGIN | --unassign) --user LOGIN [--json]
    propose REF --changes FILE.csv [--effective YYYY-MM-DD] [--draft] [--confirm-warnings] --user LOGIN [--json]
    reply REF --template received|done|more_info|rejected [--subject S] [--body-file F] --user LOGIN [--json]
    close REF [--note TEXT] --user LOGIN [--json]

REF is a case reference (SOR-2026-00042) or its number. JSON: a case is {"reference", "status",
"source", "subject", "sender", "assignee", "region", "received_at", "due_at", "units": [SOR-IDs],
"change_sets": [{"id", "status", "risk"}], "identifiers"}; show adds "messages" and "timeline";
propose prints {"case", "change_set", "status", "risk", "changes"} (with warnings it proposes
nothing and exits 1 with {"error", "warnings": [text]} unless --confirm-warnings); reply {"case", "message",
"status", "subject"}. Exit 0 done; 1 refused (`{"error": …}` with --json); 2 wrong usage."""

import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from registry.cases import services
from registry.cases.replies import TEMPLATES, case_reply
from registry.changesets import engine
from registry.errors import DomainError, ValidationFailed
from registry.models import CaseStatus

from ._cli import add_user_argument, dumps, fail, resolve_user

WRITING = ("assign", "propose", "reply", "close")


def case_json(case, *, full: bool = False) -> dict:
    out = {
        "reference": case.reference, "status": case.status, "source": case.source, "subject": case.subject,
        "sender": case.sender_email, "assignee": case.assignee.get_username() if case.assignee_id else None,
        "region": case.region.code if case.region_id else None, "received_at": case.received_at.isoformat(),
        "due_at": case.due_at.isoformat(), "units": [str(pk) for pk in case.units.values_list("pk", flat=True)],
        "change_sets": [{"id": str(cs.pk), "status": cs.status, "risk": cs.risk} for cs in case.change_sets.all()],
        "identifiers": case.identifiers,
    }
    if full:
        out["messages"] = [{"id": str(m.pk), "direction": m.direction, "from": m.sender, "to": m.recipients,
                            "subject": m.subject, "status": m.status or None, "attachments": [
                                {"filename": a.filename, "content_type": a.content_type, "size": a.size}
                                for a in m.attachments.all()]} for m in case.messages.all()]
        out["timeline"] = [{"event": e.code, "by": e.actor.get_username() if e.actor_id else None,
                            "at": e.at.isoformat(), "note": e.note} for e in case.events.all()]
    return out


class Command(BaseCommand):
    help = "Sager (henvendelser): list, vis, tildel, foreslå ændringer, svar, luk."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)

        def verb(name, text, *, with_ref=True, writing=True):
            p = sub.add_parser(name, help=text)
            if with_ref:
                p.add_argument("ref", help="Sagsnummer (SOR-2026-00042) eller nummer")
            p.add_argument("--json", action="store_true")
            if writing:
                add_user_argument(p)
            return p

        lst = verb("list", "List sager", with_ref=False, writing=False)
        lst.add_argument("--status", choices=CaseStatus.values)
        lst.add_argument("--mine", action="store_true")
        lst.add_argument("--unassigned", action="store_true")
        lst.add_argument("--overdue", action="store_true")
        add_user_argument(lst)
        verb("show", "Vis en sag", writing=False)
        assign = verb("assign", "Tildel en sag")
        group = assign.add_mutually_exclusive_group(required=True)
        group.add_argument("--to", metavar="LOGIN")
        group.add_argument("--unassign", action="store_true")
        propose = verb("propose", "Foreslå ændringer (et ændringssæt fra en ændringsfil)")
        propose.add_argument("--changes", required=True, metavar="FILE.csv")
        propose.add_argument("--effective", metavar="YYYY-MM-DD")
        propose.add_argument("--draft", action="store_true", help="Gem som kladde; indsend ikke")
        propose.add_argument("--confirm-warnings", action="store_true",
                             help="Foreslå trods advarsler (CVR som telefonnummer, kontrolciffer …)")
        reply = verb("reply", "Send et svar til afsenderen")
        reply.add_argument("--template", required=True, choices=list(TEMPLATES))
        reply.add_argument("--subject")
        reply.add_argument("--body-file", metavar="FILE")
        close = verb("close", "Luk en sag")
        close.add_argument("--note", default="")

    def handle(self, *args, verb, json=False, **options):
        actor = resolve_user(options.get("user")) if verb in WRITING or options.get("user") else None
        try:
            getattr(self, f"do_{verb}")(actor, json=json, **options)
        except engine.ChangeRowsInvalid as exc:
            fail(self, str(exc), as_json=json, errors=exc.errors)
        except services.ProposalWarnings as exc:
            warnings = exc.warnings["__all__"]
            fail(self, "Advarsler (intet foreslået; brug --confirm-warnings): " + "; ".join(warnings), as_json=json,
                 warnings=warnings)
        except ValidationFailed as exc:
            fail(self, "; ".join(m for msgs in {**exc.errors, **exc.warnings}.values() for m in msgs), as_json=json)
        except DomainError as exc:
            fail(self, str(exc), as_json=json)

    def _case(self, ref, actor=None):
        case = services.get_case(ref)
        if actor is not None:
            services.check_work(actor, case)  # names the role or the region that is missing
        if actor is not None and not services.visible_cases(actor).filter(pk=case.pk).exists():
            raise DomainError(f"Sagen {case.reference} findes ikke for {actor.get_username()}.")
        return case

    def do_list(self, actor, *, json, status=None, mine=False, unassigned=False, overdue=False, **_):
        if mine and actor is None:
            raise CommandError("--mine kræver --user LOGIN", returncode=2)
        qs = services.visible_cases(actor).select_related("assignee", "region")
        if status:
            qs = qs.filter(status=status)
        if mine:
            qs = qs.filter(assignee=actor)
        if unassigned:
            qs = qs.filter(assignee__isnull=True)
        if overdue:
            qs = qs.filter(due_at__lt=timezone.now()).exclude(status=CaseStatus.CLOSED)
        cases = list(qs[:1000])
        if json:
            self.stdout.write(dumps([case_json(c) for c in cases]))
            return
        for c in cases:
            who = c.assignee.get_username() if c.assignee_id else "-"
            self.stdout.write(f"{c.reference}  {c.get_status_display():<20} {who:<12} {c.subject[:60]}")

    def do_show(self, actor, *, json, ref, **_):
        case = self._case(ref)
        if json:
            self.stdout.write(dumps(case_json(case, full=True)))
            return
        self.stdout.write(f"{case.reference}: {case.subject} ({case.get_status_display()})")
        self.stdout.write(f"  fra {case.sender_name} <{case.sender_email}>, frist {case.due_at:%d-%m-%Y}")
        for unit in case.units.all():
            self.stdout.write(f"  enhed {unit.pk} {unit.name}")
        for e in case.events.all():
            self.stdout.write(f"  {timezone.localtime(e.at):%d-%m-%Y %H:%M} {services.EVENT_LABELS.get(e.code.rsplit('.', 1)[-1], e.code)}"
                              f"{': ' + e.note if e.note else ''}")

    def do_assign(self, actor, *, json, ref, to=None, unassign=False, **_):
        case = services.case_assign(actor=actor, case=self._case(ref, actor), assignee=None if unassign else to)
        self._done(case, json, f"tildelt {case.assignee.get_username()}" if case.assignee_id else "ikke tildelt")

    def do_propose(self, actor, *, json, ref, changes, effective=None, draft=False, confirm_warnings=False, **_):
        try:
            rows = engine.parse_changes_csv(Path(changes).read_bytes())
        except OSError as exc:
            raise DomainError(f"{changes}: kan ikke læses ({exc.strerror or exc})") from exc
        day = None
        if effective:
            try:
                day = dt.date.fromisoformat(effective)
            except ValueError:
                raise CommandError(f"--effective skal være ÅÅÅÅ-MM-DD, ikke {effective!r}", returncode=2) from None
        case = self._case(ref, actor)
        cs = services.case_propose(actor=actor, case=case, rows=rows, effective_date=day, submit=not draft,
                                    confirm=confirm_warnings)
        cs.refresh_from_db()
        if json:
            self.stdout.write(dumps({"case": case.reference, "change_set": str(cs.pk), "status": cs.status,
                                     "risk": cs.risk, "changes": cs.changes.count()}))
            return
        self.stdout.write(f"{case.reference}: ændringssæt {cs.pk} ({cs.get_status_display()}, risiko "
                          f"{cs.get_risk_display()}, {cs.changes.count()} ændringer).")

    def do_reply(self, actor, *, json, ref, template, subject=None, body_file=None, **_):
        body = Path(body_file).read_text(encoding="utf-8") if body_file else ""
        case = self._case(ref, actor)
        message = case_reply(actor=actor, case=case, template=template, subject=subject or "", body=body)
        if json:
            self.stdout.write(dumps({"case": case.reference, "message": str(message.pk), "status": message.status,
                                     "subject": message.subject}))
            return
        self.stdout.write(f"{case.reference}: svar i kø til {message.recipients}: {message.subject}")

    def do_close(self, actor, *, json, ref, note="", **_):
        case = services.case_close(actor=actor, case=self._case(ref, actor), note=note)
        self._done(case, json, "lukket")

    def _done(self, case, json, text):
        case.refresh_from_db()
        if json:
            self.stdout.write(dumps(case_json(case)))
        else:
            self.stdout.write(f"{case.reference}: {text} ({case.get_status_display()}).")
