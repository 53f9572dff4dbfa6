from django.core.management.base import BaseCommand, CommandError

from registry.generator import MIN_OWNERS, GenerationError, generate
from registry.models import Unit


class Command(BaseCommand):
    help = ("Generate a deterministic synthetic national register: --owners institution owners (about 6 units "
            "each; 25,000 owners = about 150,000 units) from --seed. Refuses a non-empty register unless --append.")

    def add_arguments(self, parser):
        parser.add_argument("--owners", type=int, default=500, help="number of institution owners (default 500)")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        parser.add_argument("--append", action="store_true",
                            help="add to a register that already holds units (SOR-IDs and GLNs stay unique)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")

    def handle(self, *args, owners, seed, append, no_progress, **options):
        if owners < MIN_OWNERS:
            raise CommandError(f"--owners skal være mindst {MIN_OWNERS} (5 regioner, kommuner, staten og private).")
        existing = Unit.objects.count()
        if existing and not append:
            raise CommandError(
                f"Registeret indeholder allerede {existing:,} enheder. sor_generate fylder kun et tomt register "
                "(så samme --seed giver samme register); brug --append for at tilføje alligevel."
            )
        try:
            summary = generate(owners=owners, seed=seed, progress=False if no_progress else None, out=self.stdout._out)
        except GenerationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"sor_generate --owners {owners} --seed {seed}: {summary.line()}")
