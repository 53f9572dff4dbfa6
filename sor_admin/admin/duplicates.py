"""The duplicate queue in the staff admin (issue 16): candidate groups with their units side by
side (tree, location numbers, effective values, a link to each unit's history), "ikke en
dublet" with its reason, and the guided merge that drafts a change-set. Every button calls
`registry.quality.duplicates`; the pages only read."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from registry.changesets.types import MERGE_FIELDS
from registry.errors import DomainError
from registry.models import (
    ChangeSet,
    DuplicateGroup,
    DuplicateRun,
    Finding,
    GroupStatus,
    LocationNumber,
    QualityRun,
    Unit,
)
from registry.quality import duplicates
from registry.selectors import ancestors_of, unit_effective_values

from .base import ReadOnlyAdminMixin
from .changesets import _messages_of


def _start_run(request, task, perm: str, back: str, refused: str, started: str):
    """A "run now" button: the task in the worker (a POST by someone with `perm`), then back."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not request.user.has_perm(perm):
        messages.error(request, refused)
    else:
        task.delay(trigger="on_demand")
        messages.success(request, started)
    return HttpResponseRedirect(reverse(back))


class StatusFilter(admin.SimpleListFilter):
    """Open groups unless another status is chosen: the queue is what is left to decide."""

    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [(s.value, s.label) for s in GroupStatus] + [("all", _("alle"))]

    def choices(self, changelist):
        for value, label in self.lookup_choices:
            yield {"selected": (self.value() or GroupStatus.OPEN) == value, "display": label,
                   "query_string": changelist.get_query_string({self.parameter_name: value})}

    def queryset(self, request, queryset):
        value = self.value() or GroupStatus.OPEN
        return queryset if value == "all" else queryset.filter(status=value)


class RuleFilter(admin.SimpleListFilter):
    title = _("regel")
    parameter_name = "rule"

    def lookups(self, request, model_admin):
        return [(k, v) for k, v in duplicates.RULE_LABELS.items()]

    def queryset(self, request, queryset):
        return queryset.filter(rule=self.value()) if self.value() else queryset


