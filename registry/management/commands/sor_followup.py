"""`manage.py sor_followup responsible|send|overdue …`: the SOR-responsible person and the
half-yearly follow-up (README "Self-service and the half-yearly follow-up"). The same services
as the admin and the nightly task (`registry.selfservice`).

    responsible OWNER --email E [--name N] [--phone P] --user LOGIN [--json]
    send [--date YYYY-MM-DD] [--json]
    overdue [--region CODE] [--owner-type CODE] [--json]

JSON: responsible prints {"owner", "name", "email", "phone", "named_at", "last_confirmed_at",
"last_confirmed_case"}; send {"first", "second", "owners": [SOR-IDs]}; overdue a list of {"owner",
"name", "region", "owner_type", "responsible", "email", "due_on", "reminders"}. Exit 0 done;
1 refused (`{"error": …}` with --json); 2 wrong usage."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from registry.selfservice import followup, services

from ._cli import add_user_argument, dumps, resolve_user, run_verb


def responsible_json(r) -> dict:
    return {"owner": str(r.owner_id), "name": r.name, "email": r.email, "phone": r.phone,
            "named_at": r.named_at.isoformat(), "last_confirmed_at": r.last_confirmed_at.isoformat()
            if r.last_confirmed_at else None,
            "last_confirmed_case": r.last_confirmed_case.reference if r.last_confirmed_case_id else None}


class Command(BaseCommand):
    help = "SOR-ansvarlige og den halvårlige opfølgning: udpeg, send påmindelser, vis forfaldne."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        resp = sub.add_parser("responsible", help="Udpeg eller ret en ejers SOR-ansvarlige")
        resp.add_argument("owner", help="Institutionsejerens SOR-ID")
        resp.add_argument("--email")
        resp.add_argument("--name")
        resp.add_argument("--phone", help="Tom værdi ('') fjerner telefonnummeret")
        resp.add_argument("--json", action="store_true")
        add_user_argument(resp)
        send = sub.add_parser("send", help="Send de påmindelser, der er forfaldne (som den daglige opgave)")
        send.add_argument("--date", metavar="YYYY-MM-DD", help="Dagen, der regnes fra (standard: i dag)")
        send.add_argument("--json", action="store_true")
        over = sub.add_parser("overdue", help="Ejere, hvis halvårlige bekræftelse er forfalden")
        over.add_argument("--region", default="", help="Regionskode, fx 1081")
        over.add_argument("--owner-type", default="", help="Ejertypekode")
        over.add_argument("--json", action="store_true")

    def handle(self, *args, verb, json=False, **options):
        run_verb(self, verb, json, options)

    def do_responsible(self, *, json, owner, email=None, name=None, phone=None, user=None, **_):
        actor = resolve_user(user)
        r = services.responsible_set(actor=actor, owner=owner, name=name, email=email, phone=phone, origin="command")
        if json:
            self.stdout.write(dumps(responsible_json(r)))
        else:
            self.stdout.write(f"{r.owner_id}: SOR-ansvarlig {r.name} <{r.email}> {r.phone}".rstrip())

    def do_send(self, *, json, date=None, **_):
        day = None
        if date:
            try:
                day = dt.date.fromisoformat(date)
            except ValueError:
                raise CommandError(f"--date skal være ÅÅÅÅ-MM-DD, ikke {date!r}", returncode=2) from None
        sent = followup.send_due(today=day)
        if json:
            self.stdout.write(dumps(sent))
        else:
            self.stdout.write(f"{sent['first']} første og {sent['second']} anden påmindelser sendt.")

    def do_overdue(self, *, json, region="", owner_type="", **_):
        rows = followup.overdue(region=region, owner_type=owner_type)
        if json:
            self.stdout.write(dumps([{
                "owner": str(r.owner_id), "name": r.owner.name, "region": r.owner.region.code if r.owner.region_id else None,
                "owner_type": r.owner.owner_type.code if r.owner.owner_type_id else None, "responsible": r.name,
                "email": r.email, "due_on": due.isoformat(), "reminders": sent} for r, due, sent in rows]))
            return
        for r, due, sent in rows:
            self.stdout.write(f"{r.owner_id}  {due:%d-%m-%Y}  {sent} påmindelse(r)  {r.owner.name[:40]:<40} {r.email}")
