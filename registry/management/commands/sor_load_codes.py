from django.apps import apps
from django.core.management.base import BaseCommand

from registry.codelists import load_into


class Command(BaseCommand):
    help = "Load or refresh the code lists from registry/data/codes/ (existing codes keep their id)."

    def add_arguments(self, parser):
        parser.add_argument("--reason", default="Kodelister opdateret fra registry/data/codes")

    def handle(self, *args, reason, **options):
        counts = load_into(apps, reason=reason, origin="command")
        for name, written in counts.items():
            self.stdout.write(f"{name}: {written} written")
