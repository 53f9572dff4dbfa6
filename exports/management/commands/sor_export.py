"""`manage.py sor_export --format v2|v1|csv --date YYYY-MM-DD --output PATH`: write an export.

PATH is a directory (the format's files are written into it) or, for a one-file format, a file
name. The files are written to a temporary directory first and moved into place at the end."""

import datetime as dt
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from exports.formats import get_format, identifiers

log = logging.getLogger("exports.export")


def _advance(bar, done, total):
    if total and bar.total != total:
        bar.total = total
    bar.update(done - bar.n)


class Command(BaseCommand):
    help = "Dan et SOR-udtræk (v2 er standard) for en dato."

    def add_arguments(self, parser):
        parser.add_argument("--format", default="v2", help="v2 (standard), v1 eller csv")
        parser.add_argument("--date", default=None, help="Dato (ÅÅÅÅ-MM-DD); standard i dag")
        parser.add_argument("--output", required=True, help="Mappe eller filnavn")

    def handle(self, *args, format, date, output, **options):
        try:
            fmt = get_format(format)
        except KeyError as exc:
            raise CommandError(f"Ukendt format {format!r}; kendte: {', '.join(identifiers())}") from exc
        try:
            day = dt.date.fromisoformat(date) if date else timezone.localdate()
        except ValueError as exc:
            raise CommandError(f"--date skal være ÅÅÅÅ-MM-DD, ikke {date!r}") from exc
        from registry.models import Unit

        total = Unit.objects.count()
        started = time.perf_counter()
        out = Path(output)
        bar = tqdm(total=total, unit=" enheder", disable=not sys.stderr.isatty(), file=sys.stderr, smoothing=0.1)
        with tempfile.TemporaryDirectory(dir=out.parent if not out.is_dir() else out) as tmp:
            try:
                result = fmt.render(day, tmp, progress=lambda done, total, _label: _advance(bar, done, total))
            finally:
                bar.close()
            files = result["files"]
            written = []
            if out.is_dir():
                for name, path in files.items():
                    shutil.move(path, out / name)
                    written.append(out / name)
            elif len(files) == 1:
                shutil.move(next(iter(files.values())), out)
                written.append(out)
            else:
                out.mkdir(parents=True)
                for name, path in files.items():
                    shutil.move(path, out / name)
                    written.append(out / name)
        elapsed = time.perf_counter() - started
        size = sum(p.stat().st_size for p in written)
        summary = (f"Udtræk {format} for {day}: {', '.join(str(p) for p in written)} ({size:,} bytes), "
                   f"{total:,} enheder, {elapsed:.1f} s ({total / elapsed if elapsed else 0:,.0f} enheder/s); "
                   f"{result.get('counts', {})}")
        log.info("%s", summary)
        self.stdout.write(summary)
