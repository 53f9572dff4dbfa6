"""`manage.py sor_selfservice lookup|request|confirm …`: the self-service pages' twin (README
"Self-service and the half-yearly follow-up"), calling the same services.

    lookup IDENTIFIER --cvr CVR [--json]
    request SOR_ID --cvr CVR --set FIELD=VALUE … --requester NAME [--phone P] [--email E]
            [--message TEXT] (--address N | --address-wrong) [--json]
    confirm TOKEN [--json]

FIELD is one of name, phone, email, website, street, post_code, district_name, cvr,
provider_number, location_number, responsible_name, responsible_email, responsible_phone.
`request` sends the one-time link to registered address N (0 = the first `lookup` lists), or
with --address-wrong makes the case "identitet ikke bekræftet". The link's token is never
printed: it is only in the mail. JSON: lookup a list of {"sor_id", "name", "level", "addresses":
[{"n", "label", "shown"}]} (the SOR-responsible person's address masked); request {"sent_to", "link", "expires_at"} or {"case", "identity"};
confirm {"case", "change_sets": [ids]}. Exit 0 done; 1 refused (`{"error": …}` with --json);
2 wrong usage."""

from django.core.management.base import BaseCommand, CommandError

from registry.selfservice import services

from ._cli import dumps, run_verb

FIELDS = (*services.PROPOSABLE, *services.RESPONSIBLE_FIELDS)


class Command(BaseCommand):
    help = "Selvbetjening fra kommandolinjen: find en enhed, send en anmodning, følg et engangslink."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        lookup = sub.add_parser("lookup", help="Find enheden med SOR-ID, ydernummer eller lokationsnummer og CVR")
        lookup.add_argument("identifier")
        lookup.add_argument("--cvr", required=True)
        lookup.add_argument("--json", action="store_true")
        req = sub.add_parser("request", help="Send en anmodning om rettelse")
        req.add_argument("sor_id")
        req.add_argument("--cvr", required=True)
        req.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
        req.add_argument("--requester", required=True, metavar="NAME")
        req.add_argument("--phone", default="")
        req.add_argument("--email", default="")
        req.add_argument("--message", default="")
        where = req.add_mutually_exclusive_group(required=True)
        where.add_argument("--address", type=int, metavar="N")
        where.add_argument("--address-wrong", action="store_true")
        req.add_argument("--json", action="store_true")
        confirm = sub.add_parser("confirm", help="Følg et engangslink (tokenet fra mailen)")
        confirm.add_argument("token")
        confirm.add_argument("--json", action="store_true")

    def handle(self, *args, verb, json=False, **options):
        run_verb(self, verb, json, options)

    def do_lookup(self, *, json, identifier, cvr, **_):
        units = services.lookup(identifier, cvr)
        out = [{"sor_id": str(u.pk), "name": u.name, "level": u.level,
                "addresses": [{"n": n, "label": label, "shown": services.shown(label, email)}
                              for n, (label, email) in enumerate(services.link_addresses(u))]} for u in units]
        if json:
            self.stdout.write(dumps(out))
            return
        for unit in out:
            self.stdout.write(f"{unit['sor_id']}  {unit['level']}  {unit['name']}")
            for a in unit["addresses"]:
                self.stdout.write(f"    --address {a['n']}: {a['shown']} ({a['label']})")

    def do_request(self, *, json, sor_id, cvr, requester, phone="", email="", message="", address=None,
                   address_wrong=False, **options):
        new = {}
        for item in options.get("set") or []:
            name, sep, value = item.partition("=")
            if not sep or name not in FIELDS:
                raise CommandError(f"--set {item!r}: brug FELT=VÆRDI med FELT blandt {', '.join(FIELDS)}", returncode=2)
            new[name] = value
        unit = services.find_for(sor_id, cvr)
        result = services.request_submit(services.Request(unit=unit, new=new, message=message, requester_name=requester,
                                                          requester_phone=phone, requester_email=email),
                                         address=address, address_wrong=address_wrong)
        if result.link is not None:
            out = {"sent_to": result.sent_to, "link": str(result.link.pk), "expires_at": result.link.expires_at.isoformat()}
            text = f"Engangslink sendt til {result.sent_to} (udløber {result.link.expires_at:%d-%m-%Y %H:%M})."
        else:
            out = {"case": result.case.reference, "identity": result.case.identity}
            text = f"Sag {result.case.reference} oprettet ({result.case.get_identity_display()})."
        self.stdout.write(dumps(out) if json else text)

    def do_confirm(self, *, json, token, **_):
        case = services.request_confirm(token)
        ids = [str(pk) for pk in case.change_sets.values_list("pk", flat=True)]
        self.stdout.write(dumps({"case": case.reference, "change_sets": ids}) if json
                          else f"Sag {case.reference} oprettet med ændringssæt {', '.join(ids) or '–'}.")
