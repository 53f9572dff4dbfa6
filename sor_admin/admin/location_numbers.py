"""Location number (lokationsnummer) admin: every change goes through
`registry.services.location_numbers` with a reason; a number is closed, never deleted."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AdminDateWidget
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from registry.audit import audit_context
from registry.errors import DomainError
from registry.identifiers import is_digits
from registry.inheritance import location_number_valid_on, location_number_valid_q
from registry.models import CodeList, EdiMessageType, LocationNumber
from registry.models.codes import usable_codes_q
from registry.selectors import in_users_region, units_maintained_by
from registry.services.location_numbers import (
    EDITABLE_FIELDS,
    location_number_assign,
    location_number_close,
    location_number_set_message_types,
    location_number_update,
)

from .base import ReasonField, ServiceModelForm, SorModelAdmin, add_domain_error, usable_code_choices
from .history import HistoryAdminMixin


class ActiveFilter(admin.SimpleListFilter):
    title = _("aktiv")
    parameter_name = "active"

    def lookups(self, request, model_admin):
        return [("yes", _("gyldig i dag")), ("no", _("lukket, fremtidig eller ikke aktiv"))]

    def queryset(self, request, queryset):
        active = location_number_valid_q(timezone.localdate()) & Q(non_active=False)
        if self.value() == "yes":
            return queryset.filter(active)
        if self.value() == "no":
            return queryset.exclude(active)
        return queryset


def _message_types_field():
    return forms.ModelMultipleChoiceField(
        label=_("EDI-meddelelsestyper"), queryset=EdiMessageType.objects.filter(retired=False),
        required=False, widget=admin.widgets.FilteredSelectMultiple(_("meddelelsestyper"), is_stacked=False),
    )


class LocationNumberChangeForm(ServiceModelForm):
    # Not named `message_types`: ModelForm would write that m2m itself, bypassing the service.
    edi_message_types = _message_types_field()
    seen_version = forms.IntegerField(label=_("version ved åbning"), widget=forms.HiddenInput)

    class Meta:
        model = LocationNumber
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.fields["seen_version"].initial = self.instance.version
            self.fields["edi_message_types"].initial = [link.message_type_id
                                                       for link in self.instance.message_type_links.all()]
        # Types usable today; a retired type already on the number stays selectable (so saving
        # does not drop it).
        usable = usable_codes_q(timezone.localdate())
        if self.instance.pk:
            usable |= Q(pk__in=self.instance.message_type_links.values("message_type"))
        self.fields["edi_message_types"].queryset = EdiMessageType.objects.filter(usable)

    def apply(self, data):
        changes = {name: data[name] for name in self.changed_data if name in EDITABLE_FIELDS}
        with audit_context(actor=self.actor, reason=data["reason"], origin="admin"):
            ln = location_number_update(actor=self.actor, reason=data["reason"], origin="admin",
                                        location_number=self.instance.pk, changes=changes,
                                        expected_version=data["seen_version"])
            if "edi_message_types" in self.changed_data:
                ln = location_number_set_message_types(actor=self.actor, reason=data["reason"], origin="admin",
                                                       location_number=ln, message_types=data["edi_message_types"])
        return ln


class LocationNumberAddForm(ServiceModelForm):
    edi_message_types = _message_types_field()

    class Meta:
        model = LocationNumber
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["edi_message_types"].queryset = EdiMessageType.objects.filter(
            usable_codes_q(timezone.localdate()))

    def apply(self, data):
        fields = {name: data[name] for name in self.changed_data if name in EDITABLE_FIELDS}
        for name in ("system_supplier", "system_type", "network_operator", "region", "edi_administrator"):
            fields.setdefault(name, data.get(name))
        return location_number_assign(
            actor=self.actor, reason=data["reason"], origin="admin", unit=data["unit"], gln=data["gln"],
            message_types=data.get("edi_message_types") or (), **fields,
        )


class LocationNumberCloseForm(forms.Form):
    to_date = forms.DateField(label=_("Lukkedato"), widget=AdminDateWidget,
                              help_text=_("Sidste dag lokationsnummeret er gældende (inklusive)."))
    reason = ReasonField()


SUPPLIER_ROWS = [("system_supplier", "system_type"), ("network_operator", "edi_administrator"), "region"]


@admin.register(LocationNumber)
class LocationNumberAdmin(HistoryAdminMixin, SorModelAdmin):
    list_display = ("gln", "unit_link", "region", "network_operator", "from_date", "to_date", "active_display")
    list_select_related = ("unit", "region", "network_operator")
    list_filter = ("region", "network_operator", ActiveFilter)
    search_fields = ("gln",)
    search_help_text = _("Søg på lokationsnummer (GLN), enhedens SOR-ID eller enhedens navn.")
    autocomplete_fields = ("unit",)
    ordering = ("gln",)
    object_actions = [("close", "close_view")]
    change_form_template = "admin/sor/change_form.html"

    def get_urls(self):
        from django.urls import path

        return [path("addressability/", self.admin_site.admin_view(self.addressability_view),
                     name="registry_locationnumber_addressability")] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "sor_addressability": True})

    def addressability_view(self, request):
        """The addressability report: every active location number, whether it reaches its units;
        a regional administrator's region by default; CSV and XLSX downloads of the same rows."""
        from django.http import HttpResponse
        from django.template.response import TemplateResponse

        from registry.models import Region
        from registry.permissions import region_scope
        from registry.quality import addressability
        from registry.sheets.formats import SheetCSV, write_xlsx

        if not self.has_view_permission(request):
            raise PermissionDenied
        scope = region_scope(request.user)
        default = getattr(scope, "code", "") if scope is not None else ""
        region = request.GET.get("region", default)
        region = region if region in set(Region.objects.values_list("code", flat=True)) else ""
        problems = request.GET.get("problems") == "1"
        rows = addressability.report(region=region, problems_only=problems)
        fmt = request.GET.get("format")
        if fmt in ("csv", "xlsx"):
            data = addressability.dataset(rows)
            body = SheetCSV().export_data(data) if fmt == "csv" else write_xlsx(data)
            response = HttpResponse(body, content_type=SheetCSV.CONTENT_TYPE if fmt == "csv" else
                                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
            response["Content-Disposition"] = f'attachment; filename="adresserbarhed{"-" + region if region else ""}.{fmt}"'
            return response
        context = {**self.admin_site.each_context(request), "opts": self.opts, "app_label": self.opts.app_label,
                   "has_view_permission": True, "title": gettext("Adresserbarhed: aktive lokationsnumre"),
                   "rows": rows[:500], "total": len(rows), "with_problems": sum(1 for r in rows if r["problem"]),
                   "regions": list(Region.objects.order_by("code").values_list("code", "name_da")),
                   "region": region, "problems": problems, "query": request.GET.urlencode()}
        return TemplateResponse(request, "admin/sor/addressability.html", context)

    def has_change_permission(self, request, obj=None):
        """Every staff role reads every location number; a regional administrator changes only
        those of their region's units."""
        return super().has_change_permission(request, obj) and (obj is None or in_users_region(request.user, obj.unit))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "unit":
            kwargs["queryset"] = units_maintained_by(request.user)
        elif issubclass(db_field.related_model, CodeList):
            kwargs["queryset"] = usable_code_choices(db_field, getattr(request, "sor_editing", None))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_search_results(self, request, queryset, search_term):
        term = (search_term or "").strip()
        if not term:
            return queryset, False
        digits = term.replace(" ", "")
        if is_digits(digits):
            q = Q(gln=digits) if len(digits) == 13 else Q(gln__startswith=digits)
            if len(digits) >= 11:
                q |= Q(unit_id=int(digits))
            return queryset.filter(q), False
        return queryset.filter(unit__name__icontains=term), False

    @admin.display(description=_("enhed"), ordering="unit__name")
    def unit_link(self, obj):
        url = reverse(f"{self.admin_site.name}:registry_unit_change", args=[obj.unit_id])
        return format_html('<a href="{}">{}</a>', url, obj.unit)

    @admin.display(description=_("aktiv"), boolean=True)
    def active_display(self, obj):
        return not obj.non_active and location_number_valid_on(obj, timezone.localdate())

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = LocationNumberChangeForm if obj is not None else LocationNumberAddForm
        request.sor_editing = obj  # for the code-list choices
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            fieldsets = [
                (_("Lokationsnummer"), {"fields": ["unit", "gln", ("from_date", "first_from_date")]}),
                (_("Leverandører"), {"fields": SUPPLIER_ROWS}),
                (_("EDI"), {"fields": ["edi_message_types", ("only_internal", "non_active"), "note"]}),
            ]
        else:
            fieldsets = [
                (_("Lokationsnummer"), {"fields": ["unit_link", "gln", ("from_date", "first_from_date"),
                                                    ("to_date", "updated_at_date"), "status_present"]}),
                (_("Leverandører"), {"fields": SUPPLIER_ROWS}),
                (_("EDI"), {"fields": ["edi_message_types", ("only_internal", "non_active"), "note"]}),
            ]
        if obj is None or self.has_change_permission(request, obj):
            fieldsets.append((_("Begrundelse"), {"fields": ["reason"] + (["seen_version"] if obj else [])}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("unit_link", "gln", "to_date", "updated_at_date")

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        if object_id is not None:
            obj = self.get_object(request, object_id)
            if obj is not None and obj.to_date is None and self.has_change_permission(request, obj):
                extra_context["sor_object_links"] = [
                    (self.object_action_url(obj, "close"), gettext("Luk lokationsnummer"))]
        return super().changeform_view(request, object_id, form_url, extra_context)

    def close_view(self, request, object_id):
        obj, refused = self.get_object_or_refuse(request, object_id, self.has_change_permission)
        if refused:
            return refused
        if request.method == "POST":
            form = LocationNumberCloseForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    with transaction.atomic():
                        location_number_close(actor=request.user, reason=data["reason"], origin="admin",
                                              location_number=obj.pk, to_date=data["to_date"])
                except DomainError as error:
                    add_domain_error(form, error)
                else:
                    self.log_change(request, obj, gettext("Lukket pr. %(date)s") % {"date": data["to_date"]})
                    messages.success(request, gettext("Lokationsnummer %(gln)s er lukket pr. %(date)s.")
                                     % {"gln": obj.gln, "date": data["to_date"].strftime("%d-%m-%Y")})
                    return HttpResponseRedirect(
                        reverse(f"{self.admin_site.name}:registry_locationnumber_change", args=[obj.pk]))
        else:
            form = LocationNumberCloseForm(initial={"to_date": timezone.localdate()})
        return self.render_action_form(
            request, obj, form, title=gettext("Luk lokationsnummer %s") % obj.gln,
            submit_label=gettext("Luk lokationsnummeret"),
            intro=gettext("Enheden forbliver åben; fra lukkedatoen har den intet eget lokationsnummer."),
        )
