"""Staff users with their SOR profile: the region a regional administrator maintains."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from registry.models import StaffProfile


class StaffProfileInline(admin.StackedInline):
    model = StaffProfile
    can_delete = False
    max_num = 1
    verbose_name = _("SOR-profil")
    verbose_name_plural = _("SOR-profil")
    fields = ("region",)


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    """Django's user admin plus the SOR profile; the role is the user's group."""

    inlines = [StaffProfileInline]
    list_display = ("username", "first_name", "last_name", "is_active", "role", "region")
    list_select_related = ("sor_profile__region",)

    @admin.display(description=_("rolle"))
    def role(self, obj):
        return ", ".join(group.name for group in obj.groups.all())

    @admin.display(description=_("region"))
    def region(self, obj):
        profile = getattr(obj, "sor_profile", None)
        return profile.region if profile and profile.region else "-"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")
