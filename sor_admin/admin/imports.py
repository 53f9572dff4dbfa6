"""Import jobs ("Importkørsler"): read-only list; each row links to its job page with the preview."""

from django.contrib import admin
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from registry.models import ImportJob

from .base import ReadOnlyAdminMixin


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("pk", "job_link", "dry_run", "status", "requested_by", "created_at", "finished_at", "operation")
    list_filter = ("status", "dry_run", "kind", "trigger")
    search_fields = ("file_name", "sha256")
    list_select_related = ("requested_by", "operation")
    date_hierarchy = "created_at"

    def has_view_permission(self, request, obj=None):
        from registry.errors import NotAllowed
        from registry.services.imports import check_import_permission

        try:
            check_import_permission(request.user)
        except NotAllowed:
            return False
        return super().has_view_permission(request, obj)

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    @admin.display(description=_("fil"))
    def job_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("sor_import:job", args=[obj.pk]), obj.file_name)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The job page is the one place a job is read (progress, preview, confirm).
        if not str(object_id).isdigit():
            raise Http404
        return redirect("sor_import:job", int(object_id))