@admin.register(DuplicateGroup)
class DuplicateGroupAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("score", "rule_label", "units_list", "status", "last_run")
    list_display_links = ("units_list",)
    list_filter = (StatusFilter, RuleFilter)
    search_fields = ("reason",)
    list_per_page = 100

    @admin.display(description=_("regel"), ordering="rule")
    def rule_label(self, obj):
        return duplicates.RULE_LABELS.get(obj.rule, obj.rule)

    @admin.display(description=_("enheder"))
    def units_list(self, obj):
        names = dict(Unit.objects.filter(pk__in=obj.unit_ids).values_list("sor_id", "name"))
        return ", ".join(f"{names.get(pk, '?')} ({pk})" for pk in obj.unit_ids)


    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("<int:object_id>/do/<str:verb>/", view(self.verb_view), name="registry_duplicategroup_verb"),
                path("run/", view(self.run_view), name="registry_duplicategroup_run")] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        last = DuplicateRun.objects.first()
        extra = {"sor_last_run": last, "sor_may_run": request.user.has_perm("registry.change_duplicategroup"),
                 "sor_rule_labels": duplicates.RULE_LABELS}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def _context(self, request, **extra):
        return {**self.admin_site.each_context(request), "opts": self.opts, "app_label": self.opts.app_label,
                "has_view_permission": True, **extra}

    @staticmethod
    def _side(unit: Unit) -> dict:
        """One unit of the group as the page shows it beside the others."""
        effective = unit_effective_values(unit)
        virtual = effective["virtual"].value or {}
        postal = effective["postal"].value or {}
        number = effective["location_number"]
        return {
            "unit": unit, "chain": ancestors_of(unit),
            "children": unit.children.filter(to_date__isnull=True).count(),
            "numbers": list(LocationNumber.objects.filter(unit=unit).order_by("gln")),
            "effective_number": number.value.gln if number.value else "",
            "number_source": number.source if number.source != unit.pk else None,
            "phone": virtual.get("phone", ""), "email": virtual.get("email", ""),
            "address": " ".join(filter(None, [postal.get("street_name", ""), postal.get("building", ""), ",",
                                              postal.get("post_code", ""), postal.get("district_name", "")])),
            "values": {name: getattr(getattr(unit, name), "code", getattr(unit, name)) for name in MERGE_FIELDS},
        }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        group = DuplicateGroup.objects.filter(pk=object_id).first()
        if group is None:
            messages.warning(request, gettext("Gruppen findes ikke."))
            return HttpResponseRedirect(reverse("admin:registry_duplicategroup_changelist"))
        units = {u.pk: u for u in Unit.objects.filter(pk__in=group.unit_ids).select_related("owner")}
        sides = [self._side(units[pk]) for pk in group.unit_ids if pk in units]
        # Survivors: a unit of the group, or an owner of one (two owners sharing a ydernummer).
        survivors = [(u.pk, u.name, u.get_level_display()) for u in units.values()]
        if group.rule in duplicates.OWNER_LEVEL_RULES:
            owners = {u.owner_id for u in units.values() if u.owner_id and u.owner_id not in units}
            survivors += [(o.pk, o.name, o.get_level_display()) for o in Unit.objects.filter(pk__in=owners)]
        # A 99-ydernummer is never carried over, so it is not offered.
        differing = [(name, Unit._meta.get_field(name).verbose_name, [s["values"][name] for s in sides])
                     for name in MERGE_FIELDS if len({str(s["values"][name] or "") for s in sides}) > 1
                     and not (name == "provider_number" and any(str(s["values"][name] or "").startswith("99")
                                                                 and len(str(s["values"][name])) == 8 for s in sides))]
        context = self._context(
            request, title=gettext("Mulig dublet: %(rule)s") % {"rule": duplicates.RULE_LABELS.get(group.rule, group.rule)},
            group=group, sides=sides, survivors=survivors, differing=differing,
            may_decide=request.user.has_perm("registry.change_duplicategroup") and group.status == GroupStatus.OPEN
            and duplicates.pending_merge(group) is None,
            may_reopen=request.user.has_perm("registry.change_duplicategroup") and group.status == GroupStatus.DISMISSED,
            owner_merge=group.rule in duplicates.OWNER_LEVEL_RULES,
            change_sets=list(ChangeSet.objects.filter(provenance__duplicate_group=group.pk).order_by("-pk")))
        return TemplateResponse(request, "admin/sor/duplicate_group.html", context)

    def verb_view(self, request, object_id, verb):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        page = reverse("admin:registry_duplicategroup_change", args=[object_id])
        post = request.POST
        try:
            if verb == "dismiss":
                duplicates.dismiss(actor=request.user, group=object_id, reason=post.get("reason", ""))
                messages.success(request, gettext("Gruppen er markeret 'ikke en dublet' og kommer ikke igen, før en "
                                                  "sammenlignet værdi ændres."))
                return HttpResponseRedirect(reverse("admin:registry_duplicategroup_changelist"))
            if verb == "reopen":
                duplicates.reopen(actor=request.user, group=object_id)
                messages.success(request, gettext("Gruppen er åben igen."))
                return HttpResponseRedirect(page)
            if verb == "merge":
                if not request.user.has_perm("registry.change_duplicategroup"):
                    raise DomainError(gettext("Kun en SOR-administrator kan lægge dubletter sammen."))
                cs = duplicates.merge_draft(actor=request.user, group=object_id, survivor=post.get("survivor", ""),
                                            fields=post.getlist("fields"), numbers=post.get("numbers", "move"))
                messages.success(request, gettext("Ændringssæt %(id)s er lavet som kladde: se forhåndsvisningen, og "
                                                  "indsend det; en anden SOR-administrator godkender.") % {"id": cs.pk})
                return HttpResponseRedirect(reverse("admin:registry_changeset_change", args=[cs.pk]))
        except DomainError as error:
            for text in _messages_of(error):
                messages.error(request, text)
        return HttpResponseRedirect(page)

    def run_view(self, request):
        """Run the rules now (in the worker); the queue shows the result when it is done."""
        from registry.tasks import duplicates_run

        return _start_run(request, duplicates_run, "registry.change_duplicategroup",
                          "admin:registry_duplicategroup_changelist",
                          gettext("Kun en SOR-administrator kan starte en dubletkørsel."),
                          gettext("Dubletkørslen er startet; opdatér siden om lidt."))


@admin.register(DuplicateRun)
class DuplicateRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("started_at", "trigger", "status", "counts_text", "finished_at", "error")
    readonly_fields = [f.name for f in DuplicateRun._meta.fields]

    @admin.display(description=_("fund pr. regel"))
    def counts_text(self, obj):
        return format_html("{}", ", ".join(f"{duplicates.RULE_LABELS.get(k, k)}: {v}" for k, v in obj.counts.items()))



# -- data-quality findings ------------------------------------------------------------------------------

class OpenFilter(admin.SimpleListFilter):
    """Open findings unless "løste" or "alle" is chosen."""

    title = _("åbne/løste")
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", _("åbne")), ("no", _("løste")), ("all", _("alle"))]

    def choices(self, changelist):
        for value, label in self.lookup_choices:
            yield {"selected": (self.value() or "yes") == value, "display": label,
                   "query_string": changelist.get_query_string({self.parameter_name: value})}

    def queryset(self, request, queryset):
        value = self.value() or "yes"
        if value == "yes":
            return queryset.filter(resolved_at__isnull=True)
        if value == "no":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


