"""Import jobs: one row per run of an import (XML file or spreadsheet), dry run or real.

The row is what staff see while a national-size file is read in the background: status,
progress, counts, the per-unit preview, the first errors with their lines, the log and the
operation the import wrote. The command line makes a row too, so "who is importing now" always
has an answer. The uploaded file waits in `stored_path` until the import is done or refused."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ImportJob(models.Model):
    class Kind(models.TextChoices):
        XML = "xml", _("SOR XML-fil")
        SPREADSHEET = "spreadsheet", _("regneark med rettelser")

    class Status(models.TextChoices):
        PENDING = "pending", _("venter")
        RUNNING = "running", _("kører")
        SUCCEEDED = "succeeded", _("færdig")
        FAILED = "failed", _("fejlet")
        REFUSED = "refused", _("afvist")
        # A real import asked for inside a freeze window: it runs in the first nightly run after it.
        WAITING = "waiting", _("venter på frysevindue")

    class Trigger(models.TextChoices):
        ADMIN = "admin", _("administrationen")
        COMMAND = "command", _("kommando")

    OPEN_STATUSES = (Status.PENDING, Status.RUNNING)

    kind = models.CharField(_("slags"), max_length=12, choices=Kind.choices, default=Kind.XML)
    dry_run = models.BooleanField(_("prøvekørsel"), default=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PENDING)
    trigger = models.CharField(_("startet fra"), max_length=12, choices=Trigger.choices, default=Trigger.ADMIN)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("startet af"), null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField(_("begrundelse"), blank=True)
    # The dry run this real import confirms (same file, same sha256).
    preview_of = models.ForeignKey("self", verbose_name=_("prøvekørsel"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="confirmations")
    file_name = models.CharField(_("filnavn"), max_length=255)
    stored_path = models.CharField(_("gemt fil"), max_length=500, blank=True)
    size = models.BigIntegerField(_("størrelse (bytes)"), default=0)
    sha256 = models.CharField(_("sha256"), max_length=64, blank=True)
    options = models.JSONField(_("valg"), default=dict, blank=True)

    created_at = models.DateTimeField(_("oprettet"), auto_now_add=True)
    started_at = models.DateTimeField(_("startet"), null=True, blank=True)
    finished_at = models.DateTimeField(_("afsluttet"), null=True, blank=True)
    task_id = models.CharField(_("opgave-id"), max_length=64, blank=True)
    # Bytes of the file read so far, of `progress_total`: the progress bar.
    progress_done = models.BigIntegerField(_("læst"), default=0)
    progress_total = models.BigIntegerField(_("i alt"), default=0)

    counts = models.JSONField(_("optællinger"), default=dict, blank=True)
    preview = models.JSONField(_("forhåndsvisning"), default=dict, blank=True)
    errors = models.JSONField(_("fejl"), default=list, blank=True)
    # The change log's position when the dry run read the register: a confirm after further
    # changes is refused, so what is confirmed is what was previewed.
    changelog_position = models.BigIntegerField(_("ændringslog-position"), null=True, blank=True)
    operation = models.ForeignKey("registry.Operation", verbose_name=_("operation"), null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="+")
    summary = models.TextField(_("resultat"), blank=True)
    log = models.TextField(_("log"), blank=True)

    class Meta:
        verbose_name = _("importkørsel")
        verbose_name_plural = _("importkørsler")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        what = _("prøvekørsel") if self.dry_run else _("import")
        return f"#{self.pk} {what} {self.file_name} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES
