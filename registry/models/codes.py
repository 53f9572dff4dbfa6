"""Code lists (klassifikationer). A code keeps its row when its text changes; a retired code
points to its successor. Codes met in an SDS file that we do not know are created as
"imported, unnamed" so nothing in the file is lost, and staff name them later."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from ..audit import AuditedHistory, GuardedManager


class CodeList(models.Model):
    """Common shape of every code list; `code` is the value that travels in the SOR file.

    Consequence: renaming a code changes no unit row, only the code's own history."""

    code = models.CharField(_("kode"), max_length=32, unique=True)
    name_da = models.CharField(_("navn (dansk)"), max_length=200, blank=True)
    name_en = models.CharField(_("navn (engelsk)"), max_length=200, blank=True)
    retired = models.BooleanField(_("udgået"), default=False)
    # The location-number attribute lists differ between the files (sor-format.md §4.2): v1 uses
    # SCTID-shaped codes (1001000055001), v2 small integers (162). Blank: the same in both.
    file_version = models.CharField(_("filversion"), max_length=2, blank=True,
                                    choices=[("v1", "SOR XML v1"), ("v2", "SOR XML v2")])
    valid_from = models.DateField(_("gyldig fra"), null=True, blank=True)
    valid_to = models.DateField(_("gyldig til og med"), null=True, blank=True,
                                help_text=_("Sidste dag koden kan vælges til nye data (inklusive)."))
    successor = models.ForeignKey(
        "self", verbose_name=_("erstattet af"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    imported_unnamed = models.BooleanField(
        _("importeret uden navn"), default=False,
        help_text=_("Koden kom fra en SOR-fil og var ukendt; giv den et navn."),
    )
    note = models.TextField(_("note"), blank=True)

    objects = GuardedManager()

    class Meta:
        abstract = True
        ordering = ["code"]

    def __str__(self):
        return f"{self.display_name} ({self.code})"

    @property
    def display_name(self) -> str:
        """The Danish name; a code whose Danish name is unknown says so, and shows the English
        display only as that (never as if it were the register's term)."""
        if self.name_da:
            return self.name_da
        if self.name_en:
            return str(_("dansk navn ukendt; engelsk: %(name)s")) % {"name": self.name_en}
        return str(_("(uden navn)"))

    def usable_on(self, day) -> bool:
        """Whether the code may be chosen for new data on `day` (see `usable_codes_q`)."""
        return (not self.retired and (self.valid_from is None or self.valid_from <= day)
                and (self.valid_to is None or self.valid_to >= day))


# The lists whose codes differ between v1 and v2 files.
VERSIONED_LISTS = ("SystemSupplier", "SystemType", "EdiAdministrator")


def file_version_of(model_name: str, code: str) -> str:
    """The file version a location-number attribute code belongs to, where its shape tells: a
    system supplier or system type with an SCTID-shaped code (6 digits or more) is v1, one with a
    small number v2. EDI administrators are short in both (v1 106, v2 639): the file they were
    read from decides (the importer passes it); blank when nothing tells."""
    if model_name not in ("SystemSupplier", "SystemType") or not (code.isascii() and code.isdigit()):
        return ""
    return "v1" if len(code) >= 6 else "v2"


def usable_codes_q(day) -> models.Q:
    """Codes that may be chosen for new data on `day`: not retired, and valid that day. A unit
    keeps a code it already has; an imported file's retired code is kept and reported."""
    return (models.Q(retired=False) & (models.Q(valid_from__isnull=True) | models.Q(valid_from__lte=day))
            & (models.Q(valid_to__isnull=True) | models.Q(valid_to__gte=day)))


def _history():
    return HistoricalRecords(bases=[AuditedHistory], inherit=False)


class OwnerType(CodeList):
    """Institutionsejer-type (region, kommune, stat, privat); v1 `OwnerType`, v2 IE `EntityTypeIdentifier`."""

    history = _history()

    class Meta(CodeList.Meta):
        verbose_name = _("ejertype")
        verbose_name_plural = _("ejertyper")


class EntityType(CodeList):
    """Institution/unit type (SNOMED CT id); v1 `InstitutionType`/`UnitType`, v2 `EntityTypeIdentifier`.

    `level_hint` is evidence, not a rule: several types occur both as SI and OE."""

    level_hint = models.CharField(_("niveau (vejledende)"), max_length=10, blank=True)
    history = _history()

    class Meta(CodeList.Meta):
        verbose_name = _("enhedstype")
        verbose_name_plural = _("enhedstyper")


class ClinicalSpeciality(CodeList):
    """SOR-Kliniske specialer (`SpecialityCode`)."""

    history = _history()

    class Meta(CodeList.Meta):
        verbose_name = _("klinisk speciale")
        verbose_name_plural = _("kliniske specialer")


class SpecialityType(CodeList):
    """Hovedspeciale / bispeciale (`SpecialityType`); only one code is evidenced."""

    history = _history()

    class Meta(CodeList.Meta):
        verbose_name = _("specialetype")
        verbose_name_plural = _("specialetyper")


class Region(CodeList):
    """Region (1081–1085); also the scope of a regional administrator."""

    history = _history()

    class Meta(CodeList.Meta):
        verbose_name = _("region")
        verbose_name_plural = _("regioner")


class Municipality(CodeList):
    """Kommune (4-digit CPR authority code), with the region it lies in."""

    region = models.ForeignKey(Region, verbose_name=_("region"), null=True, blank=True, on_delete=models.PROTECT)
    history = _history()

    class Meta(CodeList.Meta):
        verbose_name = _("kommune")
        verbose_name_plural = _("kommuner")


class PostalDistrict(CodeList):
    """Postnummer with its district name (PostNord); used to check and complete addresses."""

    history = _history()

    class Meta(CodeList.Meta):
        verbose_name = _("postnummer")
        verbose_name_plural = _("postnumre")


class NetworkOperator(CodeList):
    """Netoperatør (`CommunicationSupplier`) of a location number."""

    history = _history()

    class Meta(CodeList.Meta):
        verbose_name = _("netoperatør")
        verbose_name_plural = _("netoperatører")


class SystemSupplier(CodeList):
    """Systemleverandør of a location number; SDS's list is not public, codes come from files."""

    history = _history()

    class Meta(CodeList.Meta):
        verbose_name = _("systemleverandør")
        verbose_name_plural = _("systemleverandører")


class SystemType(CodeList):
    """EDB-system of a location number; SDS's list is not public, codes come from files."""

    history = _history()

    class Meta(CodeList.Meta):
        verbose_name = _("EDB-system")
        verbose_name_plural = _("EDB-systemer")


class EdiAdministrator(CodeList):
    """EDI-administrator of a location number; SDS's list is not public, codes come from files."""

    history = _history()

    class Meta(CodeList.Meta):
        verbose_name = _("EDI-administrator")
        verbose_name_plural = _("EDI-administratorer")


class EdiMessageType(CodeList):
    """MedCom message type a location number can receive: standard + version code (e.g. RPT01/R0131K).

    `code` is `<standard>:<version_code>`, the pair being what identifies the type."""

    syntax = models.CharField(_("syntaks"), max_length=16, blank=True)
    message_group = models.CharField(_("meddelelsesgruppe"), max_length=16, blank=True)
    standard = models.CharField(_("standard"), max_length=16)
    version_code = models.CharField(_("versionskode"), max_length=16)
    urn = models.CharField(_("URN"), max_length=200, blank=True)
    history = _history()

    class Meta(CodeList.Meta):
        verbose_name = _("EDI-meddelelsestype")
        verbose_name_plural = _("EDI-meddelelsestyper")
        ordering = ["standard", "version_code"]
