"""`manage.py sor_import PATH [--dry-run] --reason TEXT`: import an SDS SOR XML file (v1/v2, .xml or .zip)."""

import logging
import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from exports.xml.importer import import_sor_file

log = logging.getLogger("exports.import")


class Command(BaseCommand):
    help = "Importér en SOR XML-fil fra SDS (v1.0.0 eller v2.0.0; .xml eller .zip med Sor.xml)."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--dry-run", action="store_true", help="Vis optællingen; skriv intet.")
        parser.add_argument("--reason", required=True, help="Begrundelse (skrives i historikken).")

    def handle(self, *args, path, dry_run, reason, **options):
        bar = tqdm(unit=" enheder", disable=not sys.stderr.isatty(), file=sys.stderr, smoothing=0.1)
        try:
            result = import_sor_file(path, actor=None, reason=reason, dry_run=dry_run, progress=bar.update)
        except FileNotFoundError as exc:
            raise CommandError(f"Filen findes ikke: {path}") from exc
        finally:
            bar.close()
        for err in result.errors[:50]:
            self.stderr.write(str(err))
        if result.unknown_codes:
            for listname, codes in result.unknown_codes.items():
                self.stdout.write(f"Ukendte koder i {listname} (oprettet som 'importeret uden navn'): {', '.join(codes)}")
        self.stdout.write(result.summary())
        if result.errors:
            raise CommandError(f"{len(result.errors)} fejl; intet er gemt.")
