"""Code list (klassifikation) admins: one generic base for all twelve lists.

A code is never renamed away: its `code` is fixed after creation, its texts change through
`registry.services.codes.code_update`, and it is retired ("udgår") with a successor instead of
deleted. Only users with the list's change permission edit; everyone with view permission reads."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from registry import models as m
from registry.errors import DomainError
from registry.models.codes import usable_codes_q
from registry.services.codes import code_create, code_retire, code_update

from .base import ReasonField, ServiceModelForm, SorModelAdmin, add_domain_error
from .history import HistoryAdminMixin

FIXED = ("code", "retired", "successor")


class CodeForm(ServiceModelForm):
    class Meta:
        fields = "__all__"

    def apply(self, data):
        model = self._meta.model
        values = {name: data[name] for name in self.changed_data
                  if name in self.fields and name not in FIXED and name != "reason"}
        if self.instance.pk is None:
            imported_unnamed = values.pop("imported_unnamed", False)
            return code_create(actor=self.actor, reason=data["reason"], origin="admin", model=model,
                               code=data["code"], imported_unnamed=imported_unnamed, **values)
        return code_update(actor=self.actor, reason=data["reason"], origin="admin", obj=self.instance,
                           changes=values)


class RetireForm(forms.Form):
    successor = forms.ModelChoiceField(
        label=_("Erstattes af"), queryset=None, required=False,
        help_text=_("Den kode, der skal bruges i stedet (tom: ingen efterfølger)."))
    reason = ReasonField()

    def __init__(self, *args, obj, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["successor"].queryset = type(obj).objects.filter(
            usable_codes_q(timezone.localdate())).exclude(pk=obj.pk)


class CodeListAdmin(HistoryAdminMixin, SorModelAdmin):
    form = CodeForm
    list_display = ("code", "danish_name", "name_en", "valid_from", "valid_to", "retired", "imported_unnamed",
                    "successor")
    list_select_related = ("successor",)
    list_filter = ("retired", "imported_unnamed")
    search_fields = ("code", "name_da", "name_en")
    change_form_template = "admin/sor/change_form.html"
    object_actions = [("retire", "retire_view")]
    extra_fields: tuple = ()

    @admin.display(description=_("navn (dansk)"), ordering="name_da")
    def danish_name(self, obj):
        if obj.name_da:
            return obj.name_da
        return format_html('<em class="sor-unknown-name">{}</em>', gettext("dansk navn ukendt"))

    def get_fieldsets(self, request, obj=None):
        main = ["code", ("name_da", "name_en"), *self.extra_fields, ("valid_from", "valid_to"), "note",
                "imported_unnamed"]
        fieldsets = [(_("Kode"), {"fields": main})]
        if obj is not None:
            fieldsets.append((_("Status"), {"fields": [("retired", "successor")]}))
        if obj is None or self.has_change_permission(request, obj):
            fieldsets.append((_("Begrundelse"), {"fields": ["reason"]}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return FIXED if obj is not None else ()

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        if object_id is not None:
            obj = self.get_object(request, object_id)
            if obj is not None and not obj.retired and self.has_change_permission(request, obj):
                extra_context["sor_object_links"] = [(self.object_action_url(obj, "retire"), gettext("Udgå"))]
        return super().changeform_view(request, object_id, form_url, extra_context)

    def retire_view(self, request, object_id):
        obj, refused = self.get_object_or_refuse(request, object_id, self.has_change_permission)
        if refused:
            return refused
        if request.method == "POST":
            form = RetireForm(request.POST, obj=obj)
            if form.is_valid():
                try:
                    with transaction.atomic():
                        code_retire(actor=request.user, reason=form.cleaned_data["reason"], origin="admin",
                                    obj=obj, successor=form.cleaned_data["successor"])
                except DomainError as error:
                    add_domain_error(form, error)
                else:
                    self.log_change(request, obj, gettext("Udgået"))
                    messages.success(request, gettext("%(code)s er udgået.") % {"code": obj})
                    return HttpResponseRedirect(reverse(
                        f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk]))
        else:
            form = RetireForm(obj=obj)
        return self.render_action_form(
            request, obj, form, title=gettext("Udgå: %s") % obj, submit_label=gettext("Udgå koden"),
            intro=gettext("Enheder, der bruger koden, beholder den; staben henvises til efterfølgeren."),
        )


def _register(model, *, extra_fields=(), list_extra=(), list_filter_extra=()):
    related = [name for name in list_extra if model._meta.get_field(name).is_relation]
    attrs = {
        "list_select_related": CodeListAdmin.list_select_related + tuple(related),
        "extra_fields": tuple(extra_fields),
        "list_display": CodeListAdmin.list_display[:3] + tuple(list_extra) + CodeListAdmin.list_display[3:],
        "list_filter": CodeListAdmin.list_filter + tuple(list_filter_extra),
        "__module__": __name__,
    }
    admin_class = type(f"{model.__name__}Admin", (CodeListAdmin,), attrs)
    admin.site.register(model, admin_class)
    return admin_class


OwnerTypeAdmin = _register(m.OwnerType)
EntityTypeAdmin = _register(m.EntityType, extra_fields=["level_hint"], list_extra=["level_hint"])
ClinicalSpecialityAdmin = _register(m.ClinicalSpeciality)
SpecialityTypeAdmin = _register(m.SpecialityType)
RegionAdmin = _register(m.Region)
MunicipalityAdmin = _register(m.Municipality, extra_fields=["region"], list_extra=["region"],
                              list_filter_extra=["region"])
PostalDistrictAdmin = _register(m.PostalDistrict)
NetworkOperatorAdmin = _register(m.NetworkOperator)
SystemSupplierAdmin = _register(m.SystemSupplier)
SystemTypeAdmin = _register(m.SystemType)
EdiAdministratorAdmin = _register(m.EdiAdministrator)
EdiMessageTypeAdmin = _register(
    m.EdiMessageType, extra_fields=[("standard", "version_code"), ("syntax", "message_group"), "urn"],
    list_extra=["standard", "version_code"], list_filter_extra=["message_group"],
)
