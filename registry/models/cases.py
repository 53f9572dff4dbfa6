"""Correction requests (cases): what an owner asked SDS to correct, and the work to an answer.

A `Case` is not register data and has no row history: its `CaseEvent` timeline
(`registry.case.*` codes) is its history. Its proposed changes are change-sets
(`Case.change_sets`), whose operations carry the case's reference in their provenance, so a
unit's history leads back to the case. Mail comes in through `MailIntake`, the exactly-once
ledger: one row per distinct message ever seen (its Message-ID, or a hash of its content when it
has none), whether it became a case, a reply on one, or was quarantined.
"""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _


class CaseStatus(models.TextChoices):
    NEW = "new", _("ny")
    IN_PROGRESS = "in_progress", _("under behandling")
    AWAITING_APPROVAL = "awaiting_approval", _("afventer godkendelse")
    APPLIED = "applied", _("gennemført")
    REJECTED = "rejected", _("afvist")
    ANSWERED = "answered", _("besvaret")
    CLOSED = "closed", _("lukket")


class CaseSource(models.TextChoices):
    EMAIL = "email", _("e-mail")
    SELF_SERVICE = "self_service", _("selvbetjening")
    PHONE = "phone", _("telefon")
    INTERNAL = "internal", _("intern")
    DATA_QUALITY = "data_quality", _("datakvalitetsfund")


class Case(models.Model):
    """One correction request. `region` is the region of the units it concerns (the first linked
    unit's): a regional administrator works the cases of their region, and a case with no unit
    yet is everybody's. `due_at` follows from the service level when the case is received."""

    reference = models.CharField(_("sagsnummer"), max_length=20, unique=True)
    source = models.CharField(_("kilde"), max_length=16, choices=CaseSource.choices, default=CaseSource.EMAIL)
    sender_email = models.EmailField(_("afsenders e-mail"), max_length=254, blank=True)
    sender_name = models.CharField(_("afsender"), max_length=200, blank=True)
    contact = models.CharField(_("kontakt"), max_length=200, blank=True)
    subject = models.CharField(_("emne"), max_length=500, blank=True)
    text = models.TextField(_("tekst"), blank=True)
    status = models.CharField(_("status"), max_length=20, choices=CaseStatus.choices, default=CaseStatus.NEW)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("sagsbehandler"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="sor_cases")
    units = models.ManyToManyField("registry.Unit", verbose_name=_("enheder"), blank=True, related_name="+")
    region = models.ForeignKey("registry.Region", verbose_name=_("region"), null=True, blank=True,
                               on_delete=models.PROTECT, related_name="+")
    change_sets = models.ManyToManyField("registry.ChangeSet", verbose_name=_("ændringssæt"), blank=True,
                                         related_name="cases")
    received_at = models.DateTimeField(_("modtaget"))
    due_at = models.DateTimeField(_("frist"))
    updated_at = models.DateTimeField(_("ændret"), auto_now=True)
    closed_at = models.DateTimeField(_("lukket"), null=True, blank=True)
    merged_into = models.ForeignKey("self", verbose_name=_("lagt sammen med"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="merged_cases")
    # Self-service: whether the requester proved control of a registered address (one-time link).
    identity = models.CharField(_("identitet"), max_length=12, blank=True, default="",
                                choices=[("", "—"), ("confirmed", _("bekræftet med engangslink")),
                                         ("login", _("bekræftet ved login (MitID Erhverv)")),
                                         ("verified", _("bekræftet af supporten")),
                                         ("unconfirmed", _("identitet ikke bekræftet"))])
    # What the intake recognised in the mail (kind, value, valid, note), shown on the case.
    identifiers = models.JSONField(_("genkendte numre"), default=list, blank=True)

    class Meta:
        verbose_name = _("sag")
        verbose_name_plural = _("sager")
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-received_at"], name="case_status"),
            models.Index(fields=["assignee", "status"], name="case_assignee"),
            models.Index(fields=["due_at"], name="case_due"),
        ]

    def __str__(self):
        return f"{self.reference}: {self.subject}"[:120]


