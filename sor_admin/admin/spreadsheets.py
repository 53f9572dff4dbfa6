"""Spreadsheet export/import of units (django-import-export), mixed into UnitAdmin.

Export: the current changelist (its filters and search, through the library's
`get_export_queryset`, which builds the admin's ChangeList) as CSV or XLSX.

Import of corrections: upload → preview → confirm. The preview is the library's dry run: every
row goes through `unit_update` inside a transaction that is rolled back, so what the preview
accepts is what the services accept (roles, regions, field rules) and nothing is written. The
confirm step re-reads the same temporary file, checks its sha256 and that no unit in it changed
since the preview, and writes all rows in one transaction and one history batch, or none.
"""

from __future__ import annotations

import contextlib
import os

from django import forms
from django.contrib import messages
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from import_export.admin import ImportExportMixin
from import_export.forms import ConfirmImportForm, ImportForm, SelectableFieldsExportForm
from import_export.results import RowResult
from import_export.signals import post_import
from import_export.tmp_storages import TempFolderStorage

from registry.resources import (
    SHEET_FORMATS,
    SheetCSV,
    SheetError,
    SheetXLSX,
    UnitResource,
    file_sha256,
    row_problems,
)

TOKEN_SALT = "sor_admin.unit-spreadsheet-import"
TOKEN_MAX_AGE = 4 * 3600  # a preview older than this must be uploaded again
PREVIEW_ROWS = 2000
MAX_FILE_BYTES = 50 * 1024 * 1024
# Each row costs about 1–2 ms in the preview and again on confirm (the library wraps every row in a
# savepoint, the service locks and validates it); 20,000 rows keep both steps within a request.
MAX_IMPORT_ROWS = 20_000


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


