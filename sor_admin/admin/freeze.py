"""Freeze windows in the staff admin: SOR-administrators declare and end them (through
`registry.freeze`); everyone else reads them."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from registry import freeze
from registry.errors import DomainError
from registry.models import FreezeWindow
from registry.permissions import is_sor_admin

from .base import add_domain_error


class FreezeWindowForm(forms.ModelForm):
    class Meta:
        model = FreezeWindow
        fields = ("starts_at", "ends_at", "reason", "allow_imports", "allow_scheduled")

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.instance = freeze.freeze_add(actor=self.request.user, starts_at=data["starts_at"],
                                              ends_at=data["ends_at"], reason=data["reason"],
                                              allow_imports=data["allow_imports"],
                                              allow_scheduled=data["allow_scheduled"])
        except DomainError as error:
            add_domain_error(self, error)
        return data


@admin.register(FreezeWindow)
class FreezeWindowAdmin(admin.ModelAdmin):
    list_display = ("reason", "starts_at", "ends_at", "in_force", "allow_imports", "allow_scheduled", "created_by",
                    "ended_by")
    readonly_fields = ("created_by", "created_at", "ended_by")
    actions = ["end_now"]

    @admin.display(description=_("gælder nu"), boolean=True)
    def in_force(self, obj):
        return obj.starts_at <= timezone.now() < obj.ends_at

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        class WithRequest(form):
            def __init__(self, *args, **inner):
                super().__init__(*args, request=request, **inner)

        return WithRequest

    def save_model(self, request, obj, form, change):
        pass  # freeze_add saved it while the form was cleaned

    def has_add_permission(self, request):
        return is_sor_admin(request.user)

    def has_change_permission(self, request, obj=None):
        return obj is None and is_sor_admin(request.user)  # windows are ended, not edited

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    @admin.action(description=_("Afslut de valgte frysevinduer nu"))
    def end_now(self, request, queryset):
        for window in queryset:
            try:
                freeze.freeze_end(actor=request.user, window=window)
            except DomainError as error:
                self.message_user(request, str(error), messages.ERROR)
            else:
                self.message_user(request, gettext("Frysevinduet %(w)s er afsluttet.") % {"w": window.reason})
