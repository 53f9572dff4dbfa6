from django.core.management.base import BaseCommand, CommandError

from registry.generator import MIN_OWNERS, GenerationError, generate
from registry.models import Unit
from registry.personas import PERSONAS, ensure_personas

DEMO_SEED = 1


class Command(BaseCommand):
    help = ("Prepare the demo: generate a synthetic register of --owners owners (seed 1) when the register has no "
            "units, make sure the demo personas exist, and print their logins.")

    def add_arguments(self, parser):
        parser.add_argument("--owners", type=int, default=500, help="owners to generate into an empty register")

    def handle(self, *args, owners, **options):
        if owners < MIN_OWNERS:
            raise CommandError(f"--owners skal være mindst {MIN_OWNERS}.")
        existing = Unit.objects.count()
        if existing:
            self.stdout.write(f"[sor] demo register present: {existing:,} units (nothing generated)")
        else:
            try:
                summary = generate(owners=owners, seed=DEMO_SEED, out=self.stdout._out)
            except GenerationError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"[sor] demo register generated: {summary.line()}")
        ensure_personas()
        self.stdout.write("[sor] demo logins (password = user name):")
        for username, (_role, _region, doc) in PERSONAS.items():
            self.stdout.write(f"        {username:<14} {doc}")
