"""The SOR-responsible persons and the half-yearly follow-up in the staff admin.

"SOR-ansvarlige" lists every owner's person with "sidst bekræftet", the next due date and the
reminders of the current round; the filter "forfalden" is the overdue list (by region and owner
type). Naming or changing a person calls `registry.selfservice.services.responsible_set`.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from registry.errors import DomainError, ValidationFailed
from registry.models import FollowUpReminder, OutgoingMail, SorResponsible, Unit
from registry.selfservice.services import responsible_set

from .base import ReadOnlyAdminMixin


def _due_sql():
    # The round's due date: months after the last confirmation (or the naming), in Danish time.
    return RawSQL("((COALESCE(registry_sorresponsible.last_confirmed_at, registry_sorresponsible.named_at) "
                  "AT TIME ZONE %s) + make_interval(months => %s))::date",
                  [settings.TIME_ZONE, settings.SOR_FOLLOWUP_MONTHS])


class FollowUpFilter(admin.SimpleListFilter):
    title = _("opfølgning")
    parameter_name = "followup"

    def lookups(self, request, model_admin):
        return [("overdue", _("forfalden")), ("soon", _("forfalder inden 30 dage")), ("ok", _("bekræftet, ikke forfalden"))]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "overdue":
            return queryset.filter(due__lt=today)
        if self.value() == "soon":
            return queryset.filter(due__gte=today, due__lt=today + dt.timedelta(days=30))
        if self.value() == "ok":
            return queryset.filter(due__gte=today)
        return queryset


class ResponsibleForm(forms.ModelForm):
    owner_sor_id = forms.CharField(
        label=_("Institutionsejer (SOR-ID)"), max_length=18, required=False,
        help_text=_("Ejerens SOR-ID (niveau institutionsejer): står øverst på enhedens side under \"Institutionsejer\". "
                    "Et SOR-ID på en klinik eller enhed under ejeren får svar med ejerens SOR-ID."))

    class Meta:
        model = SorResponsible
        fields = ("name", "email", "phone")

    def clean_owner_sor_id(self):
        value = (self.cleaned_data.get("owner_sor_id") or "").strip()
        if self.instance.pk is None:
            from registry.selfservice.services import _owner

            try:
                _owner(value)
            except DomainError as error:
                raise forms.ValidationError(str(error)) from None
            if SorResponsible.objects.filter(owner_id=value).exists():
                raise forms.ValidationError(_("Ejeren har allerede en SOR-ansvarlig; ret den i stedet."))
        return value


@admin.register(SorResponsible)
class SorResponsibleAdmin(admin.ModelAdmin):
    form = ResponsibleForm
    list_display = ("owner_link", "owner_type", "region", "name", "email", "phone", "last_confirmed_at", "case_link",
                    "due_on", "reminders")
    list_filter = (FollowUpFilter, "owner__region", "owner__owner_type")
    search_fields = ("owner__name", "=owner__sor_id", "name", "email")
    list_select_related = ("owner", "owner__region", "owner__owner_type", "last_confirmed_case")
    list_per_page = 100
    show_full_result_count = False

    def get_queryset(self, request):
        round_reminders = FollowUpReminder.objects.filter(owner=OuterRef("owner"), due_on=OuterRef("due"))
        reminders = round_reminders.values("owner").annotate(n=Count("pk")).values("n")
        failed = round_reminders.filter(mail__status="failed").values("owner").annotate(n=Count("pk")).values("n")
        return super().get_queryset(request).annotate(
            due=_due_sql(), reminder_count=Subquery(reminders, output_field=IntegerField()),
            reminder_failed=Subquery(failed, output_field=IntegerField()))

    def get_fields(self, request, obj=None):
        return ("name", "email", "phone") if obj else ("owner_sor_id", "name", "email", "phone")

    def get_readonly_fields(self, request, obj=None):
        return ("owner_link", "named_at", "last_confirmed_at", "case_link") if obj else ()

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ("owner_sor_id", "name", "email", "phone")})]
        return [(None, {"fields": ("owner_link", "name", "email", "phone")}),
                (_("Opfølgning"), {"fields": ("named_at", "last_confirmed_at", "case_link")})]

    @admin.display(description=_("institutionsejer"), ordering="owner__name")
    def owner_link(self, obj):
        return format_html('<a href="{}">{}</a> ({})', reverse("admin:registry_unit_change", args=[obj.owner_id]),
                           obj.owner.name, obj.owner_id)

    @admin.display(description=_("ejertype"), ordering="owner__owner_type")
    def owner_type(self, obj):
        return obj.owner.owner_type or "–"

    @admin.display(description=_("region"), ordering="owner__region")
    def region(self, obj):
        return obj.owner.region or "–"

    @admin.display(description=_("bekræftet i sag"))
    def case_link(self, obj):
        if obj.last_confirmed_case_id is None:
            return "–"
        return format_html('<a href="{}">{}</a>', reverse("admin:registry_case_change", args=[obj.last_confirmed_case_id]),
                           obj.last_confirmed_case.reference)

    @admin.display(description=_("næste frist"), ordering="due")
    def due_on(self, obj):
        due = getattr(obj, "due", None)
        if due is None:
            return "–"
        text = due.strftime("%d-%m-%Y")
        return format_html("<strong>{} ({})</strong>", text, _("forfalden")) if due < timezone.localdate() else text

    @admin.display(description=_("påmindelser i runden"))
    def reminders(self, obj):
        sent, failed = getattr(obj, "reminder_count", None) or 0, getattr(obj, "reminder_failed", None) or 0
        if failed:  # the mail server refused it: the person has not been reminded; call them
            return format_html("{} <strong>({})</strong>", sent, _("%(n)d ikke afleveret") % {"n": failed})
        return sent

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        """Through the service (history and an operation), never `obj.save()`."""
        owner = obj.owner_id if change else (form.cleaned_data.get("owner_sor_id") or "").strip()
        try:
            saved = responsible_set(actor=request.user, owner=owner, name=form.cleaned_data["name"],
                                    email=form.cleaned_data["email"], phone=form.cleaned_data.get("phone", ""))
        except DomainError as error:
            raise _FormRefused(error) from error
        obj.pk = saved.pk
        obj.owner_id = saved.owner_id

    def add_view(self, request, form_url="", extra_context=None):
        return self._guarded(super().add_view, request, form_url, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return self._guarded(super().change_view, request, object_id, form_url, extra_context)

    def _guarded(self, view, request, *args):
        try:
            return view(request, *args)
        except _FormRefused as refused:
            error = refused.error
            texts = ([m for msgs in error.errors.values() for m in msgs] if isinstance(error, ValidationFailed)
                     else [str(error)])
            for text in texts:
                messages.error(request, text)
            from django.http import HttpResponseRedirect

            return HttpResponseRedirect(request.get_full_path())

    def log_addition(self, request, obj, message):
        return None  # the operation and history record it

    def log_change(self, request, obj, message):
        return None


class _FormRefused(Exception):
    def __init__(self, error):
        super().__init__(str(error))
        self.error = error


@admin.register(OutgoingMail)
class OutgoingMailAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """One-time links and reminders sent by the system: whom, when, whether sent. The text is
    not shown: it holds a live one-time link."""

    list_display = ("created_at", "purpose", "recipients", "subject", "status", "sent_at", "error")
    list_filter = ("status", "purpose")
    search_fields = ("recipients", "subject")
    fields = ("created_at", "purpose", "recipients", "subject", "status", "sent_at", "error", "message_id")
    readonly_fields = fields



def owners_without_responsible():
    """Active owners that have not named a SOR-responsible person (shown on the index)."""
    today = timezone.localdate()
    return (Unit.objects.filter(level="IE", sor_responsible__isnull=True)
            .exclude(to_date__lt=today))
