from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from ..audit import AuditedHistory, GuardedManager
from .codes import EdiAdministrator, EdiMessageType, NetworkOperator, Region, SystemSupplier, SystemType
from .units import Unit


class LocationNumber(models.Model):
    """A lokationsnummer (13-digit GLN): the electronic mailbox messages are routed to.

    It belongs to exactly one unit and is inherited by the units below that have none of their
    own. It has its own validity: it can close while its unit stays open. Consequence: an active
    GLN is unique across the register (a database constraint), a closed one stays for history."""

    gln = models.CharField(_("lokationsnummer"), max_length=13, db_index=True)
    unit = models.ForeignKey(Unit, verbose_name=_("enhed"), on_delete=models.PROTECT, related_name="location_numbers")
    only_internal = models.BooleanField(_("kun intern"), default=False)
    non_active = models.BooleanField(_("ikke aktiv"), default=False)
    system_supplier = models.ForeignKey(SystemSupplier, verbose_name=_("systemleverandør"), null=True, blank=True, on_delete=models.PROTECT)
    system_type = models.ForeignKey(SystemType, verbose_name=_("EDB-system"), null=True, blank=True, on_delete=models.PROTECT)
    network_operator = models.ForeignKey(NetworkOperator, verbose_name=_("netoperatør"), null=True, blank=True, on_delete=models.PROTECT)
    region = models.ForeignKey(Region, verbose_name=_("region"), null=True, blank=True, on_delete=models.PROTECT)
    edi_administrator = models.ForeignKey(EdiAdministrator, verbose_name=_("EDI-administrator"), null=True, blank=True, on_delete=models.PROTECT)
    note = models.CharField(_("note"), max_length=254, blank=True)
    # The SorStatus of the location number is optional in the file.
    status_present = models.BooleanField(_("har datostatus"), default=True)
    from_date = models.DateField(_("gældende fra"), null=True, blank=True)
    to_date = models.DateField(_("gældende til og med"), null=True, blank=True)
    first_from_date = models.DateField(_("først gældende fra"), null=True, blank=True)
    updated_at_date = models.DateField(_("sidst ændret"), null=True, blank=True)
    message_types = models.ManyToManyField(
        EdiMessageType, through="LocationNumberMessageType", verbose_name=_("EDI-meddelelsestyper"), blank=True
    )
    version = models.PositiveIntegerField(_("version"), default=1)

    objects = GuardedManager()
    history = HistoricalRecords(bases=[AuditedHistory])

    class Meta:
        verbose_name = _("lokationsnummer")
        verbose_name_plural = _("lokationsnumre")
        ordering = ["gln"]
        constraints = [
            models.UniqueConstraint(fields=["gln"], condition=models.Q(to_date__isnull=True), name="location_number_active_unique"),
        ]
        indexes = [models.Index(fields=["unit", "gln"], name="location_unit_gln")]

    def __str__(self):
        return self.gln


class LocationNumberMessageType(models.Model):
    """A MedCom message type a location number can receive (own row so it has history)."""

    location_number = models.ForeignKey(LocationNumber, on_delete=models.CASCADE, related_name="message_type_links")
    message_type = models.ForeignKey(EdiMessageType, verbose_name=_("meddelelsestype"), on_delete=models.PROTECT)
    objects = GuardedManager()
    history = HistoricalRecords(bases=[AuditedHistory])

    class Meta:
        verbose_name = _("EDI-meddelelsestype på lokationsnummer")
        verbose_name_plural = _("EDI-meddelelsestyper på lokationsnumre")
        constraints = [
            models.UniqueConstraint(fields=["location_number", "message_type"], name="location_message_type_unique"),
        ]

    def __str__(self):
        return f"{self.location_number_id}: {self.message_type_id}"
