"""`manage.py sor_import PATH --reason TEXT [--dry-run] [--user LOGIN] [--json]`: import an SDS SOR
XML file (v1/v2, .xml or .zip holding Sor.xml) through the import service.

The same service as the admin's upload: the user's permission (without --user: the system, origin
`command`), one import at a time (a second is refused, naming the running one), an ImportJob row.
Text output: the summary line, then (with --dry-run) the per-unit preview counts and the red
warnings; errors with their line numbers on stderr. With --json: one object
`{"job", "status", "dry_run", "summary", "counts", "operation", "errors": [{"line", "message"}],
"warnings": [...], "created": [...], "changed": [...], "closed": [...], "location_numbers": [...]}`
(each list at most 5,000 entries; SOR-IDs as strings). Exit 0 imported (or a clean dry run, or
status "waiting": a real import inside a freeze window, run by the first nightly run after it), 1
refused or errors (nothing written), 2 wrong usage."""

import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from registry.errors import NotAllowed
from registry.models import ImportJob
from registry.services.imports import import_sor_xml

from ._cli import add_user_argument, dumps, fail, resolve_user

# Imported, or accepted and waiting for the end of a freeze window (it runs in the first nightly
# run after it): exit 0.
DONE = (ImportJob.Status.SUCCEEDED, ImportJob.Status.WAITING)
PREVIEW_KEYS = ("warnings", "created", "changed", "closed", "location_numbers")


class Command(BaseCommand):
    help = "Importér en SOR XML-fil fra SDS (v1.0.0 eller v2.0.0; .xml eller .zip med Sor.xml)."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--dry-run", action="store_true", help="Vis hvad der ville ske, enhed for enhed; skriv intet.")
        parser.add_argument("--reason", required=True, help="Begrundelse (skrives i historikken).")
        add_user_argument(parser)
        parser.add_argument("--json", action="store_true", help="Skriv resultatet som JSON.")

    def handle(self, *args, path, dry_run, reason, user, json, **options):
        actor = resolve_user(user)
        bar = tqdm(unit="B", unit_scale=True, disable=json or not sys.stderr.isatty(), file=sys.stderr)

        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)

        try:
            job = import_sor_xml(path, actor=actor, reason=reason, dry_run=dry_run, progress=progress)
        except FileNotFoundError:
            fail(self, f"Filen findes ikke: {path}", as_json=json)
        except NotAllowed as exc:
            fail(self, str(exc), as_json=json)
        finally:
            bar.close()
        preview = job.preview or {}
        if json:
            payload = {"job": job.pk, "status": job.status, "dry_run": job.dry_run, "summary": job.summary,
                       "counts": job.counts, "operation": job.operation_id, "errors": job.errors,
                       **{key: preview.get(key, []) for key in PREVIEW_KEYS}}
            if job.status not in DONE:
                payload["error"] = job.summary
            self.stdout.write(dumps(payload))
        else:
            for err in job.errors[:50]:
                self.stderr.write(f"linje {err['line']}: {err['message']}" if err.get("line") else err["message"])
            for listname, codes in (preview.get("unknown_codes") or {}).items():
                self.stdout.write(f"Ukendte koder i {listname} (oprettes som 'importeret uden navn'): {', '.join(codes)}")
            for warning in preview.get("warnings", []):
                self.stdout.write(f"ADVARSEL linje {warning['line']}: {warning['message']}")
            self.stdout.write(job.summary)
        if job.status not in DONE:
            # With --json the object above (with its "error") is the output; the reason goes to stderr.
            raise CommandError(job.summary if job.status == ImportJob.Status.REFUSED else
                               f"{job.counts.get('errors', len(job.errors))} fejl; intet er gemt.", returncode=1)
