"""Spreadsheet export/import of units (django-import-export), mixed into UnitAdmin.

Export: the current changelist (its filters and search, through the library's
`get_export_queryset`, which builds the admin's ChangeList) as CSV or XLSX.

Import of corrections: upload → preview → confirm, as background jobs (`registry.ImportJob`,
the same service as the XML import: `registry.services.imports`). The upload form reads the file
at once (format, headers, size: a bad file is told so on the spot), stores it and queues a dry
run; the job page (`sor_import:job`, rendered with this module's template) shows a progress bar,
then the preview. The dry run is the library's: every row goes through `unit_update` inside a
transaction that is rolled back, so what the preview accepts is what the services accept (roles,
regions, field rules) and nothing is written. Confirming queues the real import of the same file
(sha256 checked; refused when a unit in it changed since the preview), which writes all rows in
one transaction and one operation, or none.
"""

from __future__ import annotations

import os

from django import forms
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseRedirect
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportMixin
from import_export.forms import ImportForm, SelectableFieldsExportForm
from import_export.tmp_storages import TempFolderStorage

from registry.errors import DomainError
from registry.sheets import (
    SHEET_FORMATS,
    SheetCSV,
    SheetError,
    SheetXLSX,
    UnitResource,
    file_sha256,
)

PREVIEW_ROWS = 2000
MAX_FILE_BYTES = 200 * 1024 * 1024
# The whole register is some 180,000 units. Rows run in the background (about 1–2 ms each in the
# preview and again on confirm); the bound keeps the dataset and the preview within memory.
MAX_IMPORT_ROWS = 250_000


def _format_index(cls) -> str:
    return str(SHEET_FORMATS.index(cls))


class UnitExportForm(SelectableFieldsExportForm):
    """The library's export form with the spreadsheet's own column headers as labels."""

    def __init__(self, formats, resources, **kwargs):
        super().__init__(formats, resources, **kwargs)
        self.fields["format"].label = _("Filformat")
        self.fields["format"].help_text = _("XLSX åbnes direkte i Excel med alle cifre bevaret; "
                                            "CSV er semikolonsepareret UTF-8.")
        if "format" not in self.data:
            self.initial.setdefault("format", _format_index(SheetXLSX))

    def _get_field_label(self, resource, field_name):
        return resource.fields[field_name].column_name

    def _validate_any_field_selected(self, resource):
        if not any(v for k, v in self.cleaned_data.items() if k in resource().get_export_order()):
            raise forms.ValidationError(_("Vælg mindst én kolonne."))


