"""The duplicate queue in the staff admin (issue 16): candidate groups with their units side by
side (tree, location numbers, effective values, a link to each unit's history), "ikke en
dublet" with its reason, and the guided merge that drafts a change-set. Every button calls
`registry.quality.duplicates`; the pages only read."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from registry.changesets.types import MERGE_FIELDS
from registry.errors import DomainError
from registry.models import ChangeSet, DuplicateGroup, DuplicateRun, GroupStatus, LocationNumber, Unit
from registry.quality import duplicates
from registry.selectors import ancestors_of, unit_effective_values

from .changesets import _messages_of


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
class DuplicateGroupAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

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
        owners = {u.owner_id for u in units.values() if u.owner_id and u.owner_id not in units}
        survivors += [(o.pk, o.name, o.get_level_display()) for o in Unit.objects.filter(pk__in=owners)]
        differing = [(name, Unit._meta.get_field(name).verbose_name, [s["values"][name] for s in sides])
                     for name in MERGE_FIELDS if len({str(s["values"][name] or "") for s in sides}) > 1]
        context = self._context(
            request, title=gettext("Mulig dublet: %(rule)s") % {"rule": duplicates.RULE_LABELS.get(group.rule, group.rule)},
            group=group, sides=sides, survivors=survivors, differing=differing,
            may_decide=request.user.has_perm("registry.change_duplicategroup") and group.status == GroupStatus.OPEN,
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
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("registry.change_duplicategroup"):
            messages.error(request, gettext("Kun en SOR-administrator kan starte en dubletkørsel."))
        else:
            from registry.tasks import duplicates_run

            duplicates_run.delay(trigger="on_demand")
            messages.success(request, gettext("Dubletkørslen er startet; opdatér siden om lidt."))
        return HttpResponseRedirect(reverse("admin:registry_duplicategroup_changelist"))


@admin.register(DuplicateRun)
class DuplicateRunAdmin(admin.ModelAdmin):
    list_display = ("started_at", "trigger", "status", "counts_text", "finished_at", "error")
    readonly_fields = [f.name for f in DuplicateRun._meta.fields]

    @admin.display(description=_("fund pr. regel"))
    def counts_text(self, obj):
        return format_html("{}", ", ".join(f"{duplicates.RULE_LABELS.get(k, k)}: {v}" for k, v in obj.counts.items()))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
