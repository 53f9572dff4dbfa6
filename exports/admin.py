"""Admin of the publication chain: export runs, read-only, with "kør nu", "frigiv" and "afvis".

Registered on `admin.site`, which is the SOR staff site. Nobody edits or deletes a run; a SOR-
administrator (permissions `exports.run_export` and `exports.decide_export`) may start a run and
decide on a held one; everyone with the view permission sees runs, diffs, logs and files.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from registry.errors import DomainError
from sor_admin.admin.base import ReadOnlyAdminMixin

from . import pipeline, publish
from .models import ExportRun
from .views_publish import run_files_dir

STATUS_COLOURS = {
    "pending": "#777", "running": "#1f6fb2", "succeeded": "#2e7d32", "held": "#c77700",
    "failed": "#c62828", "rejected": "#6d4c41",
}


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Begrundelse"), widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        error_messages={"required": _("Skriv en begrundelse.")},
        help_text=_("Gemmes på kørslen sammen med dit navn og tidspunktet."),
    )


class RunNowForm(forms.Form):
    republish = forms.BooleanField(
        label=_("Publicér dagens filer igen"), required=False,
        help_text=_("Dagens filer er allerede publiceret. Sæt kryds for at danne og publicere dem igen."),
    )


FORMAT_LABELS = {
    "v2": _("SOR XML v2 (Sor.xml, Sor.zip)"), "v1": _("SOR XML v1 (Sor_v1.xml)"),
    "csv": _("CSV (SorEntity_daily.csv, Edityper.csv)"),
    "complete": _("Sor_complete.zip (SOR2 CSV-pakken med historik)"),
}
# What each counter means, in the words of the register; unknown counters keep their key.
COUNT_LABELS = {
    "units": _("enheder"), "owners": _("institutionsejere"), "institutions": _("sundhedsinstitutioner"),
    "location_numbers": _("lokationsnumre"), "total_units": _("enheder i alt"), "seconds": _("sekunder"),
    "fallback_types": _("organisatoriske enheder uden type (skrevet med 255203001, som v2 kræver)"),
    "fallback_geo": _("organisatoriske enheder uden geografisk relation (skrevet med 2, som v1 kræver)"),
    "skipped_values": _("værdier, formatet ikke kan rumme (udeladt)"),
    "fallback_v2_codes": _("v2-koder i v1-filen (skrevet, som de er)"),
    "edi_rows": _("rækker i Edityper.csv"), "rows": _("rækker"), "member_size": _("størrelse af Sor.xml i zip (bytes)"),
    "entity_rows": _("rækker i SOREntity.csv (perioder)"), "entity_units": _("enheder i SOREntity.csv"),
    "shak_rows": _("rækker i SHAKSORMap.csv"), "classification_rows": _("rækker i SORClassifications.csv"),
    "location_rows": _("rækker i LocationsCodes.csv"), "edi_map_rows": _("rækker i LocationsCodeEDITypeMap.csv"),
    "edi_type_rows": _("rækker i EDITypes.csv"), "replaced_rows": _("rækker i SORReplacedEntities.csv"),
    "geolocation_rows": _("rækker i Geolocations.csv"), "members": _("filer i zip"),
    "step_seconds": _("sekunder pr. fil"),
}
SECTION_LABELS = {"activation": _("aktivering af planlagte ændringer"), "checks": _("kontrol af filerne"),
                  **FORMAT_LABELS}


def readable_counts(counts: dict) -> list[dict]:
    """The run's counters as sections of (label, value) a person reads."""
    sections = []
    if "units" in counts and not isinstance(counts["units"], dict):
        sections.append({"title": gettext("Registeret"), "rows": [(gettext("enheder på datoen"), counts["units"])]})
    for key, value in counts.items():
        if not isinstance(value, dict):
            continue
        rows = []
        for name, item in value.items():
            if isinstance(item, dict):  # checks: file → its counters
                inner = "; ".join(f"{COUNT_LABELS.get(k, k)}: {v}" for k, v in item.items())
                rows.append((name, inner or "–"))
            else:
                rows.append((str(COUNT_LABELS.get(name, name)), item))
        sections.append({"title": str(SECTION_LABELS.get(key, key)), "rows": rows or [("–", "")]})
    return sections