class FindingRuleFilter(admin.SimpleListFilter):
    title = _("regel")
    parameter_name = "rule"

    def lookups(self, request, model_admin):
        from registry.quality.control import RULE_LABELS

        return list(RULE_LABELS.items())

    def queryset(self, request, queryset):
        return queryset.filter(rule=self.value()) if self.value() else queryset


def _chart(runs, labels) -> dict:
    """Open findings per rule over the runs (oldest first), as polylines of an SVG the page draws."""
    runs = list(reversed(runs))
    if not runs:
        return {}
    rules = sorted({rule for run in runs for rule in run.counts})
    top = max([1] + [n for run in runs for n in run.counts.values()])
    width, height = 640, 180
    step = width / max(1, len(runs) - 1)
    colours = ["#205493", "#b5121b", "#2e8540", "#e07a00", "#4c2c92", "#5b616b", "#0071bc", "#981b1e"]
    lines = []
    for i, rule in enumerate(rules):
        points = " ".join(f"{round(j * step, 1)},{round(height - run.counts.get(rule, 0) / top * (height - 10), 1)}"
                          for j, run in enumerate(runs))
        lines.append({"rule": rule, "label": labels.get(rule, rule), "points": points, "colour": colours[i % len(colours)],
                      "last": runs[-1].counts.get(rule, 0), "dots": [p.split(",") for p in points.split()]})
    return {"lines": lines, "width": width, "height": height, "top": top, "first": runs[0].started_at,
            "last": runs[-1].started_at, "runs": len(runs)}


@admin.register(Finding)
class FindingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("severity", "rule_label", "unit_link", "message", "first_seen_at", "case_link")
    fields = ("rule_label", "severity", "unit_link", "value", "message", "first_seen_at", "resolved_at", "case_link")
    readonly_fields = fields
    list_filter = (OpenFilter, "severity", FindingRuleFilter, "unit__region")
    search_fields = ("message", "=unit__sor_id", "unit__name")
    list_select_related = ("unit", "case")
    list_per_page = 100
    show_full_result_count = False
    actions = ["make_cases"]

    @admin.display(description=_("regel"), ordering="rule")
    def rule_label(self, obj):
        from registry.quality.control import RULE_LABELS

        return RULE_LABELS.get(obj.rule, obj.rule)

    @admin.display(description=_("enhed"), ordering="unit")
    def unit_link(self, obj):
        return format_html('<a href="{}">{}</a> ({})', reverse("admin:registry_unit_change", args=[obj.unit_id]),
                           obj.unit.name, obj.unit_id)

    @admin.display(description=_("sag"))
    def case_link(self, obj):
        if not obj.case_id:
            return "–"
        return format_html('<a href="{}">{}</a>', reverse("admin:registry_case_change", args=[obj.case_id]),
                           obj.case.reference)

    @admin.action(description=_("Opret en sag for hvert valgt fund"))
    def make_cases(self, request, queryset):
        from registry.quality.control import finding_case

        made = []
        try:
            for finding in queryset[:200]:
                made.append(finding_case(actor=request.user, finding=finding))
        except DomainError as error:
            messages.error(request, str(error))
        if made:
            links = format_html_join(", ", '<a href="{}">{}</a>', [
                (reverse("admin:registry_case_change", args=[c.pk]), c.reference) for c in made])
            messages.success(request, format_html("{} {}", gettext("Sager:"), links))

    def get_actions(self, request):
        actions = super().get_actions(request)
        from registry.cases.services import may_work

        if not may_work(request.user):
            actions.pop("make_cases", None)
        return actions


    def get_urls(self):
        return [path("run/", self.admin_site.admin_view(self.run_view), name="registry_finding_run")] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        from registry.quality.control import RULE_LABELS

        runs = list(QualityRun.objects.filter(status="done")[:30])
        extra = {"sor_chart": _chart(runs, RULE_LABELS), "sor_last_run": QualityRun.objects.first(),
                 "sor_may_run": request.user.has_perm("registry.change_finding")}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def run_view(self, request):
        from registry.tasks import quality_run

        return _start_run(request, quality_run, "registry.change_finding", "admin:registry_finding_changelist",
                          gettext("Kun en SOR-administrator kan starte en kontrolkørsel."),
                          gettext("Kontrolkørslen er startet; opdatér siden om lidt."))


@admin.register(QualityRun)
class QualityRunAdmin(DuplicateRunAdmin):
    list_display = ("started_at", "trigger", "status", "counts_text", "finished_at", "error")
    readonly_fields = [f.name for f in QualityRun._meta.fields]

    @admin.display(description=_("åbne fund pr. regel"))
    def counts_text(self, obj):
        from registry.quality.control import RULE_LABELS

        return ", ".join(f"{RULE_LABELS.get(k, k)}: {v}" for k, v in obj.counts.items())