class UnitConfirmImportForm(ConfirmImportForm):
    """Confirm step: the library's hidden fields plus a signed token holding what the preview
    was made from (file, sha256, reason, state of the units, the user)."""

    token = forms.CharField(widget=forms.HiddenInput())

    def clean_token(self):
        try:
            return signing.loads(self.cleaned_data["token"], salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
        except signing.SignatureExpired:
            raise forms.ValidationError(_("Forhåndsvisningen er for gammel; indlæs filen igen.")) from None
        except signing.BadSignature:
            raise forms.ValidationError(_("Forhåndsvisningen kan ikke genkendes; indlæs filen igen.")) from None

    def sheet_options(self) -> dict:
        token = self.cleaned_data["token"]
        return {"reason": token["reason"], "sha256": token["sha256"], "override_warnings": token["override"],
                "expected_state": token["state"]}


class UnitSpreadsheetAdminMixin(ImportExportMixin):
    """Export of the filtered changelist and import of corrections, for UnitAdmin (first base)."""

    resource_classes = [UnitResource]
    import_export_change_list_template = "admin/registry/unit/spreadsheet_change_list.html"
    import_template_name = "admin/registry/unit/spreadsheet_import.html"
    export_template_name = "admin/registry/unit/spreadsheet_export.html"
    import_form_class = UnitImportForm
    confirm_form_class = UnitConfirmImportForm
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
        context["export_filtered"] = any(k not in ("o", "p") for k in request.GET)
        context["changelist_url"] = self._changelist_url() + (f"?{request.GET.urlencode()}" if request.GET else "")
        return context

    # -- import: upload and preview

    def import_action(self, request, **kwargs):
        response = super().import_action(request, **kwargs)
        context = getattr(response, "context_data", None)
        if context is None:
            return response
        context["title"] = gettext("Importér rettelser til enheder")
        context["sheet_columns"] = self._column_help()
        result = context.get("result")
        form = context.get("form")
        if result is not None and form is not None and form.is_bound:
            upload = form.cleaned_data["import_file"]
            self._add_result_context(context, result, file_name=upload.name, sha256=form.sheet_sha256,
                                     reason=form.cleaned_data["reason"])
            confirm_form = context.get("confirm_form")
            if confirm_form is not None and result.totals[RowResult.IMPORT_TYPE_UPDATE]:
                confirm_form.initial["token"] = signing.dumps({
                    "file": confirm_form.initial["import_file_name"], "name": upload.name,
                    "sha256": form.sheet_sha256, "reason": form.cleaned_data["reason"],
                    "override": bool(form.cleaned_data.get("override_warnings")), "state": result.sheet_state,
                    "format": form.cleaned_data["format"], "user": request.user.pk,
                }, salt=TOKEN_SALT)
            else:
                # Errors, or nothing to change: no confirm step, and the temporary copy goes now.
                context["confirm_form"] = None
                self._remove_tmp(getattr(upload, "tmp_storage_name", None))
        return response

    def _column_help(self):
        resource = UnitResource()
        editable = [f.column_name for f in resource.editable_fields()]
        informative = [resource.fields[n].column_name for n in resource._meta.fields if resource.fields[n].readonly]
        return {"editable": editable, "informative": informative}

    def _add_result_context(self, context, result, *, file_name, sha256, reason):
        changed = [row for row in result.rows if row.is_update()]
        context["sheet_file"] = {"name": file_name, "sha256": sha256, "reason": reason}
        context["sheet_totals"] = {
            "rows": result.total_rows,
            "update": result.totals[RowResult.IMPORT_TYPE_UPDATE],
            "skip": result.totals[RowResult.IMPORT_TYPE_SKIP],
            "refused": result.totals[RowResult.IMPORT_TYPE_INVALID] + result.totals[RowResult.IMPORT_TYPE_ERROR],
        }
        context["sheet_changes"] = [
            {"line": row.sheet_line, "sor_id": row.object_id, "name": getattr(row, "sheet_unit", row.object_repr),
             "changes": getattr(row, "sheet_changes", [])}
            for row in changed[:PREVIEW_ROWS]
        ]
        context["sheet_changes_cut"] = max(0, len(changed) - PREVIEW_ROWS)
        context["sheet_problems"] = row_problems(result)
        context["sheet_failed"] = result.has_errors() or result.has_validation_errors()

    def _remove_tmp(self, name):
        if not name:
            return
        storage = self.get_tmp_storage_class()(name=os.path.basename(name), **self.get_tmp_storage_class_kwargs())
        with contextlib.suppress(OSError):
            storage.remove()

    # -- import: confirm

    @method_decorator(require_POST)
    def process_import(self, request, **kwargs):
        if not self.has_import_permission(request):
            raise PermissionDenied
        confirm_form = self.create_confirm_form(request)
        if not confirm_form.is_valid():
            problems = [str(e) for errors in confirm_form.errors.values() for e in errors]
            return self._import_page(request, failure=" ".join(problems))
        token = confirm_form.cleaned_data["token"]
        if token["user"] != request.user.pk or os.path.basename(token["file"]) != confirm_form.cleaned_data[
                "import_file_name"]:
            raise PermissionDenied
        storage = self.get_tmp_storage_class()(name=os.path.basename(token["file"]), read_mode="rb",
                                               **self.get_tmp_storage_class_kwargs())
        try:
            data = storage.read()
        except OSError:
            return self._import_page(request, failure=gettext(
                "Den indlæste fil findes ikke længere (den er allerede importeret, eller forhåndsvisningen er "
                "for gammel). Indlæs filen igen."), reason=token["reason"])
        if file_sha256(data) != token["sha256"]:
            return self._import_page(request, failure=gettext(
                "Filen er ændret siden forhåndsvisningen (sha256 passer ikke). Intet er gemt; indlæs filen igen."),
                reason=token["reason"])
        input_format = self.get_import_formats()[int(token["format"])](encoding=self.from_encoding)
        try:
            dataset = input_format.create_dataset(data)
        except SheetError as exc:
            return self._import_page(request, failure=str(exc), reason=token["reason"])
        result = self.process_dataset(dataset, confirm_form, request, file_name=token["name"], file_size=len(data),
                                      **kwargs)
        storage.remove()
        if result.has_errors() or result.has_validation_errors():
            context = {}
            self._add_result_context(context, result, file_name=token["name"], sha256=token["sha256"],
                                     reason=token["reason"])
            return self._import_page(request, failure=gettext(
                "Importen blev afvist, og intet er gemt: ret rækkerne nedenfor og indlæs filen igen."),
                reason=token["reason"], **context)
        return self.process_result(result, request)

    def process_result(self, result, request):
        post_import.send(sender=None, model=self.model)
        updated = result.totals[RowResult.IMPORT_TYPE_UPDATE]
        messages.success(request, ngettext(
            "Importen er gemt: %(n)d enhed rettet, %(skip)d uændrede (operation %(op)s).",
            "Importen er gemt: %(n)d enheder rettet, %(skip)d uændrede (operation %(op)s).", updated,
        ) % {"n": updated, "skip": result.totals[RowResult.IMPORT_TYPE_SKIP],
             "op": result.sheet_operation_id or "—"})
        return HttpResponseRedirect(self._changelist_url())

    def _import_page(self, request, *, failure="", reason="", **extra):
        form = self.get_import_form_class(request)(
            self.get_import_formats(), self.get_import_resource_classes(request), initial={"reason": reason})
        context = {
            **self.get_import_context_data(),
            **self.admin_site.each_context(request),
            "title": gettext("Importér rettelser til enheder"),
            "form": form,
            "opts": self.model._meta,
            "media": self.media + form.media,
            "sheet_columns": self._column_help(),
            "sheet_failure": failure,
            "import_error_display": self.import_error_display,
            **extra,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, [self.import_template_name], context)

    def _changelist_url(self):
        opts = self.model._meta
        return reverse(f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_changelist")
