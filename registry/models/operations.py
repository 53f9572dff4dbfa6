"""Operations and the change log: who did what, and every change in commit order.

An **operation** is one recorded action (a staff edit, an import, a task run, an applied
change-set); a **change event** is one entry of the change log that every write appends to in the
same transaction. Neither is register data, so neither has history of its own.
"""

import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _


class Origin(models.TextChoices):
    """Where a write came from (also on every history row)."""

    ADMIN = "admin", _("administration")
    IMPORT = "import", _("import")
    TASK = "task", _("baggrundsjob")
    COMMAND = "command", _("kommando")
    API = "api", _("API")
    SELF_SERVICE = "self_service", _("selvbetjening")
    MIGRATION = "migration", _("migrering")


class OperationKind(models.TextChoices):
    ADMIN_EDIT = "admin_edit", _("redigering i administrationen")
    ADMIN_BULK = "admin_bulk", _("massehandling i administrationen")
    SPREADSHEET_IMPORT = "spreadsheet_import", _("regnearksimport")
    XML_IMPORT = "xml_import", _("XML-import")
    CHANGE_SET = "change_set", _("ændringssæt")
    CHANGE_REQUEST = "change_request", _("rettelsesanmodning")
    MERGE = "merge", _("sammenlægning af dubletter")
    TASK = "task", _("baggrundsjob")
    COMMAND = "command", _("kommando")
    API = "api", _("API")
    MIGRATION = "migration", _("migrering")


class Operation(models.Model):
    """One recorded action: every history row and change event points to exactly one.

    Written when it opens, as the first statement of its transaction (or savepoint), and removed
    when it ends if nothing written under it remains: an operation that was rolled back, was a
    dry run or changed nothing leaves no row. `uuid` is the id shown to
    staff (it was the history rows' batch id before operations had a table). Consequence: a
    nightly run that applies several change-sets is a parent operation committed on its own,
    with one child operation per set, each in its own transaction."""

    uuid = models.UUIDField(_("operations-id"), default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("art"), max_length=24, choices=OperationKind.choices)
    origin = models.CharField(_("oprindelse"), max_length=16, choices=Origin.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("udført af"), null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField(_("begrundelse"))
    parent = models.ForeignKey("self", verbose_name=_("del af operation"), null=True, blank=True,
                               on_delete=models.PROTECT, related_name="children")
    # Structured, never inside the reason: {"file_name", "size", "sha256"}, later the change-set or case.
    provenance = models.JSONField(_("proveniens"), default=dict, blank=True)
    started_at = models.DateTimeField(_("startet"))
    finished_at = models.DateTimeField(_("afsluttet"), null=True, blank=True)

    class Meta:
        verbose_name = _("operation")
        verbose_name_plural = _("operationer")
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["-started_at", "-id"], name="operation_started")]

    def __str__(self):
        from django.utils import timezone

        return f"{self.get_kind_display()} {timezone.localtime(self.started_at):%d-%m-%Y %H:%M} (nr. {self.pk})"


class EventEntity(models.TextChoices):
    UNIT = "unit", _("enhed")
    LOCATION_NUMBER = "location_number", _("lokationsnummer")
    MESSAGE_TYPE_LINK = "message_type_link", _("EDI-meddelelsestype på lokationsnummer")
    CODE = "code", _("kode")


class EventKind(models.TextChoices):
    CREATED = "created", _("oprettet")
    CHANGED = "changed", _("ændret")
    MOVED = "moved", _("flyttet")
    CLOSED = "closed", _("lukket")
    REOPENED = "reopened", _("genåbnet")
    EFFECTIVE_CHANGED = "effective_changed", _("nedarvede værdier ændret")
    # Written by the nightly run when a dated change comes into force without an edit that day.
    TOOK_EFFECT = "took_effect", _("trådt i kraft")
    LOCATION_NUMBER_ASSIGNED = "location_number_assigned", _("lokationsnummer tildelt")
    LOCATION_NUMBER_MOVED = "location_number_moved", _("lokationsnummer flyttet")
    LOCATION_NUMBER_CLOSED = "location_number_closed", _("lokationsnummer lukket")
    LOCATION_NUMBER_REOPENED = "location_number_reopened", _("lokationsnummer genåbnet")
    MESSAGE_TYPES_CHANGED = "message_types_changed", _("EDI-meddelelsestyper ændret")
    MERGED_INTO = "merged_into", _("lagt sammen med")
    CODE_RETIRED = "code_retired", _("kode udgået")
    # Register rows are closed, never deleted; kept so that a deletion could never pass unlogged.
    DELETED = "deleted", _("slettet")


class ChangeEvent(models.Model):
    """One entry of the change log: one row touched (or one unit whose inherited values changed),
    with every changed field's old and new value, so any past state can be rebuilt from the log.

    `seq` is assigned when the writing transaction is about to commit, under a lock held until
    the commit (ADR 0008): sequence numbers become visible in commit order, without gaps, so a
    reader paging with `seq > N` never misses an event. Consequence: inside a transaction that
    has not finished its operation yet, its events have no `seq`, and readers never see them."""

    seq = models.BigIntegerField(_("løbenummer"), null=True, blank=True, unique=True)
    operation = models.ForeignKey(Operation, verbose_name=_("operation"), on_delete=models.PROTECT,
                                  related_name="events")
    entity = models.CharField(_("objekttype"), max_length=24, choices=EventEntity.choices)
    model = models.CharField(_("tabel"), max_length=48)
    object_id = models.CharField(_("objekt-id"), max_length=40)
    # The unit the event concerns (the unit itself, or the unit of a location number); none for codes.
    unit_id = models.BigIntegerField(_("SOR-ID"), null=True, blank=True)
    kind = models.CharField(_("hændelse"), max_length=32, choices=EventKind.choices)
    changes = models.JSONField(_("ændringer"), default=dict, encoder=DjangoJSONEncoder)
    # The clock when `seq` was assigned, immediately before the commit and under the same lock,
    # so it never decreases along `seq` (see ADR 0008 for why not track_commit_timestamp).
    sequenced_at = models.DateTimeField(_("registreret"), null=True, blank=True)

    class Meta:
        verbose_name = _("hændelse i ændringsloggen")
        verbose_name_plural = _("ændringslog")
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["operation", "id"], name="event_operation"),
            models.Index(fields=["unit_id", "seq"], name="event_unit_seq"),
            models.Index(fields=["model", "object_id", "seq"], name="event_object_seq"),
            models.Index(fields=["id"], condition=models.Q(seq__isnull=True), name="event_unsequenced"),
            # The read API's modified_since: the first position at or after a time.
            models.Index(fields=["sequenced_at"], name="event_sequenced_at"),
        ]

    def __str__(self):
        return f"#{self.seq} {self.kind} {self.model} {self.object_id}"
