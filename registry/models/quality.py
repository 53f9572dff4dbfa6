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
        from django.utils import timezone

        return f"{timezone.localtime(self.started_at):%d-%m-%Y %H:%M} ({self.get_status_display()})"


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


class QualityRun(models.Model):
    """A data-quality control run: `counts` is the number of open findings per rule after it
    (the series the admin's chart draws)."""

    trigger = models.CharField(_("startet af"), max_length=16, default="on_demand")
    started_at = models.DateTimeField(_("startet"), auto_now_add=True)
    finished_at = models.DateTimeField(_("færdig"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=RunStatus.choices, default=RunStatus.RUNNING)
    counts = models.JSONField(_("åbne fund pr. regel"), default=dict, blank=True)
    error = models.TextField(_("fejl"), blank=True)

    class Meta:
        verbose_name = _("kontrolkørsel")
        verbose_name_plural = _("kontrolkørsler")
        ordering = ["-started_at", "-id"]

    def __str__(self):
        from django.utils import timezone

        return f"{timezone.localtime(self.started_at):%d-%m-%Y %H:%M} ({self.get_status_display()})"


class Severity(models.TextChoices):
    ERROR = "error", _("fejl")
    WARNING = "warning", _("advarsel")
    INFO = "info", _("info")


class Finding(models.Model):
    """One data-quality finding: the same finding across runs while rule, unit and the offending
    value are the same (`key`); resolved when a later run no longer sees it."""

    key = models.CharField(_("nøgle"), max_length=600, unique=True)
    rule = models.CharField(_("regel"), max_length=48)
    severity = models.CharField(_("alvor"), max_length=8, choices=Severity.choices)
    unit = models.ForeignKey("registry.Unit", verbose_name=_("enhed"), on_delete=models.PROTECT, related_name="+")
    value = models.CharField(_("værdi"), max_length=300, blank=True)
    message = models.TextField(_("besked"))
    first_run = models.ForeignKey(QualityRun, verbose_name=_("først set"), on_delete=models.PROTECT, related_name="+")
    last_run = models.ForeignKey(QualityRun, verbose_name=_("sidst set"), on_delete=models.PROTECT, related_name="+")
    first_seen_at = models.DateTimeField(_("først set"), auto_now_add=True)
    resolved_at = models.DateTimeField(_("løst"), null=True, blank=True)
    case = models.ForeignKey("registry.Case", verbose_name=_("sag"), null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")

    class Meta:
        verbose_name = _("datakvalitetsfund")
        verbose_name_plural = _("datakvalitetsfund")
        ordering = ["severity", "rule", "unit_id"]
        indexes = [models.Index(fields=["resolved_at", "rule"], name="finding_open_rule")]

    def __str__(self):
        from registry.quality.control import RULE_LABELS

        return f"{RULE_LABELS.get(self.rule, self.rule)}: {self.unit_id}"