@admin.register(ExportRun)
class ExportRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "snapshot_date", "status_badge", "trigger", "step_display", "started_at", "finished_at",
                    "duration_display", "summary", "decision")
    list_display_links = ("id", "snapshot_date")
    list_filter = ("status", "trigger", "decision")
    date_hierarchy = "snapshot_date"
    list_per_page = 50
    show_full_result_count = False
    actions = ["run_now_action"]
    change_list_template = "exports/admin/exportrun_change_list.html"
    change_form_template = "exports/admin/exportrun_change_form.html"
    fieldsets = (
        (None, {"fields": ("snapshot_date", "status_badge", "step_display", "progress", "worker_state", "trigger",
                           "requested_by", "attempt", "previous_attempt", "parameters_display")}),
        (_("Tider"), {"fields": ("created_at", "started_at", "heartbeat_at", "finished_at", "published_at")}),
        (_("Publiceringskontrol"), {"fields": ("diff_summary",)}),
        (_("Beslutning"), {"fields": ("decision", "decided_by", "decided_at", "decision_reason")}),
        (_("Filer"), {"fields": ("file_table", "published_dir", "staging_dir")}),
        (_("Optællinger"), {"fields": ("counts_table",)}),
        (_("Log og fejl"), {"fields": ("log_text", "error_text")}),
        (_("Teknik (til fejlsøgning)"), {"fields": ("worker", "task_id", "parameters"), "classes": ("collapse",)}),
    )
    readonly_fields = (
        "snapshot_date", "status_badge", "step_display", "progress", "worker_state", "trigger", "requested_by", "attempt",
        "previous_attempt", "parameters", "parameters_display", "worker", "created_at", "started_at", "heartbeat_at", "finished_at",
        "published_at", "diff_summary", "decision", "decided_by", "decided_at", "decision_reason", "file_table",
        "published_dir", "staging_dir", "counts_table", "log_text", "error_text", "task_id",
    )

    # -- permissions: read-only rows (ReadOnlyAdminMixin), custom permissions for the workflow --------
    def has_run_permission(self, request):
        return request.user.has_perm("exports.run_export")

    def has_decide_permission(self, request, obj=None):
        return request.user.has_perm("exports.decide_export")

    # -- columns ------------------------------------------------------------------------------------
    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj):
        label = obj.get_status_display()
        if obj.status == ExportRun.Status.HELD and obj.decision == ExportRun.Decision.RELEASED:
            label = gettext("frigivet, publiceres")
        elif obj.status == ExportRun.Status.RUNNING and pipeline.run_worker_alive(obj) is False:
            # Stale: its worker died; the next start marks it failed (see exports.pipeline).
            return format_html('<strong style="color:{}">{}</strong>', STATUS_COLOURS["failed"],
                               gettext("kører ikke længere – arbejderen er stoppet"))
        return format_html('<strong style="color:{}">{}</strong>', STATUS_COLOURS.get(obj.status, "#000"), label)

    @admin.display(description=_("trin"), ordering="step")
    def step_display(self, obj):
        return obj.step_label or "–"

    @admin.display(description=_("varighed"))
    def duration_display(self, obj):
        duration = obj.duration
        return f"{duration.total_seconds():.1f} s" if duration else "–"

    @admin.display(description=_("resumé"))
    def summary(self, obj):
        if obj.status == ExportRun.Status.HELD and obj.diff:
            return Truncator("; ".join(obj.diff.get("reasons", []))).chars(120)
        if obj.status == ExportRun.Status.FAILED:
            return Truncator((obj.error.strip().splitlines() or [""])[-1]).chars(120)
        units = (obj.counts or {}).get("units")
        return gettext("%(n)s enheder") % {"n": units} if units else ""

    @admin.display(description=_("arbejder"))
    def worker_state(self, obj):
        # In words; the worker's own id is under "Teknik".
        alive = pipeline.run_worker_alive(obj)
        if alive is None:
            return gettext("færdig") if not obj.is_open else "–"
        if alive:
            return gettext("arbejder kører")
        return format_html('<strong style="color:#c62828">{}</strong>',
                           gettext("arbejderen svarer ikke; kørslen opgives ved næste start"))

    @admin.display(description=_("forskel fra sidste publicering"))
    def diff_summary(self, obj):
        if not obj.diff:
            return "–"
        return mark_safe(render_to_string("exports/admin/_diff.html", {"diff": obj.diff}))

    @admin.display(description=_("filer"))
    def file_table(self, obj):
        if not obj.files:
            return "–"
        directory = run_files_dir(obj)
        rows = []
        for name, info in sorted(obj.files.items()):
            url = reverse("filer:run", args=[obj.pk, name]) if directory is not None else None
            rows.append({"name": name, "size": info.get("size"), "sha256": info.get("sha256"), "url": url})
        public = obj.status == ExportRun.Status.SUCCEEDED and directory is not None and \
            publish.latest_dir() == directory
        return mark_safe(render_to_string("exports/admin/_files.html", {
            "rows": rows, "available": directory is not None, "public": public,
            "public_names": publish.PUBLIC_FILES,
        }))

    @admin.display(description=_("optællinger"))
    def counts_table(self, obj):
        if not obj.counts:
            return "–"
        return mark_safe(render_to_string("exports/admin/_counts.html", {"sections": readable_counts(obj.counts)}))

    @admin.display(description=_("parametre"))
    def parameters_display(self, obj):
        formats = (obj.parameters or {}).get("formats") or []
        names = [str(FORMAT_LABELS.get(f, f)) for f in formats]
        text = gettext("Formater: %(formats)s") % {"formats": ", ".join(names) or "–"}
        if (obj.parameters or {}).get("republish"):
            text += "; " + gettext("genpublicering af en dato, der allerede er publiceret")
        return text

    @admin.display(description=_("log"))
    def log_text(self, obj):
        return format_html('<pre style="white-space:pre-wrap;margin:0">{}</pre>', obj.log or "–")

    @admin.display(description=_("fejl"))
    def error_text(self, obj):
        return format_html('<pre style="white-space:pre-wrap;margin:0">{}</pre>', obj.error) if obj.error else "–"

    # -- "kør nu" ------------------------------------------------------------------------------------
    @admin.action(description=_("Kør publicering nu (dagens dato)"), permissions=["run"])
    def run_now_action(self, request, queryset):
        """The selection does not matter: a run always builds today's files."""
        return HttpResponseRedirect(reverse("admin:exports_exportrun_run_now"))

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("run-now/", self.admin_site.admin_view(self.run_now_view), name=f"{prefix}_run_now"),
            path("<int:run_id>/release/", self.admin_site.admin_view(self.release_view), name=f"{prefix}_release"),
            path("<int:run_id>/reject/", self.admin_site.admin_view(self.reject_view), name=f"{prefix}_reject"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_run": self.has_run_permission(request),
                         "run_now_url": reverse("admin:exports_exportrun_run_now"),
                         "latest_day": getattr(publish.latest_dir(), "name", None)}
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        can_decide = bool(obj and obj.status == ExportRun.Status.HELD and self.has_decide_permission(request, obj))
        extra_context = {
            **(extra_context or {}),
            "can_release": can_decide and obj.decision != ExportRun.Decision.RELEASED,
            "can_reject": can_decide and obj.decision != ExportRun.Decision.RELEASED,
            "can_run": self.has_run_permission(request),
            "run_now_url": reverse("admin:exports_exportrun_run_now"),
        }
        if obj is not None:
            extra_context["release_url"] = reverse("admin:exports_exportrun_release", args=[obj.pk])
            extra_context["reject_url"] = reverse("admin:exports_exportrun_reject", args=[obj.pk])
        return super().change_view(request, object_id, form_url, extra_context)

    def _form_page(self, request, form, *, title, intro, submit_label, run=None, danger=False):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts, "app_label": self.opts.app_label, "title": title, "form": form, "intro": intro,
            "submit_label": submit_label, "original": run, "danger": danger,
            "diff": run.diff if run is not None else None,
            "cancel_url": reverse("admin:exports_exportrun_change", args=[run.pk]) if run is not None
            else reverse("admin:exports_exportrun_changelist"),
        }
        return TemplateResponse(request, "exports/admin/exportrun_form.html", context)

    def run_now_view(self, request):
        if not self.has_run_permission(request):
            raise PermissionDenied
        day = timezone.localdate()
        published = ExportRun.objects.filter(snapshot_date=day, status=ExportRun.Status.SUCCEEDED).exists()
        form = RunNowForm(request.POST if request.method == "POST" else None)
        if not published:
            form.fields.pop("republish")
        if request.method == "POST" and form.is_valid():
            try:
                run = pipeline.request_run(actor=request.user, day=day, force=form.cleaned_data.get("republish", False))
            except pipeline.AlreadyPublished as exc:
                form.add_error(None, gettext("%(msg)s Sæt kryds for at publicere igen.") % {"msg": exc})
            except DomainError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, gettext("Kørsel #%(id)d for %(date)s er startet; siden viser dens fremdrift.")
                                 % {"id": run.pk, "date": run.snapshot_date})
                return HttpResponseRedirect(reverse("admin:exports_exportrun_change", args=[run.pk]))
        intro = gettext("Aktiverer dagens ændringer, danner Sor.xml (v2), Sor_v1.xml og CSV-filerne for %(date)s, "
                        "kontrollerer dem, sammenligner med sidste publicering og publicerer dem.") % {"date": day}
        return self._form_page(request, form, title=gettext("Kør publicering nu"), intro=intro,
                               submit_label=gettext("Start kørslen"))

    def _decision_view(self, request, run_id, *, release: bool):
        run = ExportRun.objects.filter(pk=run_id).first()
        if run is None:
            messages.warning(request, gettext("Kørslen findes ikke."))
            return HttpResponseRedirect(reverse("admin:exports_exportrun_changelist"))
        if not self.has_decide_permission(request, run):
            raise PermissionDenied
        form = ReasonForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            service = pipeline.release_run if release else pipeline.reject_run
            try:
                service(actor=request.user, run=run, reason=form.cleaned_data["reason"])
            except DomainError as exc:
                form.add_error(None, str(exc))
            else:
                text = (gettext("Kørsel #%(id)d er frigivet; filerne publiceres nu.") if release
                        else gettext("Kørsel #%(id)d er afvist; filerne publiceres ikke."))
                messages.success(request, text % {"id": run.pk})
                return HttpResponseRedirect(reverse("admin:exports_exportrun_change", args=[run.pk]))
        if release:
            title = gettext("Frigiv kørsel #%(id)d") % {"id": run.pk}
            intro = gettext("Filerne for %(date)s blev tilbageholdt af publiceringskontrollen. Frigiv dem kun, hvis "
                            "forskellene nedenfor er forventede; de publiceres straks.") % {"date": run.snapshot_date}
            submit = gettext("Frigiv og publicér")
        else:
            title = gettext("Afvis kørsel #%(id)d") % {"id": run.pk}
            intro = gettext("Filerne for %(date)s slettes og publiceres ikke; de sidst publicerede filer forbliver "
                            "gældende.") % {"date": run.snapshot_date}
            submit = gettext("Afvis")
        return self._form_page(request, form, title=title, intro=intro, submit_label=submit, run=run,
                               danger=not release)

    def release_view(self, request, run_id):
        return self._decision_view(request, run_id, release=True)

    def reject_view(self, request, run_id):
        return self._decision_view(request, run_id, release=False)
