"""Operations and the change log in the staff admin: read-only.

An operation's page lists every row it touched as the change-log events it wrote, 100 a page
(a national import touches ~290,000 rows): one count per kind of event, one page query on the
events' (operation, id) index, then one query per kind of object and code list shown on the
page, never a scan of the history tables. Field names and values are shown as the unit's
history shows them (labels, dates, yes/no, code names)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.apps import apps
from django.contrib import admin
from django.core.paginator import Paginator
from django.db import models
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from registry.models import ChangeEvent, EventEntity, EventKind, LocationNumber, Operation, Unit

from .base import ReadOnlyAdminMixin
from .history import format_value

EVENTS_PER_PAGE = 100

BLOCK_LABELS = {
    "postal": _("postadresse"), "visiting": _("besøgsadresse"), "activity": _("aktivitetsadresse"),
    "virtual": _("elektroniske adresser"), "location_number": _("lokationsnummer"),
}
PROVENANCE_LABELS = {"file_name": _("filnavn"), "size": _("størrelse (bytes)"), "sha256": _("SHA-256")}


def _fields_by_attname(model) -> dict:
    return {f.attname: f for f in model._meta.concrete_fields}


def _field_for(model, name):
    """(label, model field or None) of a changed field; effective keys such as
    `postal.street_name` or `location_number.system_supplier_id` are labelled by their block."""
    if model is Unit and (name == "location_number" or "." in name):
        block, _dot, rest = name.partition(".")
        prefix = format_lazy("{} {}", gettext("nedarvet"), BLOCK_LABELS.get(block, block))
        if not rest:
            return prefix, None
        if rest == "source":
            return format_lazy("{}: {}", prefix, gettext("arvet fra (SOR-ID)")), None
        if block == "location_number":
            field = _fields_by_attname(LocationNumber).get(rest)
        elif block == "virtual":
            field = _fields_by_attname(Unit).get(rest)
        else:
            field = _fields_by_attname(Unit).get(f"{block}_{rest}")
        return format_lazy("{}: {}", prefix, field.verbose_name if field else rest), field
    field = _fields_by_attname(model).get(name)
    return (field.verbose_name if field else name), field


def _typed(value, field):
    if isinstance(value, str) and isinstance(field, models.DateField):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value
    return value


def event_rows(events):
    """The page's events as rows for the template, with labels, formatted values and links."""
    events = list(events)
    model_of = {label: apps.get_model(label) for label in {e.model for e in events}}
    # Names of the objects shown, one query per kind of object.
    unit_ids = {e.unit_id for e in events if e.unit_id}
    units = Unit.objects.only("sor_id", "name").in_bulk(list(unit_ids))
    ln_ids = {_location_number_id(e) for e in events} - {None}
    lns = LocationNumber.objects.only("id", "gln").in_bulk(list(ln_ids))
    codes = defaultdict(set)
    for e in events:
        if e.entity == EventEntity.CODE:
            codes[e.model].add(int(e.object_id))
    code_objs = {(label, pk): obj for label, pks in codes.items() for pk, obj in model_of[label]._base_manager.in_bulk(list(pks)).items()}
    # Code-list names for foreign-key values, one query per related model.
    raw, wanted = [], defaultdict(set)
    for e in events:
        model = model_of[e.model]
        items = []
        for name, (old, new) in sorted(e.changes.items()):
            label, field = _field_for(model, name)
            items.append((label, field, old, new))
            if isinstance(field, models.ForeignKey):
                wanted[field].update(v for v in (old, new) if isinstance(v, int))
        raw.append((e, items))
    fk_names = {}
    for field, pks in wanted.items():
        for pk, obj in field.related_model._base_manager.in_bulk(list(pks)).items():
            fk_names[(field.name, pk)] = str(obj)
    rows = []
    for e, items in raw:
        changes = [(str(label), format_value(_typed(old, field), field, fk_names),
                    format_value(_typed(new, field), field, fk_names)) for label, field, old, new in items]
        rows.append({"event": e, "object": _object_cell(e, units, lns, code_objs), "changes": changes})
    return rows


def _location_number_id(e) -> int | None:
    if e.entity == EventEntity.LOCATION_NUMBER:
        return int(e.object_id)
    if e.entity == EventEntity.MESSAGE_TYPE_LINK:  # created: [None, id]; removed: [id, None]
        return next((v for v in e.changes.get("location_number_id", []) if v), None)
    return None


def _object_cell(e, units, lns, code_objs) -> dict:
    unit = units.get(e.unit_id) if e.unit_id else None
    unit_text = f"{unit.name} ({unit.sor_id})" if unit else (str(e.unit_id) if e.unit_id else "")
    unit_link = reverse("admin:registry_unit_change", args=[e.unit_id]) if e.unit_id else ""
    if e.entity == EventEntity.UNIT:
        return {"text": unit_text, "link": unit_link, "unit": "", "unit_link": ""}
    if e.entity in (EventEntity.LOCATION_NUMBER, EventEntity.MESSAGE_TYPE_LINK):
        ln_id = _location_number_id(e)
        ln = lns.get(ln_id)
        link = reverse("admin:registry_locationnumber_change", args=[ln_id]) if ln_id else ""
        return {"text": ln.gln if ln else str(ln_id or ""), "link": link, "unit": unit_text, "unit_link": unit_link}
    obj = code_objs.get((e.model, int(e.object_id)))
    try:
        link = reverse(f"admin:{e.model.replace('.', '_')}_change", args=[e.object_id])
    except NoReverseMatch:
        link = ""
    return {"text": str(obj) if obj else e.object_id, "link": link, "unit": "", "unit_link": ""}


@admin.register(Operation)
class OperationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "kind", "started_at", "actor", "origin", "short_reason", "parent_link")
    list_filter = ("kind", "origin")
    search_fields = ("reason", "=uuid", "=actor__username")
    list_select_related = ("actor",)
    show_full_result_count = False

    def get_search_results(self, request, queryset, search_term):
        queryset, duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term.isdigit():  # an operation's number, as the history pages show it
            queryset |= self.model.objects.filter(pk=int(term))
        return queryset, duplicates

    @admin.display(description=_("begrundelse"))
    def short_reason(self, obj):
        return obj.reason if len(obj.reason) <= 80 else obj.reason[:79] + "…"

    @admin.display(description=_("del af"))
    def parent_link(self, obj):
        if obj.parent_id is None:
            return "—"
        return format_html('<a href="{}">{}</a>', reverse("admin:registry_operation_change", args=[obj.parent_id]),
                           obj.parent_id)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        if obj is None or not self.has_view_permission(request, obj):
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        events = ChangeEvent.objects.filter(operation=obj).order_by("id")
        paginator = Paginator(events, EVENTS_PER_PAGE)
        page = paginator.get_page(request.GET.get("p"))
        inherited = events.filter(kind=EventKind.EFFECTIVE_CHANGED).count()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Operation %(id)s") % {"id": obj.pk},
            "operation": obj,
            "children": list(obj.children.order_by("id")[:200]),
            "page": page,
            "rows": event_rows(page.object_list),
            "own_count": paginator.count - inherited,
            "inherited_count": inherited,
            "provenance": [(PROVENANCE_LABELS.get(k, k), v) for k, v in sorted(obj.provenance.items())],
        }
        return TemplateResponse(request, "admin/registry/operation/detail.html", context)
