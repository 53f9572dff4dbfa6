"""Change-sets in the staff admin (part 1: read them, with their changes, risk and timeline).

Creating, previewing and deciding on sets in the browser is part 2; until then the command
line (`manage.py sor_changeset`) drives them and this shows them. The index lists the sets
waiting for the user's approval and the user's own sets waiting for a second person."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from registry.changesets.types import RISK_POLICY
from registry.models import Change, ChangeSet, ChangeSetEvent

from .base import ReadOnlyAdminMixin


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ChangeInline(_ReadOnlyInline):
    model = Change
    fields = ("position", "kind", "unit_id", "description", "group")
    readonly_fields = fields


class EventInline(_ReadOnlyInline):
    model = ChangeSetEvent
    fields = ("at", "code", "actor", "note")
    readonly_fields = fields
    verbose_name_plural = _("tidslinje")


@admin.register(ChangeSet)
class ChangeSetAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "name", "status", "risk", "effective_date", "author", "approved_by", "created_at")
    list_display_links = ("id", "name")
    list_filter = ("status", "risk")
    search_fields = ("name", "reason")
    list_select_related = ("author", "approved_by")
    fields = ("name", "reason", "status", "status_reason", "risk", "risk_policy", "effective_date", "author",
              "approved_by", "approval", "applied_at", "operation")
    readonly_fields = fields
    inlines = [ChangeInline, EventInline]

    @admin.display(description=_("risikopolitik"))
    def risk_policy(self, obj):
        return format_html("<ul style='margin:0'>{}</ul>", format_html_join(
            "", "<li>{}: {}</li>", ((label, risk.label) for label, risk in RISK_POLICY)))
