"""The register's units: institutionsejer (IE), sundhedsinstitution (SI) and organisatorisk
enhed (OE), one table for all three levels because OEs nest to any depth and every level shares
most fields of the SOR file.

The SOR-ID is the primary key: it is immutable and never reused, so history, admin URLs and the
XML all name a unit by the same number.
"""

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from ..audit import AuditedHistory, GuardedManager
from .codes import EntityType, OwnerType, Region


class Level(models.TextChoices):
    OWNER = "IE", _("institutionsejer")
    INSTITUTION = "SI", _("sundhedsinstitution")
    UNIT = "OE", _("organisatorisk enhed")


class LocationMode(models.TextChoices):
    OWN = "own", _("eget lokationsnummer")
    INHERITED = "inherited", _("nedarvet lokationsnummer")
    NONE = "none", _("intet lokationsnummer")
    # An empty OptionalEanLocationCode is schema-valid; kept so an SDS file re-exports unchanged.
    UNSPECIFIED = "unspecified", _("ikke angivet")


ADDRESS_KINDS = ("postal", "visiting", "activity")
ADDRESS_KIND_LABELS = {"postal": _("postadresse"), "visiting": _("besøgsadresse"), "activity": _("aktivitetsadresse")}

# (suffix, label, model field factory). The order is the XML order of the address block.
ADDRESS_FIELDS = (
    ("mail_sublocation", _("stednavn/lokalitet"), lambda label: models.CharField(label, max_length=34, blank=True)),
    ("street_name", _("vejnavn"), lambda label: models.CharField(label, max_length=40, blank=True)),
    ("street_name_for_addressing", _("adresseringsnavn"), lambda label: models.CharField(label, max_length=20, blank=True)),
    ("building", _("husnummer"), lambda label: models.CharField(label, max_length=10, blank=True)),
    ("floor", _("etage"), lambda label: models.CharField(label, max_length=10, blank=True)),
    ("suite", _("side/dør"), lambda label: models.CharField(label, max_length=4, blank=True)),
    ("district_subdivision", _("bydel"), lambda label: models.CharField(label, max_length=34, blank=True)),
    ("po_box", _("postboks"), lambda label: models.PositiveIntegerField(label, null=True, blank=True)),
    ("post_code", _("postnummer"), lambda label: models.CharField(label, max_length=10, blank=True)),
    ("district_name", _("postdistrikt"), lambda label: models.CharField(label, max_length=50, blank=True)),
    ("country_code", _("landekode"), lambda label: models.CharField(label, max_length=4, blank=True)),
    ("country_scheme", _("landekode-skema"), lambda label: models.CharField(label, max_length=20, blank=True)),
    ("stairway", _("opgang"), lambda label: models.CharField(label, max_length=40, blank=True)),
    ("municipality_code", _("kommunekode"), lambda label: models.CharField(label, max_length=4, blank=True)),
    ("street_code", _("vejkode"), lambda label: models.CharField(label, max_length=4, blank=True)),
    ("region_code", _("regionskode"), lambda label: models.CharField(label, max_length=4, blank=True)),
    # Kept as text so an SDS value such as "6347032.450" re-exports exactly as read.
    ("coord_n", _("koordinat N (ETRS89/UTM32)"), lambda label: models.CharField(label, max_length=20, blank=True)),
    ("coord_e", _("koordinat E (ETRS89/UTM32)"), lambda label: models.CharField(label, max_length=20, blank=True)),
)


def _address_mixin(kind: str):
    attrs = {
        "__module__": __name__,
        f"{kind}_present": models.BooleanField(
            format_lazy_label(kind, _("egen")), default=False,
            help_text=_("Uden egen adresse arves den (se arvereglerne)."),
        ),
        "Meta": type("Meta", (), {"abstract": True}),
    }
    for suffix, label, factory in ADDRESS_FIELDS:
        attrs[f"{kind}_{suffix}"] = factory(format_lazy_label(kind, label))
    return type(f"{kind.title()}AddressFields", (models.Model,), attrs)


def format_lazy_label(kind, label):
    from django.utils.text import format_lazy

    return format_lazy("{}: {}", ADDRESS_KIND_LABELS[kind], label)


PostalAddressFields = _address_mixin("postal")
VisitingAddressFields = _address_mixin("visiting")
ActivityAddressFields = _address_mixin("activity")


