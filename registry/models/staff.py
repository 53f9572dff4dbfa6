from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .codes import Region


class StaffProfile(models.Model):
    """What a staff user may maintain beyond their role: a regional administrator's region.

    Consequence: a regional administrator without a region can change nothing."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sor_profile")
    region = models.ForeignKey(Region, verbose_name=_("region"), null=True, blank=True, on_delete=models.PROTECT)

    class Meta:
        verbose_name = _("medarbejderprofil")
        verbose_name_plural = _("medarbejderprofiler")

    def __str__(self):
        return f"{self.user} ({self.region or '-'})"
