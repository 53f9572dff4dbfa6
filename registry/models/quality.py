"""Duplicate detection (issue 16): runs and the candidate groups they find.

Not register data: no row history. A `DuplicateGroup` is one set of units a rule says may be the
same actor, identified across runs by its `key` (the rule and the sorted SOR-IDs); `compared`
holds the values the rule compared, so a group dismissed as "not a duplicate" stays dismissed
until one of those values changes.
"""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _


class RunStatus(models.TextChoices):
    RUNNING = "running", _("kører")
    DONE = "done", _("færdig")
    FAILED = "failed", _("fejlet")


class DuplicateRun(models.Model):
    trigger = models.CharField(_("startet af"), max_length=16, default="on_demand")
    started_at = models.DateTimeField(_("startet"), auto_now_add=True)
    finished_at = models.DateTimeField(_("færdig"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=RunStatus.choices, default=RunStatus.RUNNING)
    # rule → number of candidate groups seen in this run
    counts = models.JSONField(_("fund pr. regel"), default=dict, blank=True)
    error = models.TextField(_("fejl"), blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("af"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = _("dubletkørsel")
        verbose_name_plural = _("dubletkørsler")
        ordering = ["-started_at", "-id"]

    def __str__(self):
        return f"{self.started_at:%d-%m-%Y %H:%M} ({self.get_status_display()})"


class GroupStatus(models.TextChoices):
    OPEN = "open", _("åben")
    DISMISSED = "dismissed", _("ikke en dublet")
    MERGED = "merged", _("lagt sammen")
    GONE = "gone", _("forsvundet")


class DuplicateGroup(models.Model):
    rule = models.CharField(_("regel"), max_length=40)
    key = models.CharField(_("nøgle"), max_length=500, unique=True)
    unit_ids = ArrayField(models.BigIntegerField(), verbose_name=_("enheder"))
    score = models.PositiveSmallIntegerField(_("score"))
    reason = models.TextField(_("begrundelse"))
    compared = models.JSONField(_("sammenlignede værdier"), default=dict, encoder=DjangoJSONEncoder)
    status = models.CharField(_("status"), max_length=10, choices=GroupStatus.choices, default=GroupStatus.OPEN)
    dismissed_reason = models.TextField(_("begrundelse for ikke en dublet"), blank=True)
    dismissed_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("afvist af"), null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    dismissed_at = models.DateTimeField(_("afvist"), null=True, blank=True)
    first_run = models.ForeignKey(DuplicateRun, verbose_name=_("først fundet"), on_delete=models.PROTECT,
                                  related_name="+")
    last_run = models.ForeignKey(DuplicateRun, verbose_name=_("sidst fundet"), on_delete=models.PROTECT,
                                 related_name="+")

    class Meta:
        verbose_name = _("mulig dublet")
        verbose_name_plural = _("mulige dubletter")
        ordering = ["-score", "rule", "id"]
        indexes = [models.Index(fields=["status", "-score"], name="dupgroup_status")]

    def __str__(self):
        return f"{self.rule}: {', '.join(map(str, self.unit_ids))}"