class CaseEvent(models.Model):
    """The case's timeline: `registry.case.received|assigned|comment|change_proposed|approved|
    applied|rejected|reply_sent|reply_received|reopened|merged|status`, with who and when."""

    case = models.ForeignKey(Case, verbose_name=_("sag"), on_delete=models.CASCADE, related_name="events")
    code = models.CharField(_("hændelse"), max_length=64)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("af"), null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(_("tidspunkt"), auto_now_add=True)
    note = models.TextField(_("note"), blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        verbose_name = _("hændelse på sag")
        verbose_name_plural = _("hændelser på sager")
        ordering = ["at", "id"]

    def __str__(self):
        return self.code


class MessageDirection(models.TextChoices):
    IN = "in", _("modtaget")
    OUT = "out", _("sendt")


class OutgoingStatus(models.TextChoices):
    QUEUED = "queued", _("i kø")
    SENT = "sent", _("sendt")
    FAILED = "failed", _("fejlet")


class CaseMessage(models.Model):
    """A mail received on a case or sent from it. A received one keeps its original (.eml, under
    `SOR_MAIL_DIR`); its HTML is kept as received and only ever shown sanitised. A sent one is
    written here first and sent by the worker after commit (`status`)."""

    case = models.ForeignKey(Case, verbose_name=_("sag"), on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(_("retning"), max_length=3, choices=MessageDirection.choices)
    message_id = models.CharField(_("Message-ID"), max_length=998, db_index=True)
    in_reply_to = models.CharField(_("In-Reply-To"), max_length=998, blank=True)
    references = models.TextField(_("References"), blank=True)
    sender = models.CharField(_("fra"), max_length=500, blank=True)
    recipients = models.CharField(_("til"), max_length=2000, blank=True)
    subject = models.CharField(_("emne"), max_length=1000, blank=True)
    sent_at = models.DateTimeField(_("dato"), null=True, blank=True)
    text = models.TextField(_("tekst"), blank=True)
    html = models.TextField(_("HTML"), blank=True)
    eml_path = models.CharField(_("original"), max_length=500, blank=True)
    size = models.PositiveIntegerField(_("størrelse"), default=0)
    # Auto-replies, bounces and list mail: never acknowledged (no mail loops).
    automatic = models.BooleanField(_("automatisk post"), default=False)
    template = models.CharField(_("skabelon"), max_length=32, blank=True)
    status = models.CharField(_("afsendelse"), max_length=8, choices=OutgoingStatus.choices, blank=True)
    error = models.TextField(_("fejl"), blank=True)
    created_at = models.DateTimeField(_("oprettet"), auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("af"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = _("mail på sag")
        verbose_name_plural = _("mails på sager")
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.get_direction_display()}: {self.subject}"[:120]


class CaseAttachment(models.Model):
    """A file attached to a received mail: stored as received under `SOR_MAIL_DIR`, offered for
    download only (never rendered inline)."""

    message = models.ForeignKey(CaseMessage, verbose_name=_("mail"), on_delete=models.CASCADE,
                                related_name="attachments")
    filename = models.CharField(_("filnavn"), max_length=255)
    content_type = models.CharField(_("indholdstype"), max_length=255)
    size = models.PositiveIntegerField(_("størrelse"))
    path = models.CharField(_("fil"), max_length=500, blank=True)
    # Set when the attachment was over the size limit and not kept (the case says so).
    skipped = models.CharField(_("ikke gemt"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("bilag")
        verbose_name_plural = _("bilag")
        ordering = ["message", "id"]

    def __str__(self):
        return self.filename


class IntakeStatus(models.TextChoices):
    CREATED = "created", _("ny sag")
    REPLY = "reply", _("svar på sag")
    QUARANTINED = "quarantined", _("i karantæne")


class MailIntake(models.Model):
    """The exactly-once ledger of received mail: `key` is the Message-ID, or `sha256:` of the
    content when the mail has none, and is unique, so a mail delivered twice or fetched by two
    pollers at once makes one case. A quarantined mail keeps its original and the reason and can
    be retried (`mail_retry`)."""

    key = models.CharField(_("nøgle"), max_length=1000, unique=True)
    status = models.CharField(_("udfald"), max_length=12, choices=IntakeStatus.choices)
    reason = models.TextField(_("årsag"), blank=True)
    origin = models.CharField(_("kilde"), max_length=300, blank=True)
    eml_path = models.CharField(_("original"), max_length=500)
    sha256 = models.CharField(_("sha256"), max_length=64)
    subject = models.CharField(_("emne"), max_length=1000, blank=True)
    sender = models.CharField(_("fra"), max_length=500, blank=True)
    received_at = models.DateTimeField(_("modtaget"), auto_now_add=True)
    retried_at = models.DateTimeField(_("forsøgt igen"), null=True, blank=True)
    case = models.ForeignKey(Case, verbose_name=_("sag"), null=True, blank=True, on_delete=models.PROTECT,
                             related_name="+")
    message = models.ForeignKey(CaseMessage, verbose_name=_("mail"), null=True, blank=True,
                                on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("modtaget mail")
        verbose_name_plural = _("modtagne mails")
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["status", "-received_at"], name="mailintake_status")]

    def __str__(self):
        return f"{self.get_status_display()}: {self.subject}"[:120]