class Unit(PostalAddressFields, VisitingAddressFields, ActivityAddressFields):
    """One SOR entity at any level (IE, SI or OE), with its own values only.

    Absent addresses, virtual addresses and location numbers are inherited from the parent at
    read time (`registry.selectors.effective`); nothing inherited is ever copied into a row, so
    moving a unit changes what it inherits without touching it. Units are never deleted: they
    are closed with a ToDate. `version` guards against two people saving over each other."""

    sor_id = models.BigIntegerField(_("SOR-ID"), primary_key=True)
    level = models.CharField(_("niveau"), max_length=2, choices=Level.choices)
    parent = models.ForeignKey(
        "self", verbose_name=_("overordnet enhed"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="children",
    )
    owner = models.ForeignKey(
        "self", verbose_name=_("institutionsejer"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="owned_units",
        help_text=_("Ejerens SOR-ID; for en institutionsejer enheden selv."),
    )
    ancestors = ArrayField(models.BigIntegerField(), default=list, blank=True, verbose_name=_("forfædre"))
    name = models.CharField(_("navn"), max_length=60)
    owner_type = models.ForeignKey(OwnerType, verbose_name=_("ejertype"), null=True, blank=True, on_delete=models.PROTECT)
    entity_type = models.ForeignKey(EntityType, verbose_name=_("enhedstype"), null=True, blank=True, on_delete=models.PROTECT)
    region = models.ForeignKey(
        Region, verbose_name=_("region (administrativ)"), null=True, blank=True, on_delete=models.PROTECT,
        help_text=_("Den region, hvis regionale administratorer vedligeholder enheden."),
    )

    shak = models.CharField(_("SHAK-kode"), max_length=7, blank=True)
    provider_number = models.CharField(_("ydernummer"), max_length=9, blank=True)
    pharmacy_number = models.CharField(_("apoteksnummer"), max_length=20, blank=True)
    local_code = models.CharField(_("lokalkode"), max_length=20, blank=True)
    local_attribute_1 = models.CharField(_("lokal attribut 1"), max_length=20, blank=True)
    local_attribute_2 = models.CharField(_("lokal attribut 2"), max_length=20, blank=True)
    local_attribute_3 = models.CharField(_("lokal attribut 3"), max_length=20, blank=True)
    local_attribute_4 = models.CharField(_("lokal attribut 4"), max_length=20, blank=True)
    local_attribute_5 = models.CharField(_("lokal attribut 5"), max_length=20, blank=True)
    cvr = models.CharField(_("CVR-nummer"), max_length=8, blank=True)
    p_number = models.CharField(_("P-nummer"), max_length=10, blank=True)

    # [{"code": "<speciality>", "type": "<speciality type>"}, ...] in priority order; None = no collection.
    specialities = models.JSONField(_("kliniske specialer"), null=True, blank=True)

    ambulant_activity = models.BooleanField(_("ambulant aktivitet"), null=True, blank=True)
    patients_admitted = models.BooleanField(_("sengeafsnit"), null=True, blank=True)
    reporting_level = models.BooleanField(_("LPR-indberetningsniveau"), null=True, blank=True)

    geo_parent_relation = models.PositiveSmallIntegerField(_("geografisk mor: relation"), null=True, blank=True)
    geo_parent_sor_id = models.BigIntegerField(_("geografisk mor: SOR-ID"), null=True, blank=True)

    # None = no collection element in the file; [] = an empty one.
    replaces = ArrayField(models.BigIntegerField(), null=True, blank=True, verbose_name=_("erstatter"))
    replaced_by = ArrayField(models.BigIntegerField(), null=True, blank=True, verbose_name=_("erstattet af"))

    location_mode = models.CharField(
        _("lokationsnummer"), max_length=12, choices=LocationMode.choices, default=LocationMode.INHERITED
    )

    virtual_present = models.BooleanField(_("egne elektroniske adresser"), default=False)
    email = models.CharField(_("e-mail"), max_length=255, blank=True)
    website = models.CharField(_("hjemmeside"), max_length=254, blank=True)
    phone = models.CharField(_("telefon"), max_length=20, blank=True)
    fax = models.CharField(_("fax"), max_length=20, blank=True)

    from_date = models.DateField(_("gældende fra"))
    to_date = models.DateField(_("gældende til og med"), null=True, blank=True)
    first_from_date = models.DateField(_("først gældende fra"))
    updated_at_date = models.DateField(_("sidst ændret"), null=True, blank=True)

    version = models.PositiveIntegerField(_("version"), default=1)

    objects = GuardedManager()
    history = HistoricalRecords(bases=[AuditedHistory], excluded_fields=["ancestors"])

    class Meta:
        verbose_name = _("SOR-enhed")
        verbose_name_plural = _("SOR-enheder")
        ordering = ["sor_id"]
        permissions = [
            ("edit_contact_data", _("Kan rette kontaktdata (telefon, e-mail, adresser)")),
            ("edit_register_data", _("Kan rette registerdata (navn, typer, identifikatorer, struktur)")),
            ("close_unit", _("Kan lukke enheder")),
            ("all_regions", _("Kan vedligeholde enheder i alle regioner")),
        ]
        indexes = [
            models.Index(fields=["owner", "sor_id"], name="unit_owner_sorid"),
            models.Index(fields=["parent", "sor_id"], name="unit_parent_sorid"),
            models.Index(fields=["provider_number"], name="unit_provider"),
            models.Index(fields=["shak"], name="unit_shak"),
            models.Index(fields=["cvr"], name="unit_cvr"),
            models.Index(fields=["p_number"], name="unit_p_number"),
            # `name__icontains` compiles to UPPER(name) LIKE UPPER(%term%): a trigram index serves it.
            GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="unit_name_trgm"),
            models.Index(fields=["level", "sor_id"], name="unit_level_sorid"),
            models.Index(fields=["region", "sor_id"], name="unit_region_sorid"),
            GinIndex(fields=["ancestors"], name="unit_ancestors_gin"),
            # Results in name order: a broad name match reads this index in order and stops after
            # a page, instead of sorting every match.
            models.Index(fields=["name", "sor_id"], name="unit_name_sorid"),
            # The public browser's search by post code and town (`registry.read.listing.place_q`).
            models.Index(fields=["postal_post_code"], name="unit_postal_post_code"),
            models.Index(fields=["visiting_post_code"], name="unit_visiting_post_code"),
            models.Index(Upper("postal_district_name"), name="unit_postal_town"),
            models.Index(Upper("visiting_district_name"), name="unit_visiting_town"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(level="IE", parent__isnull=True) | (~models.Q(level="IE") & models.Q(parent__isnull=False))),
                name="unit_parent_matches_level",
            ),
            models.CheckConstraint(
                condition=models.Q(to_date__isnull=True) | models.Q(to_date__gte=models.F("from_date")),
                name="unit_to_date_after_from_date",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.sor_id})"

    def get_absolute_url(self):
        """The unit's page in the public browser (the admin's "Vis på websted")."""
        from django.urls import reverse

        return reverse("sor:unit", args=[self.sor_id])
