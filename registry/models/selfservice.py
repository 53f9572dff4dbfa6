"""Clinic self-service and the SOR-responsible person's half-yearly follow-up (ADR 0015).

`SorResponsible` is the one person an owner names as responsible for its SOR data. It is not
SOR data: it is never in the file, the API or the public change log; it has row history (each
row stamped with its operation) like the register, and only the services write it.

`SelfServiceLink` is a one-time link mailed to an address registered in SOR: it proves that the
requester controls that address. Only the SHA-256 of the token is kept. `OutgoingMail` is a mail
sent by the system that belongs to no case yet (a link, a reminder); `FollowUpReminder` is the
exactly-once ledger of reminders: one row per owner, round and number (1 or 2).
"""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from ..audit import AuditedHistory, GuardedManager
from .cases import OutgoingStatus


class SorResponsible(models.Model):
    """The owner's SOR-responsible person, and when the owner's data was last confirmed."""

    owner = models.OneToOneField("registry.Unit", verbose_name=_("institutionsejer"), primary_key=True,
                                 on_delete=models.PROTECT, related_name="sor_responsible")
    name = models.CharField(_("navn"), max_length=200)
    email = models.EmailField(_("e-mail"), max_length=254)
    phone = models.CharField(_("telefon"), max_length=20, blank=True)
    # When the person was named: the first half-year is counted from here.
    named_at = models.DateTimeField(_("udpeget"))
    last_confirmed_at = models.DateTimeField(_("sidst bekræftet"), null=True, blank=True)
    last_confirmed_case = models.ForeignKey("registry.Case", verbose_name=_("bekræftet i sag"), null=True, blank=True,
                                            on_delete=models.PROTECT, related_name="+")

    objects = GuardedManager()
    history = HistoricalRecords(bases=[AuditedHistory])

    # Not SOR data: the change log (public) gets no events for it; history and operation only.
    sor_private = True

    class Meta:
        verbose_name = _("SOR-ansvarlig")
        verbose_name_plural = _("SOR-ansvarlige")
        ordering = ["owner_id"]

    def __str__(self):
        return f"{self.name} <{self.email}>"


class LinkPurpose(models.TextChoices):
    REQUEST = "request", _("rettelse fra selvbetjening")
    FOLLOW_UP = "follow_up", _("halvårlig opfølgning")


class SelfServiceLink(models.Model):
    """A one-time link sent to a registered address. For a request it carries the proposed
    changes (`rows`, the changes-file rows) until the link is followed; then the case is created.
    For a follow-up it lets the SOR-responsible person confirm or correct the owner's data."""

    token_sha256 = models.CharField(_("token (SHA-256)"), max_length=64, unique=True)
    purpose = models.CharField(_("formål"), max_length=12, choices=LinkPurpose.choices)
    unit = models.ForeignKey("registry.Unit", verbose_name=_("enhed"), on_delete=models.PROTECT, related_name="+")
    owner = models.ForeignKey("registry.Unit", verbose_name=_("institutionsejer"), on_delete=models.PROTECT,
                              related_name="+")
    email = models.EmailField(_("sendt til"), max_length=254)
    address_label = models.CharField(_("adressens kilde"), max_length=200, blank=True)
    rows = models.JSONField(_("foreslåede ændringer"), default=list, blank=True, encoder=DjangoJSONEncoder)
    requester_name = models.CharField(_("anmoder"), max_length=200, blank=True)
    requester_phone = models.CharField(_("anmoders telefon"), max_length=40, blank=True)
    requester_email = models.EmailField(_("anmoders e-mail"), max_length=254, blank=True)
    message = models.TextField(_("besked"), blank=True)
    created_at = models.DateTimeField(_("oprettet"), auto_now_add=True)
    expires_at = models.DateTimeField(_("udløber"))
    used_at = models.DateTimeField(_("brugt"), null=True, blank=True)
    case = models.ForeignKey("registry.Case", verbose_name=_("sag"), null=True, blank=True, on_delete=models.PROTECT,
                             related_name="+")

    class Meta:
        verbose_name = _("engangslink")
        verbose_name_plural = _("engangslinks")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.get_purpose_display()}: {self.unit_id} → {self.email}"


class OutgoingMail(models.Model):
    """A mail from the system that belongs to no case: written here first, sent by the worker
    after commit (the same sender as case replies, `registry.cases.replies`)."""

    purpose = models.CharField(_("formål"), max_length=32)
    message_id = models.CharField(_("Message-ID"), max_length=998)
    sender = models.CharField(_("fra"), max_length=500, blank=True)
    recipients = models.CharField(_("til"), max_length=2000)
    subject = models.CharField(_("emne"), max_length=1000)
    text = models.TextField(_("tekst"))
    status = models.CharField(_("afsendelse"), max_length=8, choices=OutgoingStatus.choices,
                              default=OutgoingStatus.QUEUED)
    error = models.TextField(_("fejl"), blank=True)
    created_at = models.DateTimeField(_("oprettet"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sendt"), null=True, blank=True)
    class Meta:
        verbose_name = _("udgående mail")
        verbose_name_plural = _("udgående mails")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.subject} → {self.recipients}"[:120]


class FollowUpReminder(models.Model):
    """One reminder of one round (the round is its due date): number 1, then once more number
    2; the unique constraint makes each go out once however often the task runs."""

    owner = models.ForeignKey("registry.Unit", verbose_name=_("institutionsejer"), on_delete=models.PROTECT,
                              related_name="+")
    due_on = models.DateField(_("frist"))
    number = models.PositiveSmallIntegerField(_("påmindelse nr."))
    email = models.EmailField(_("sendt til"), max_length=254)
    mail = models.ForeignKey(OutgoingMail, verbose_name=_("mail"), on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("oprettet"), auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("af"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = _("påmindelse")
        verbose_name_plural = _("påmindelser")
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["owner", "due_on", "number"], name="followup_once")]

    def __str__(self):
        return f"{self.owner_id} {self.due_on} #{self.number}"
