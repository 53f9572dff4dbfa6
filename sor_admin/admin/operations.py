"""Operations and the change log in the staff admin: read-only.

An operation's page lists every row it touched as the change-log events it wrote, 100 a page
(a national import touches ~290,000 rows): one count and one page query on the events'
(operation, id) index, never a scan of the history tables."""

from __future__ import annotations

import json

from django.contrib import admin
from django.core.paginator import Paginator
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from registry.models import ChangeEvent, EventEntity, Operation

EVENTS_PER_PAGE = 100


def _value(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def event_rows(events):
    rows = []
    for event in events:
        link = ""
        if event.entity == EventEntity.UNIT or (event.entity != EventEntity.CODE and event.unit_id):
            link = reverse("admin:registry_unit_change", args=[event.unit_id])
        rows.append({
            "event": event,
            "link": link,
            "changes": [(name, _value(old), _value(new)) for name, (old, new) in sorted(event.changes.items())],
        })
    return rows


@admin.register(Operation)
class OperationAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "started_at", "actor", "origin", "short_reason", "parent_link")
    list_filter = ("kind", "origin")
    search_fields = ("reason", "=uuid")
    list_select_related = ("actor",)
    show_full_result_count = False
    date_hierarchy = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

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
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Operation %(id)s") % {"id": obj.pk},
            "operation": obj,
            "children": list(obj.children.order_by("id")[:200]),
            "page": page,
            "rows": event_rows(page.object_list),
            "provenance": sorted(obj.provenance.items()),
        }
        return TemplateResponse(request, "admin/registry/operation/detail.html", context)
