"""Change-sets: the one engine that proposes, previews, approves and applies a group of changes.

A `ChangeSet` holds typed `Change` items (what each type means: `registry.changesets.types`) and
a typed timeline of `ChangeSetEvent` rows (`registry.changeset.*` codes), apart from row
history. Applying a set is one recorded operation (kind `change_set`, provenance naming the
set); the set points to it. Neither model is register data, so neither has row history: the
timeline is their history.
"""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _


class ChangeSetStatus(models.TextChoices):
    DRAFT = "draft", _("kladde")
    SUBMITTED = "submitted", _("indsendt")
    APPROVED = "approved", _("godkendt")
    APPLIED = "applied", _("gennemført")
    REJECTED = "rejected", _("afvist")
    CANCELLED = "cancelled", _("annulleret")
    FAILED = "failed", _("fejlet")
    # Applied, and an inverse set has been drafted to undo it (`reverted_by` on the inverse).
    REVERTED = "reverted", _("tilbageført")


class Risk(models.TextChoices):
    LOW = "low", _("lav")
    HIGH = "high", _("høj")


class ChangeSet(models.Model):
    name = models.CharField(_("navn"), max_length=200)
    reason = models.TextField(_("begrundelse"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("oprettet af"), null=True, blank=True,
                               on_delete=models.PROTECT, related_name="+")
    effective_date = models.DateField(_("gældende fra"))
    status = models.CharField(_("status"), max_length=16, choices=ChangeSetStatus.choices,
                              default=ChangeSetStatus.DRAFT)
    risk = models.CharField(_("risiko"), max_length=8, choices=Risk.choices, default=Risk.LOW)
    # Why it was rejected, cancelled or failed (the timeline has the whole story).
    status_reason = models.TextField(_("årsag"), blank=True)
    created_at = models.DateTimeField(_("oprettet"), auto_now_add=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("godkendt af"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    # "person" (another SOR-administrator) or "policy" (a low-risk set its author may make).
    approval = models.CharField(_("godkendelse"), max_length=8, blank=True)
    applied_at = models.DateTimeField(_("gennemført"), null=True, blank=True)
    operation = models.ForeignKey("registry.Operation", verbose_name=_("operation"), null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="+")
    # An inverse set names the set it undoes; the original's `inverses` lead back to it.
    reverts = models.ForeignKey("self", verbose_name=_("tilbagefører"), null=True, blank=True,
                                on_delete=models.PROTECT, related_name="inverses")
    submitted_at = models.DateTimeField(_("indsendt"), null=True, blank=True)
    # Where the set comes from (e.g. {"case": "SOR-2026-00042"}): added to the provenance of the
    # operation that applies it, so history leads back to the case (or merge) that proposed it.
    provenance = models.JSONField(_("oprindelse"), default=dict, blank=True)

    class Meta:
        verbose_name = _("ændringssæt")
        verbose_name_plural = _("ændringssæt")
        ordering = ["-created_at", "-id"]
        permissions = [("approve_changeset", _("Kan godkende andres ændringssæt med høj risiko"))]
        indexes = [models.Index(fields=["status", "-created_at"], name="changeset_status")]

    def __str__(self):
        return f"{self.name} (nr. {self.pk})"


class Change(models.Model):
    """One typed item of a set. `unit_id` is the unit it is about (the holder for location-number
    changes; empty for a new unit), `base_version` that unit's version when the change was
    drafted: a different version at submit or apply means somebody changed the unit since."""

    changeset = models.ForeignKey(ChangeSet, verbose_name=_("ændringssæt"), on_delete=models.CASCADE,
                                  related_name="changes")
    position = models.PositiveIntegerField(_("nr."))
    kind = models.CharField(_("ændringstype"), max_length=32)
    unit_id = models.BigIntegerField(_("SOR-ID"), null=True, blank=True)
    target = models.CharField(_("mål"), max_length=200, blank=True)
    field = models.CharField(_("felt"), max_length=200, blank=True)
    value = models.TextField(_("værdi"), blank=True)
    base_version = models.PositiveIntegerField(_("version ved kladde"), null=True, blank=True)
    description = models.TextField(_("beskrivelse"), blank=True)
    # The group a selection expanded into (e.g. "retype entity_type=…"): shown together.
    group = models.CharField(_("gruppe"), max_length=200, blank=True)
    # The rows that undo it, as the register stood just before it was applied (revert, part 2).
    inverse = models.JSONField(_("modsat ændring"), default=list, blank=True)

    class Meta:
        verbose_name = _("ændring")
        verbose_name_plural = _("ændringer")
        ordering = ["changeset", "position"]
        constraints = [models.UniqueConstraint(fields=["changeset", "position"], name="change_position_unique")]

    def __str__(self):
        return f"{self.position}: {self.description or self.kind}"


class ChangeSetEvent(models.Model):
    """The set's timeline: `registry.changeset.created|changes_added|submitted|approved|rejected|
    cancelled|applied|failed`, with who and when."""

    changeset = models.ForeignKey(ChangeSet, verbose_name=_("ændringssæt"), on_delete=models.CASCADE,
                                  related_name="events")
    code = models.CharField(_("hændelse"), max_length=64)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("af"), null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(_("tidspunkt"), auto_now_add=True)
    note = models.TextField(_("note"), blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        verbose_name = _("hændelse på ændringssæt")
        verbose_name_plural = _("hændelser på ændringssæt")
        ordering = ["at", "id"]

    def __str__(self):
        return self.code


class FreezeWindow(models.Model):
    """A time in which the register is frozen (as in April 2018, when no updates were possible for
    three days while a new register was loaded): the services refuse edits from everyone but
    SOR-administrators, imports and scheduled sets wait for the first nightly run after it
    unless the window lets them through. Change-sets may still be proposed and decided."""

    starts_at = models.DateTimeField(_("fra"))
    ends_at = models.DateTimeField(_("til"))
    reason = models.TextField(_("begrundelse"))
    allow_imports = models.BooleanField(_("import tilladt"), default=False)
    allow_scheduled = models.BooleanField(_("planlagte ændringssæt tilladt"), default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("oprettet af"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("oprettet"), auto_now_add=True)
    ended_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("afsluttet af"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("frysevindue")
        verbose_name_plural = _("frysevinduer")
        ordering = ["-starts_at", "-id"]
        constraints = [models.CheckConstraint(condition=models.Q(ends_at__gt=models.F("starts_at")),
                                              name="freeze_window_ends_after_start")]

    def __str__(self):
        return f"{self.reason} ({self.starts_at:%d-%m-%Y %H:%M} – {self.ends_at:%d-%m-%Y %H:%M})"