class UnitImportForm(ImportForm):
    """Upload step: the file (CSV or XLSX, its format guessed when not chosen), the reason, and
    whether warnings may be overridden. The file is read here so a bad file gets a clear message
    before anything else happens; its sha256 goes into the history reason."""

    reason = forms.CharField(
        label=_("Begrundelse"), max_length=500, widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
        help_text=_("Hvorfor rettes enhederne? Gemmes i historikken for hver rettet enhed sammen med "
                    "dit navn, filens navn og dens sha256."),
        error_messages={"required": _("Skriv en begrundelse for rettelserne.")},
    )
    override_warnings = forms.BooleanField(
        label=_("Gem trods advarsler"), required=False,
        help_text=_("Rækker med advarsler (fx et CVR-nummer, der ikke opfylder modulus 11) afvises, "
                    "medmindre der er sat kryds her."),
    )
    field_order = ["resource", "import_file", "format", "reason", "override_warnings"]

    def __init__(self, formats, resources, **kwargs):
        super().__init__(formats, resources, **kwargs)
        self.fields["import_file"].label = _("Regneark (CSV eller XLSX)")
        self.fields["import_file"].error_messages["required"] = _("Vælg en fil.")
        self.fields["import_file"].error_messages["empty"] = _("Filen er tom.")
        self.fields["format"].label = _("Filformat")
        self.fields["format"].required = False
        self.fields["format"].help_text = _("Udfyldes ud fra filen, hvis intet er valgt.")
        self.fields["format"].choices = [("", _("(ud fra filen)"))] + [
            c for c in self.fields["format"].choices if c[0] != ""]
        self.sheet_sha256 = ""
        self.sheet_dataset = None

    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(_("Filen er for stor (højst %(mb)d MB).") % {"mb": MAX_FILE_BYTES // 2**20})
        ext = os.path.splitext(upload.name)[1].lower()
        if ext not in (".csv", ".xlsx"):
            raise forms.ValidationError(
                _("%(name)s er hverken en CSV- eller en XLSX-fil. Gem regnearket som .xlsx eller .csv og prøv igen.")
                % {"name": upload.name})
        data = b"".join(upload.chunks())
        if not data.strip():
            raise forms.ValidationError(_("Filen er tom."))
        upload.seek(0)
        self._bytes = data
        self.sheet_sha256 = file_sha256(data)
        return upload

    def clean(self):
        cleaned = super().clean()
        data = getattr(self, "_bytes", None)
        if data is None:
            return cleaned
        is_zip = data.startswith(b"PK\x03\x04")
        chosen = cleaned.get("format") or ""
        guessed = _format_index(SheetXLSX) if is_zip else _format_index(SheetCSV)
        if chosen and chosen != guessed:
            expected = gettext("XLSX") if chosen == _format_index(SheetXLSX) else gettext("CSV")
            self.add_error("format", _("Filen er ikke en %(format)s-fil; vælg det rigtige format eller lad feltet "
                                       "stå tomt.") % {"format": expected})
            return cleaned
        cleaned["format"] = guessed
        fmt = SheetXLSX() if is_zip else SheetCSV()
        try:
            dataset = fmt.create_dataset(data)
        except SheetError as exc:
            self.add_error("import_file", str(exc))
            return cleaned
        except Exception as exc:  # csv.Error, a damaged file …
            self.add_error("import_file", _("Filen kan ikke læses (%(error)s). Gem den som XLSX eller CSV og prøv "
                                            "igen.") % {"error": exc})
            return cleaned
        if len(dataset) > MAX_IMPORT_ROWS:
            self.add_error("import_file", _(
                "Filen har %(n)s rækker; der kan højst indlæses %(max)s ad gangen. Filtrér listen før eksporten, "
                "eller del filen op.") % {"n": f"{len(dataset):,}".replace(",", "."),
                                         "max": f"{MAX_IMPORT_ROWS:,}".replace(",", ".")})
        problems = UnitResource.header_problems(list(dataset.headers or []))
        for problem in problems:
            self.add_error("import_file", problem)
        self.sheet_dataset = dataset
        return cleaned

    def sheet_options(self) -> dict:
        return {"reason": self.cleaned_data.get("reason", ""), "sha256": self.sheet_sha256,
                "override_warnings": bool(self.cleaned_data.get("override_warnings"))}


class UnitSpreadsheetAdminMixin(ImportExportMixin):
    """Export of the filtered changelist and import of corrections, for UnitAdmin (first base)."""

    resource_classes = [UnitResource]
    import_export_change_list_template = "admin/registry/unit/spreadsheet_change_list.html"
    import_template_name = "admin/registry/unit/spreadsheet_import.html"
    export_template_name = "admin/registry/unit/spreadsheet_export.html"
    import_form_class = UnitImportForm
    export_form_class = UnitExportForm
    tmp_storage_class = TempFolderStorage
    skip_admin_log = True  # the history rows (with batch id) are the log
    import_error_display = ("message",)

    # -- setup

    def init_change_list_template(self):
        super().init_change_list_template()
        if self.ie_base_change_list_template == "admin/change_list.html":
            # Keep Django's per-model template lookup, which setting change_list_template disables.
            opts = self.model._meta
            for name in (f"admin/{opts.app_label}/{opts.model_name}/change_list.html",
                         f"admin/{opts.app_label}/change_list.html"):
                try:
                    get_template(name)
                except TemplateDoesNotExist:
                    continue
                self.ie_base_change_list_template = name
                break

    def get_import_formats(self):
        return list(SHEET_FORMATS)

    def get_export_formats(self):
        return list(SHEET_FORMATS)

    def has_import_permission(self, request):
        return self.has_change_permission(request)

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    def get_export_resource_kwargs(self, request, **kwargs):
        return {}

    def get_import_resource_kwargs(self, request, **kwargs):
        form = kwargs.get("form")
        if form is None or not getattr(form, "is_bound", False) or not hasattr(form, "sheet_options"):
            return {}
        return form.sheet_options()

    def get_export_filename(self, request, queryset, file_format):
        return f"sor-enheder-{timezone.localdate():%Y-%m-%d}.{file_format.get_extension()}"

    # -- export

    def init_request_context_data(self, request, form):
        context = super().init_request_context_data(request, form)
        context["title"] = gettext("Eksportér enheder som regneark")
        context["export_count"] = self.get_export_queryset(request).count()
        context["sheet_can_import"] = self.has_import_permission(request)  # a guest is not told to import
        context["export_filtered"] = any(k not in ("o", "p") for k in request.GET)
        context["changelist_url"] = self._changelist_url() + (f"?{request.GET.urlencode()}" if request.GET else "")
        return context

    # -- import: upload → background dry run → confirm (views in exports.views_import)

    def import_action(self, request, **kwargs):
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = self.create_import_form(request)
        if request.method == "POST" and form.is_valid():
            from registry.models import ImportJob
            from registry.services import imports
            from registry.tasks import run_import

            upload = form.cleaned_data["import_file"]
            name = os.path.basename(upload.name)
            path = imports.store_upload([form._bytes], name)
            try:
                job = imports.create_job(
                    actor=request.user, path=path, file_name=name, dry_run=True, reason=form.cleaned_data["reason"],
                    kind=ImportJob.Kind.SPREADSHEET,
                    options={"format": form.cleaned_data["format"], "reason": form.cleaned_data["reason"],
                             "override_warnings": bool(form.cleaned_data.get("override_warnings"))})
            except DomainError as exc:
                path.unlink(missing_ok=True)
                raise PermissionDenied(str(exc)) from None
            transaction.on_commit(lambda: run_import.apply_async(args=[job.pk]))
            return HttpResponseRedirect(reverse("sor_import:job", args=[job.pk]))
        return self._import_page(request, form=form)

    def process_import(self, request, **kwargs):
        # The library's own confirm step is not used: confirming is a job of its own.
        return HttpResponseRedirect(reverse(f"{self.admin_site.name}:registry_unit_import"))

    def _column_help(self, request):
        """The columns the user's role may correct, those it may not, and those that only inform."""
        from registry.permissions import CONTACT_FIELDS

        resource = UnitResource()
        user = request.user
        everything = user.is_superuser or user.has_perm("registry.edit_register_data")
        editable, not_for_role = [], []
        for field in resource.editable_fields():
            (editable if everything or field.name in CONTACT_FIELDS else not_for_role).append(field.column_name)
        informative = [resource.fields[n].column_name for n in resource._meta.fields if resource.fields[n].readonly]
        return {"editable": editable, "not_for_role": not_for_role, "informative": informative}

    def job_page(self, request, job):
        """The page of a spreadsheet import job: progress, then the preview and the confirm button,
        or the refused rows; after a real import its result."""
        from registry.models import ImportJob
        from registry.services import imports

        _done, _total, percent = imports.job_progress(job)
        totals = job.counts or {}
        preview = job.preview or {}
        succeeded = job.status == ImportJob.Status.SUCCEEDED
        confirmation = job.confirmations.order_by("-pk").first() if job.dry_run else None
        extra = {
            "sheet_job": job,
            "sheet_percent": percent,
            "sheet_file": {"name": job.file_name, "sha256": job.sha256, "reason": job.reason} if not job.is_open else None,
            "sheet_totals": {"rows": totals.get("rows", 0), "update": totals.get("changed", 0),
                             "skip": totals.get("unchanged", 0), "refused": totals.get("refused", 0)},
            "sheet_problems": [{**p, "sor_id": p.get("sor_id", "")} for p in job.errors],
            "sheet_only_warnings": bool(totals.get("only_warnings")) and job.requested_by_id == request.user.pk,
            "sheet_overridden": bool((job.options or {}).get("override_warnings")),
            "sheet_changes": [{**c, "changes": [tuple(x) for x in c["changes"]]} for c in preview.get("changed", [])
                              ][:PREVIEW_ROWS],
            "sheet_changes_cut": preview.get("changed_cut", 0) + max(0, len(preview.get("changed", [])) - PREVIEW_ROWS),
            "sheet_can_confirm": (job.dry_run and succeeded and not job.errors and confirmation is None
                                  and totals.get("changed", 0) > 0 and job.requested_by_id == request.user.pk),
            "sheet_done": job.summary if succeeded and not job.dry_run else "",
            # Rows refused only for warnings get the warning box instead (see the template).
            # The refused rows' own box says it when there are rows to show.
            "sheet_failure": job.summary if job.status in (ImportJob.Status.FAILED, ImportJob.Status.REFUSED)
            and not totals.get("only_warnings") and not job.errors else "",
            "sheet_confirmation": confirmation,
        }
        return self._import_page(request, **extra)

    def _import_page(self, request, *, form=None, failure="", reason="", **extra):
        if form is None:
            form = self.get_import_form_class(request)(
                self.get_import_formats(), self.get_import_resource_classes(request), initial={"reason": reason})
        context = {
            **self.get_import_context_data(),
            **self.admin_site.each_context(request),
            "title": gettext("Importér rettelser til enheder"),
            "form": form,
            "opts": self.model._meta,
            "media": self.media + form.media,
            "sheet_columns": self._column_help(request),
            "sheet_failure": failure,
            "sheet_max_rows": f"{MAX_IMPORT_ROWS:,}".replace(",", "."),
            "sheet_max_mb": MAX_FILE_BYTES // 2**20,
            "import_error_display": self.import_error_display,
            **extra,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, [self.import_template_name], context)

    def _changelist_url(self):
        opts = self.model._meta
        return reverse(f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_changelist")
