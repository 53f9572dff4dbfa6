from django.contrib import admin

from registry.models import Unit

from .spreadsheets import UnitSpreadsheetAdminMixin


@admin.register(Unit)
class UnitAdmin(UnitSpreadsheetAdminMixin, admin.ModelAdmin):
    list_display = ("sor_id", "name", "level")
    search_fields = ("name",)
