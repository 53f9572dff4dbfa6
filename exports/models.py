"""Export runs: one row per attempt to build and publish the day's SOR files."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ExportRun(models.Model):
    """One attempt to build, check and publish the files for one snapshot date.

    The row is the visible trace of the nightly chain: status, steps, counts, the gate's diff
    against the last published files, the log, file checksums and the staff decision on a held
    run. Consequence: at most one run per date can be open (pending, running or held) at a time
    (a database constraint), so a second nightly trigger for the same date cannot build or
    publish twice; a run whose worker died is detected (its PostgreSQL advisory lock is gone),
    marked failed and replaced by a new row, never resumed in place."""

    class Status(models.TextChoices):
        PENDING = "pending", _("venter")
        RUNNING = "running", _("kører")
        SUCCEEDED = "succeeded", _("publiceret")
        HELD = "held", _("tilbageholdt")
        FAILED = "failed", _("fejlet")
        REJECTED = "rejected", _("afvist")

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("natlig kørsel")
        ADMIN = "admin", _("startet af en medarbejder")
        COMMAND = "command", _("kommando")
        RETRY = "retry", _("nyt forsøg efter tabt arbejder")

    class Decision(models.TextChoices):
        RELEASED = "released", _("frigivet")
        REJECTED = "rejected", _("afvist")

    OPEN_STATUSES = (Status.PENDING, Status.RUNNING, Status.HELD)
    # The chain's steps in order (the `step` column holds the key).
    STEPS = {
        "activate": _("aktivering af planlagte ændringer"),
        "build": _("dannelse af filerne"),
        "validate": _("kontrol af filerne"),
        "gate": _("publiceringskontrol"),
        "publish": _("publicering"),
    }

    snapshot_date = models.DateField(_("dato for udtræk"))
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PENDING)
    trigger = models.CharField(_("startet af"), max_length=12, choices=Trigger.choices, default=Trigger.SCHEDULE)
    step = models.CharField(_("trin"), max_length=20, blank=True)
    progress = models.CharField(_("fremdrift"), max_length=200, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("bestilt af"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )
    parameters = models.JSONField(_("parametre"), default=dict, blank=True)
    attempt = models.PositiveSmallIntegerField(_("forsøg"), default=1)
    previous_attempt = models.ForeignKey(
        "self", verbose_name=_("tidligere forsøg"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )

    created_at = models.DateTimeField(_("oprettet"), auto_now_add=True)
    started_at = models.DateTimeField(_("startet"), null=True, blank=True)
    finished_at = models.DateTimeField(_("afsluttet"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("sidste livstegn"), null=True, blank=True)
    worker = models.CharField(_("arbejder"), max_length=200, blank=True)
    task_id = models.CharField(_("opgave-id"), max_length=64, blank=True)

    counts = models.JSONField(_("optællinger"), default=dict, blank=True)
    # The change log's last sequence number inside the build's snapshot: the file shows the register
    # with exactly the events up to and including this one.
    changelog_position = models.BigIntegerField(_("ændringslog-position"), null=True, blank=True)
    # exports.BUILDER_VERSION of the code that built the files.
    builder_version = models.CharField(_("dannet med version"), max_length=20, blank=True)
    diff = models.JSONField(_("forskel fra sidste publicering"), null=True, blank=True)
    log = models.TextField(_("log"), blank=True)
    error = models.TextField(_("fejl"), blank=True)

    staging_dir = models.CharField(_("arbejdsmappe"), max_length=500, blank=True)
    published_dir = models.CharField(_("publiceret i"), max_length=500, blank=True)
    published_at = models.DateTimeField(_("publiceret"), null=True, blank=True)
    # {file name: {"sha256": "...", "size": bytes}}
    files = models.JSONField(_("filer"), default=dict, blank=True)

    decision = models.CharField(_("beslutning"), max_length=10, choices=Decision.choices, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("besluttet af"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )
    decided_at = models.DateTimeField(_("besluttet"), null=True, blank=True)
    decision_reason = models.TextField(_("begrundelse"), blank=True)

    class Meta:
        verbose_name = _("publiceringskørsel")
        verbose_name_plural = _("publiceringskørsler")
        ordering = ["-created_at", "-id"]
        permissions = [
            ("run_export", _("Kan starte publicering")),
            ("decide_export", _("Kan frigive eller afvise en tilbageholdt publicering")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot_date"], condition=models.Q(status__in=["pending", "running", "held"]),
                name="exportrun_one_open_per_date",
            ),
        ]
        indexes = [models.Index(fields=["snapshot_date", "status"], name="exportrun_date_status")]

    def __str__(self):
        return f"#{self.pk} {self.snapshot_date} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @property
    def step_label(self) -> str:
        return str(self.STEPS.get(self.step, self.step))

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None
