"""The unit admin: changelist with SOR search and filters, a change page that saves through
`registry.services.units`, the tree and effective (inherited) values, closing, and row history
with a field-by-field diff and "as it was on a date"."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AdminDateWidget
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Value
from django.db.models.functions import NullIf
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from registry.audit import audit_context
from registry.errors import DomainError, ValidationFailed
from registry.identifiers import is_digits
from registry.inheritance import VIRTUAL_FIELDS
from registry.models import (
    ADDRESS_FIELDS,
    ChangeEvent,
    CodeList,
    EventKind,
    Level,
    LocationNumber,
    OperationKind,
    Region,
    Unit,
)
from registry.permissions import CONTACT_FIELDS
from registry.selectors import (
    ancestors_of,
    default_region,
    in_users_region,
    unit_as_of,
    unit_effective_values,
    unit_list,
    unit_search_q,
    unit_version_on,
    units_maintained_by,
)
from registry.services.units import EDITABLE_FIELDS, unit_close, unit_create, unit_reopen, unit_update
from registry.status import UnitStatus, status_on, status_q, unit_status

from .base import ReasonField, ServiceModelForm, SorModelAdmin, add_domain_error, usable_code_choices
from .history import HistoryAdminMixin, build_entries, build_entries_for_pairs, format_value, newest_first
from .spreadsheets import UnitSpreadsheetAdminMixin

CHILDREN_SHOWN = 50


def can_edit_register_data(user) -> bool:
    return user.is_superuser or user.has_perm("registry.edit_register_data")


def status_today(unit) -> str:
    return unit_status(unit, timezone.localdate())


class RegionFilter(admin.SimpleListFilter):
    """The administrative region; a regional administrator's list opens on their own region
    (`default_region`), and "Alle regioner" shows the whole register."""

    title = _("region (administrativ)")
    parameter_name = "region"
    ALL = "all"

    def __init__(self, request, params, model, model_admin):
        region = default_region(request.user)
        self.default = str(region.pk) if region is not None else None
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        return [(str(r.pk), r.name_da) for r in Region.objects.order_by("code")]

    def value(self):
        value = super().value()
        return self.default if value is None else value

    def choices(self, changelist):
        current = self.value()
        yield {"selected": current in (None, self.ALL), "display": gettext("Alle regioner"),
               "query_string": changelist.get_query_string({self.parameter_name: self.ALL})}
        for lookup, title in self.lookup_choices:
            yield {"selected": current == lookup, "display": title,
                   "query_string": changelist.get_query_string({self.parameter_name: lookup})}

    def queryset(self, request, queryset):
        value = self.value()
        if value in (None, self.ALL):
            return queryset
        if not is_digits(value):
            return queryset.none()
        return queryset.filter(region_id=int(value))


class StatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return UnitStatus.choices

    def queryset(self, request, queryset):
        if self.value() in UnitStatus.values:
            return queryset.filter(status_q(self.value(), timezone.localdate()))
        return queryset


# ---------------------------------------------------------------- fieldsets

def _address_rows(kind):
    rows = [
        ("street_name", "building", "floor", "suite"),
        ("post_code", "district_name"),
        ("mail_sublocation", "district_subdivision", "stairway"),
        ("po_box", "street_name_for_addressing"),
        ("country_code", "country_scheme"),
        ("municipality_code", "street_code", "region_code"),
        ("coord_n", "coord_e"),
    ]
    assert {s for row in rows for s in row} == {s for s, _l, _f in ADDRESS_FIELDS}
    return [f"{kind}_present", *(tuple(f"{kind}_{s}" for s in row) for row in rows)]


IDENTIFIERS = [
    ("owner_type", "entity_type", "region"),
    ("provider_number", "shak", "pharmacy_number"),
    ("cvr", "p_number"),
    ("geo_parent_relation", "geo_parent_sor_id"),
    ("replaces", "replaced_by"),
]
LOCAL = ["local_code", ("local_attribute_1", "local_attribute_2", "local_attribute_3"),
         ("local_attribute_4", "local_attribute_5")]
CONTACT = ["virtual_present", ("phone", "fax"), ("email", "website")]
HOSPITAL = [("ambulant_activity", "patients_admitted", "reporting_level")]
REASON_ROWS = ["reason", "override_warnings"]

CHANGE_FIELDSETS = [
    (_("Identifikation"), {"fields": [("sor_id", "level", "status_display"), "name"]}),
    (_("Struktur"), {"fields": ["tree_path", ("parent", "owner"), "children_list"]}),
    (_("Effektive værdier"), {"fields": ["effective_values"],
                              "description": _("Det, der gælder for enheden i dag, og hvor det kommer fra.")}),
    (_("Typer og identifikatorer"), {"fields": IDENTIFIERS}),
    (_("Kontakt"), {"fields": CONTACT}),
    (_("Postadresse"), {"fields": _address_rows("postal")}),
    (_("Besøgsadresse"), {"fields": _address_rows("visiting"), "classes": ["collapse"]}),
    (_("Aktivitetsadresse"), {"fields": _address_rows("activity"), "classes": ["collapse"]}),
    (_("Lokationsnummer"), {"fields": ["location_mode", "location_numbers_list"]}),
    (_("Specialer"), {"fields": ["specialities"], "classes": ["collapse"]}),
    (_("Sygehusoplysninger"), {"fields": HOSPITAL, "classes": ["collapse"]}),
    (_("Lokale oplysninger"), {"fields": LOCAL, "classes": ["collapse"]}),
    (_("Datoer"), {"fields": [("from_date", "first_from_date"), ("to_date", "updated_at_date"), "version"]}),
]
ADD_FIELDSETS = [
    (_("Placering"), {"fields": [("level", "parent")],
                      "description": _("Vælg niveau og overordnet enhed (ingen for en institutionsejer).")}),
    (_("Identifikation"), {"fields": ["name"]}),
    (_("Typer og identifikatorer"), {"fields": IDENTIFIERS}),
    (_("Kontakt"), {"fields": CONTACT}),
    (_("Postadresse"), {"fields": _address_rows("postal")}),
    (_("Besøgsadresse"), {"fields": _address_rows("visiting"), "classes": ["collapse"]}),
    (_("Aktivitetsadresse"), {"fields": _address_rows("activity"), "classes": ["collapse"]}),
    (_("Lokationsnummer"), {"fields": ["location_mode"]}),
    (_("Specialer"), {"fields": ["specialities"], "classes": ["collapse"]}),
    (_("Sygehusoplysninger"), {"fields": HOSPITAL, "classes": ["collapse"]}),
    (_("Lokale oplysninger"), {"fields": LOCAL, "classes": ["collapse"]}),
    (_("Datoer"), {"fields": [("from_date", "first_from_date")]}),
]
ALWAYS_READONLY = ("sor_id", "level", "status_display", "tree_path", "parent", "owner", "children_list",
                   "effective_values", "location_numbers_list", "to_date", "updated_at_date", "version")


def _flat(fieldsets):
    names = []
    for _title, opts in fieldsets:
        for row in opts["fields"]:
            names.extend(row if isinstance(row, tuple) else [row])
    return names


# ---------------------------------------------------------------- forms

class SpecialitiesField(forms.Field):
    """Clinical specialities as text, one per line: `<speciality code>` or `<code>;<type code>`,
    in priority order (stored as [{"code": ..., "type": ...}, ...])."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 40})

    def __init__(self, **kwargs):
        kwargs.pop("encoder", None)
        kwargs.pop("decoder", None)
        kwargs.pop("max_length", None)
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", _("Én pr. linje i prioriteret rækkefølge: specialekode, "
                                         "eventuelt efterfulgt af ; og specialetype (fx 50;1)."))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, str):
            return value
        lines = []
        for item in value or []:
            if isinstance(item, dict):
                code, kind = item.get("code") or "", item.get("type") or ""
                lines.append(f"{code};{kind}" if kind else str(code))
        return "\n".join(lines)

    def to_python(self, value):
        items = []
        for number, line in enumerate((value or "").splitlines(), start=1):
            line = line.strip()
            if not line:
                continue
            code, _sep, kind = (part.strip() for part in line.partition(";"))
            if not code:
                raise forms.ValidationError(_("Linje %(n)d mangler en specialekode."), params={"n": number})
            items.append({"code": code, "type": kind} if kind else {"code": code})
        return items or None

    def has_changed(self, initial, data):
        try:
            new = self.to_python(data)
        except forms.ValidationError:
            return True
        return (initial or None) != new


OVERRIDE_LABEL = _("Gem trods advarsler")
LEVEL_LABELS = dict(Level.choices)
_CODE_COLUMNS = ("code", "name_da", "name_en")
LIST_COLUMNS = (
    "sor_id", "name", "level", "parent_id", "owner_id", "entity_type_id", "owner_type_id", "region_id",
    "provider_number", "shak", "first_from_date", "from_date", "to_date",
    *(f"{rel}__{col}" for rel in ("parent", "owner") for col in ("sor_id", "name", "level")),
    *(f"{rel}__{col}" for rel in ("entity_type", "owner_type", "region") for col in _CODE_COLUMNS),
)


class _TrialDone(Exception):
    """Rolls back a trial save (see UnitChangeForm.apply)."""

# Each block a unit inherits until it takes its own: the flag, and (form field, key in the resolved value).
BLOCK_FIELDS = {
    "virtual": ("virtual_present", [(name, name) for name in VIRTUAL_FIELDS]),
    **{kind: (f"{kind}_present", [(f"{kind}_{suffix}", suffix) for suffix, _label, _f in ADDRESS_FIELDS])
       for kind in ("postal", "visiting", "activity")},
}
BLOCK_LABELS = {"virtual": _("elektroniske adresser"), "postal": _("postadresse"), "visiting": _("besøgsadresse"),
                "activity": _("aktivitetsadresse")}


def effective_values_of(unit):
    """The unit's effective values today, resolved once per page (the form's pre-fill and the
    "effektive værdier" panel share them)."""
    if not hasattr(unit, "_sor_effective"):
        unit._sor_effective = unit_effective_values(unit, timezone.localdate())
    return unit._sor_effective


def describe_block_change(block: str, item: dict) -> str:
    """"telefon 98765432 → 11223344, e-mail klinik@… → –" for one unit's block."""
    before, after = item["before"] or {}, item["after"] or {}
    prefix = "" if block == "virtual" else f"{block}_"
    parts = []
    for key in dict.fromkeys([*before, *after]):
        if before.get(key) != after.get(key):
            label = Unit._meta.get_field(f"{prefix}{key}").verbose_name
            parts.append(f"{label} {before.get(key) or '–'} → {after.get(key) or '–'}")
    return ", ".join(parts) or gettext("kilden skifter (værdierne er de samme)")


class UnitChangeForm(ServiceModelForm):
    seen_version = forms.IntegerField(label=_("version ved åbning"), widget=forms.HiddenInput, error_messages={
        "required": _("Siden mangler enhedens version; genindlæs enheden og ret igen.")})
    override_warnings = forms.BooleanField(label=OVERRIDE_LABEL, required=False)

    class Meta:
        model = Unit
        fields = "__all__"
        field_classes = {"specialities": SpecialitiesField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.fields["seen_version"].initial = self.instance.version
        if self.instance.pk:
            # Bound or not: the submitted form is compared with the same initial values.
            self._prefill_inherited_blocks()

    def _prefill_inherited_blocks(self):
        """A block the unit inherits (addresses, electronic addresses) is shown filled with the
        values it inherits now: ticking "own" then starts from them, instead of from empty fields
        that would silently drop the values not typed again."""
        effective = effective_values_of(self.instance)
        inherited = {block: effective[block] for block, (flag, _f) in BLOCK_FIELDS.items()
                     if flag in self.fields and not getattr(self.instance, flag)
                     and isinstance(effective[block].value, dict)}
        sources = Unit.objects.in_bulk([r.source for r in inherited.values() if r.source])
        for block, resolved in inherited.items():
            flag, fields = BLOCK_FIELDS[block]
            source = sources.get(resolved.source)
            for name, key in fields:
                if name not in self.fields:
                    continue
                if not getattr(self.instance, name) and resolved.value.get(key):
                    self.initial[name] = resolved.value[key]
                # Said on the field: the value shown is inherited, and how to make it the unit's own.
                note = gettext("Arvet fra %(source)s. Sæt kryds i “%(flag)s” for at give enheden sine egne.") % {
                    "source": source or "–", "flag": Unit._meta.get_field(flag).verbose_name}
                own_help = str(self.fields[name].help_text or "")
                self.fields[name].help_text = f"{own_help} {note}".strip()

    def apply(self, data):
        changes = {name: data[name] for name in self.changed_data if name in EDITABLE_FIELDS}
        for _block, (flag, fields) in BLOCK_FIELDS.items():
            if flag in changes and changes[flag]:
                # Taking the block as its own: every field of it is saved, typed or pre-filled.
                changes.update({name: data[name] for name, _key in fields if name in data})
            elif not data.get(flag, getattr(self.instance, flag)) and any(name in changes for name, _k in fields):
                # The fields show the inherited values: a change there needs the block as the unit's own.
                label = Unit._meta.get_field(flag).verbose_name
                raise ValidationFailed({flag: [gettext(
                    "Værdierne arves nu ovenfra. Sæt kryds i “%(flag)s” for at give enheden sine egne; ellers "
                    "rettes de hos den enhed, de arves fra.") % {"flag": label}]})
        override = data.get("override_warnings", False)
        warning = {} if override else self._impact_warning(changes)
        if not warning:
            return self._update(data, changes, override)
        # The impact needs a look before saving; the service's own errors and warnings for the same
        # changes are said at the same time (tried in a savepoint that is always rolled back), so
        # the person does not learn of a bad value only after saving despite the warning.
        errors, warnings = {}, dict(warning)
        try:
            with transaction.atomic():
                self._update(data, changes, False)
                raise _TrialDone
        except _TrialDone:
            pass
        except ValidationFailed as exc:
            errors = exc.errors
            for field, msgs in exc.warnings.items():
                warnings.setdefault(field, []).extend(msgs)
        raise ValidationFailed(errors, warnings)

    def _update(self, data, changes, override):
        return unit_update(
            actor=self.actor, reason=data["reason"], origin="admin", unit=self.instance.pk, changes=changes,
            expected_version=data["seen_version"], override_warnings=override,
        )

    def _impact_warning(self, changes) -> dict:
        """Before a block goes from inherited to own or back: which effective values change, for
        the unit and for the units below that inherit them (the shared selector)."""
        flags = {flag: block for block, (flag, _f) in BLOCK_FIELDS.items() if flag in changes}
        if not flags:
            return {}
        from registry.selectors import subtree_effective_changes

        attnames = {}
        for name, value in changes.items():
            field = Unit._meta.get_field(name)
            attnames[field.attname] = getattr(value, "pk", value)
        impact = [i for i in subtree_effective_changes(self.instance, attnames) if i["block"] in flags.values()]
        if not impact:
            return {}
        warnings = {}
        for flag, block in flags.items():
            rows = [i for i in impact if i["block"] == block]
            if not rows:
                continue
            own = [i for i in rows if i["unit"].pk == self.instance.pk]
            below = [i["unit"] for i in rows if i["unit"].pk != self.instance.pk]
            parts = []
            if own:
                parts.append(gettext("Enhedens gældende %(block)s ændres: %(diff)s.")
                             % {"block": BLOCK_LABELS[block], "diff": describe_block_change(block, own[0])})
                if changes.get(flag):
                    parts.append(gettext("Derefter følger enheden ikke længere ændringer af dem hos %(source)s.")
                                 % {"source": Unit.objects.filter(pk=own[0]["source_before"]).first() or "–"})
            if below:
                names = ", ".join(str(u) for u in below[:10]) + (" …" if len(below) > 10 else "")
                parts.append(ngettext("%(n)d enhed nedenunder arver ændringen: %(names)s.",
                                      "%(n)d enheder nedenunder arver ændringen: %(names)s.", len(below))
                             % {"n": len(below), "names": names})
            parts.append(gettext("Kontrollér det, og vælg “Gem trods advarsler” for at gemme."))
            warnings[flag] = [" ".join(parts)]
        return warnings


class UnitAddForm(ServiceModelForm):
    override_warnings = forms.BooleanField(label=OVERRIDE_LABEL, required=False)

    class Meta:
        model = Unit
        fields = "__all__"
        field_classes = {"specialities": SpecialitiesField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "first_from_date" in self.fields:
            self.fields["first_from_date"].required = False
            self.fields["first_from_date"].help_text = _("Tom: samme som gældende fra.")

    def apply(self, data):
        direct = {"level", "parent", "name", "from_date", "first_from_date"}
        fields = {name: data[name] for name in self.changed_data if name in EDITABLE_FIELDS and name not in direct}
        return unit_create(
            actor=self.actor, reason=data["reason"], origin="admin", level=data["level"],
            parent=data.get("parent"), name=data["name"], from_date=data.get("from_date"),
            first_from_date=data.get("first_from_date"), override_warnings=data.get("override_warnings", False),
            **fields,
        )


class UnitsCloseForm(forms.Form):
    to_date = forms.DateField(label=_("Lukkedato"), widget=AdminDateWidget,
                              help_text=_("Sidste dag enhederne er gældende (inklusive)."))
    include_descendants = forms.BooleanField(
        label=_("Luk også underenheder"), required=False,
        help_text=_("Åbne enheder under de valgte lukkes med samme dato og begrundelse."))
    reason = ReasonField()


class UnitCloseForm(forms.Form):
    to_date = forms.DateField(label=_("Lukkedato"), widget=AdminDateWidget,
                              help_text=_("Sidste dag enheden er gældende (inklusive)."))
    include_descendants = forms.BooleanField(
        label=_("Luk også underenheder"), required=False,
        help_text=_("Åbne enheder under denne lukkes med samme dato og begrundelse."))
    reason = ReasonField()
    seen_version = forms.IntegerField(label=_("version ved åbning"), widget=forms.HiddenInput)


class UnitReopenForm(forms.Form):
    reason = ReasonField()
    seen_version = forms.IntegerField(label=_("version ved åbning"), widget=forms.HiddenInput)


# ---------------------------------------------------------------- admin

class IdsFirstPaginator(Paginator):
    """Reads a page's SOR-IDs first (an index-only scan), then only those rows with their joins.

    With a plain OFFSET, PostgreSQL builds every joined row before the page (page 734 of 147,000
    units: ~440 ms); fetching the keys first keeps deep pages as fast as the first one."""

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        keys = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        by_key = {row.pk: row for row in self.object_list.filter(pk__in=keys).order_by()}
        rows = [by_key[key] for key in keys if key in by_key]
        return self._get_page(rows, number, self)


@admin.register(Unit)
class UnitAdmin(UnitSpreadsheetAdminMixin, HistoryAdminMixin, SorModelAdmin):
    list_display = ("sor_id", "name", "level_code", "parent_link", "owner_link", "type_display", "provider_display",
                    "shak", "region_display", "status_display")
    list_display_links = ("sor_id", "name")
    list_select_related = ("entity_type", "owner_type", "region", "parent", "owner")
    list_filter = ("level", "entity_type", RegionFilter, ("owner__owner_type", admin.RelatedFieldListFilter),
                   StatusFilter)
    search_fields = ("name",)  # shows the search box; the search itself is get_search_results
    search_help_text = _("Søg på SOR-ID, navn, ydernummer, lokationsnummer (GLN), CVR, P-nummer eller SHAK-kode.")
    list_per_page = 100
    show_full_result_count = False
    paginator = IdsFirstPaginator
    autocomplete_fields = ("parent",)
    ordering = ("sor_id",)
    object_actions = [("close", "close_view"), ("reopen", "reopen_view")]
    actions = ["close_units", "add_to_changeset"]
    MAX_CLOSE_AT_ONCE = 500

    # -- querysets and search

    def get_queryset(self, request):
        """The whole register for every staff role: a regional administrator reads every unit and
        changes only their region's (`has_change_permission`); their list opens on their region."""
        # The admin adds `list_select_related` only to a queryset without joins: add the owner here.
        return unit_list().select_related("owner").order_by(*(self.get_ordering(request) or ("sor_id",)))

    def get_search_results(self, request, queryset, search_term):
        if request.path.endswith("/autocomplete/"):
            # Choosing a parent: only units the user may put a unit under (the service checks again).
            queryset = queryset.filter(pk__in=units_maintained_by(request.user).values("pk"))
        term = (search_term or "").strip()
        if not term:
            return queryset, False
        digits = term.replace(" ", "")
        may_have_duplicates = digits.isdigit() and len(digits) == 13  # GLN joins location numbers
        return queryset.filter(unit_search_q(term)), may_have_duplicates

    # -- changelist columns

    @admin.display(description=_("overordnet"), ordering="parent__name")
    def parent_link(self, obj):
        # Two units with one name are told apart by where they sit.
        return self._unit_link(obj.parent) if obj.parent_id else "–"

    @admin.display(description=_("institutionsejer"), ordering="owner__name")
    def owner_link(self, obj):
        if obj.level == Level.OWNER or obj.owner_id in (None, obj.pk):
            return "–"
        if obj.owner_id == obj.parent_id:
            return gettext("(= overordnet)")
        return self._unit_link(obj.owner)

    @admin.display(description=_("ydernummer"),
                   ordering=NullIf("provider_number", Value("")).asc(nulls_last=True))
    def provider_display(self, obj):
        # Sorted with blanks last: a sort by ydernummer shows ydernumre first.
        return obj.provider_number or "–"

    @admin.display(description=_("niveau"), ordering="level")
    def level_code(self, obj):
        return format_html('<abbr title="{}">{}</abbr>', LEVEL_LABELS[obj.level], obj.level)

    @admin.display(description=_("type"), ordering="entity_type")
    def type_display(self, obj):
        # An institutionsejer's type is its owner type (region, kommune, stat, privat). The name in
        # the list, the code on hover (the list must fit the screen).
        code = obj.owner_type if obj.level == "IE" else obj.entity_type
        if code is None:
            return "–"
        return format_html('<span title="{}">{}</span>', code.code, code.display_name)

    @admin.display(description=_("region"), ordering="region")
    def region_display(self, obj):
        if obj.region is None:
            return "–"
        return format_html('<span title="{}">{}</span>', obj.region.code, obj.region.display_name)

    @admin.display(description=_("status"))
    def status_display(self, obj):
        status = status_today(obj)
        if status == UnitStatus.CLOSING:
            # ToDate is inclusive: a unit closing today is still open today, and says when it ends.
            text = gettext("lukkes %(date)s") % {"date": obj.to_date.strftime("%d-%m-%Y")}
        else:
            text = UnitStatus(status).label
        planned = getattr(obj, "sor_pending_sets", None)
        if planned:
            return format_html('{} <a class="sor-planned" href="{}">{}</a>', text,
                               reverse("admin:registry_changeset_change", args=[planned[0].pk]),
                               gettext("planlagt ændring %(date)s") % {"date": planned[0].effective_date.strftime("%d-%m-%Y")})
        return text

    # -- forms and permissions

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = UnitChangeForm if obj is not None else UnitAddForm
        request.sor_editing = obj  # for the code-list choices below
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        base = CHANGE_FIELDSETS if obj is not None else ADD_FIELDSETS
        fieldsets = list(base)
        if obj is None or self.has_change_permission(request, obj):
            rows = [*REASON_ROWS] + (["seen_version"] if obj is not None else [])
            fieldsets.append((_("Begrundelse"), {"fields": rows}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        readonly = list(ALWAYS_READONLY)
        if not can_edit_register_data(request.user):
            # The support desk: contact data only (the service enforces the same rule).
            readonly += [name for name in _flat(CHANGE_FIELDSETS)
                         if name not in CONTACT_FIELDS and name not in readonly]
        return readonly

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "parent":
            # Only units the user maintains can be chosen as a parent (the service checks again).
            kwargs["queryset"] = units_maintained_by(request.user).filter(level__in=["IE", "SI", "OE"])
        elif issubclass(db_field.related_model, CodeList):
            kwargs["queryset"] = usable_code_choices(db_field, getattr(request, "sor_editing", None))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("from_date", timezone.localdate())
        return initial

    # -- read-only panels

    def _ancestors(self, obj):
        if not hasattr(obj, "_admin_ancestors"):
            obj._admin_ancestors = ancestors_of(obj)
        return obj._admin_ancestors

    def _unit_link(self, unit):
        return format_html('<a href="{}" title="{}">{}</a>', self.unit_change_url(unit.pk), LEVEL_LABELS[unit.level],
                           f"{unit.level}: {unit.name}")

    def unit_change_url(self, pk) -> str:
        """A unit's change URL without a `reverse()` per row (a 500-row list has some 1,500 links)."""
        prefix = self.__dict__.get("_change_url_prefix")
        if prefix is None:
            marker = reverse(f"{self.admin_site.name}:registry_unit_change", args=[1])
            prefix = self._change_url_prefix = marker[: marker.rindex("/1/")] + "/"
        return f"{prefix}{pk}/change/"

    def get_changelist(self, request, **kwargs):
        admin_self = self

        class UnitChangeList(super().get_changelist(request, **kwargs)):
            def url_for_result(self, result):
                return admin_self.unit_change_url(result.pk)

            def get_queryset(self, request, exclude_parameters=None):
                # A unit row has some 90 columns, and each row joins its parent and its owner:
                # read only what the list shows (the spreadsheet export picks its own columns).
                return super().get_queryset(request, exclude_parameters).only(*LIST_COLUMNS)

            def get_results(self, request):
                super().get_results(request)
                # "planlagt ændring <dato>": the page's pending change-sets in one query.
                from registry.changesets.engine import pending_by_unit

                pending = pending_by_unit([unit.pk for unit in self.result_list])
                for unit in self.result_list:
                    unit.sor_pending_sets = pending.get(unit.pk, [])

        return UnitChangeList

    @admin.display(description=_("placering i træet"))
    def tree_path(self, obj):
        links = [self._unit_link(u) for u in self._ancestors(obj)]
        links.append(format_html("<strong>{}: {}</strong>", obj.level, obj.name))
        return format_html_join(" › ", "{}", ((link,) for link in links))

    @admin.display(description=_("underenheder"))
    def children_list(self, obj):
        # Whole rows: a deferred field would be read back one query per child (the change log's
        # post_init watch touches every field).
        children = list(obj.children.order_by("sor_id")[:CHILDREN_SHOWN + 1])
        if not children:
            return gettext("Ingen")
        shown = children[:CHILDREN_SHOWN]
        items = format_html_join(
            "", '<li><a href="{}">{}</a> ({}){}</li>',
            ((reverse(f"{self.admin_site.name}:registry_unit_change", args=[c.pk]), c.name, c.sor_id,
              "" if status_today(c) == UnitStatus.ACTIVE else f" — {UnitStatus(status_today(c)).label}")
             for c in shown),
        )
        more = ""
        if len(children) > CHILDREN_SHOWN:
            url = reverse(f"{self.admin_site.name}:registry_unit_changelist") + f"?parent__sor_id__exact={obj.pk}"
            more = format_html('<li><a href="{}">{}</a></li>', url, gettext("Vis alle underenheder …"))
        return format_html('<ul class="sor-children">{}{}</ul>', items, more)

    @admin.display(description=_("lokationsnumre"))
    def location_numbers_list(self, obj):
        lns = list(obj.location_numbers.order_by("-from_date", "gln"))
        if not lns:
            return gettext("Ingen egne")
        today = timezone.localdate()
        return format_html('<ul class="sor-location-numbers">{}</ul>', format_html_join(
            "", '<li><a href="{}">{}</a> {} – {}{}</li>',
            ((reverse(f"{self.admin_site.name}:registry_locationnumber_change", args=[ln.pk]), ln.gln,
              format_value(ln.from_date, None, {}), format_value(ln.to_date, None, {}) if ln.to_date else "",
              f" ({gettext('lukket')})" if ln.to_date and ln.to_date < today else "") for ln in lns),
        ))

    @admin.display(description=_("effektive værdier"))
    def effective_values(self, obj):
        resolved = effective_values_of(obj)
        known = {u.sor_id: u for u in self._ancestors(obj)}
        known[obj.sor_id] = obj
        rows = []
        labels = [("postal", gettext("Postadresse")), ("visiting", gettext("Besøgsadresse")),
                  ("activity", gettext("Aktivitetsadresse")), ("virtual", gettext("Elektroniske adresser")),
                  ("location_number", gettext("Lokationsnummer"))]
        for key, label in labels:
            item = resolved[key]
            rows.append((label, self._format_effective(key, item.value), self._format_source(obj, item, known)))
        body = format_html_join("", "<tr><th>{}</th><td>{}</td><td>{}</td></tr>", rows)
        head = format_html("<tr><th></th><th>{}</th><th>{}</th></tr>", gettext("Værdi"), gettext("Kilde"))
        return format_html('<table class="sor-effective">{}{}</table>', head, body)

    @staticmethod
    def _format_effective(key, value):
        if value is None:
            return "—"
        if key == "location_number":
            return value.gln
        if key == "virtual":
            labels = {"email": gettext("e-mail"), "website": gettext("hjemmeside"), "phone": gettext("telefon"),
                      "fax": gettext("fax")}
            parts = [f"{labels[name]} {value[name]}" for name in VIRTUAL_FIELDS if value.get(name)]
            return ", ".join(parts) or "—"
        street = " ".join(p for p in (value.get("street_name"), value.get("building")) if p)
        floor = " ".join(p for p in (value.get("floor"), value.get("suite")) if p)
        town = " ".join(p for p in (value.get("post_code"), value.get("district_name")) if p)
        box = gettext("Postboks %s") % value["po_box"] if value.get("po_box") else ""
        return ", ".join(p for p in (value.get("mail_sublocation"), street, floor, box, town) if p) or "—"

    def _format_source(self, obj, item, known):
        if item.how == "none" or item.value is None:
            return gettext("ingen")
        source = known.get(item.source)
        if item.how == "own":
            return gettext("egen")
        if item.how == "inherited":
            return format_html("{} {}", gettext("arvet fra"), self._unit_link(source) if source else item.source)
        own_label = {"postal": gettext("= egen postadresse"), "visiting": gettext("= egen besøgsadresse")}[item.how]
        if item.source == obj.sor_id:
            return own_label
        return format_html("{} ({} {})", own_label, gettext("arvet fra"),
                           self._unit_link(source) if source else item.source)

    # -- changelist/changeform context

    def get_object(self, request, object_id, from_field=None):
        # One read per request: the page's own context and Django's change view share the row (and
        # with it the ancestors and effective values resolved on it).
        cache = request.__dict__.setdefault("_sor_units", {})
        key = (str(object_id), from_field)
        if key not in cache:
            cache[key] = super().get_object(request, object_id, from_field)
        return cache[key]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        if object_id is not None:
            obj = self.get_object(request, object_id)
            if obj is not None:
                extra_context["tree_path_units"] = [*self._ancestors(obj), obj]
                from registry.changesets.engine import pending_by_unit

                extra_context["sor_pending_sets"] = pending_by_unit([obj.pk]).get(obj.pk, [])
                if request.user.has_perm("registry.add_changeset") or request.user.is_superuser:
                    extra_context["sor_changeset_link"] = (
                        reverse("admin:registry_changeset_add_changes") + f"?ids={obj.pk}")
                if self.has_close_permission(request, obj):
                    links = []
                    if obj.to_date is None:
                        links.append((self.object_action_url(obj, "close"), gettext("Luk enhed")))
                    else:
                        if status_today(obj) == UnitStatus.CLOSING:
                            links.append((self.object_action_url(obj, "close"), gettext("Ret lukkedato")))
                        links.append((self.object_action_url(obj, "reopen"), gettext("Genåbn enhed")))
                    extra_context["sor_object_links"] = links
        return super().changeform_view(request, object_id, form_url, extra_context)

    # -- closing

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or in_users_region(request.user, obj))

    def has_close_permission(self, request, obj=None):
        allowed = request.user.is_superuser or request.user.has_perm("registry.close_unit")
        return allowed and (obj is None or in_users_region(request.user, obj))

    def has_changeset_permission(self, request):
        return request.user.is_superuser or request.user.has_perm("registry.add_changeset")

    @admin.action(description=_("Tilføj til ændringssæt"), permissions=["changeset"])
    def add_to_changeset(self, request, queryset):
        ids = list(queryset.order_by("sor_id").values_list("sor_id", flat=True)[:5001])
        if len(ids) > 5000:
            messages.error(request, gettext("Vælg højst 5.000 enheder; brug en udvælgelse i en CSV-fil til flere."))
            return None
        return HttpResponseRedirect(reverse("admin:registry_changeset_add_changes") + "?ids=" + ",".join(map(str, ids)))

    @admin.action(description=_("Luk valgte enheder"), permissions=["close"])
    def close_units(self, request, queryset):
        """Close the selected units in one batch (one reason, one batch id); all or nothing."""
        units = list(queryset.order_by("sor_id")[:self.MAX_CLOSE_AT_ONCE + 1])
        if len(units) > self.MAX_CLOSE_AT_ONCE:
            messages.error(request, gettext("Vælg højst %(n)d enheder ad gangen.") % {"n": self.MAX_CLOSE_AT_ONCE})
            return None
        form = UnitsCloseForm(request.POST if "apply" in request.POST else None,
                              initial={"to_date": timezone.localdate()})
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            try:
                with audit_context(actor=request.user, reason=data["reason"], origin="admin", kind=OperationKind.ADMIN_BULK):
                    closed = []
                    for unit in units:
                        if unit.to_date is not None and unit.to_date <= data["to_date"]:
                            continue  # already closed by then (possibly as a child of an earlier one)
                        closed += unit_close(actor=request.user, reason=data["reason"], origin="admin",
                                             unit=unit.pk, to_date=data["to_date"],
                                             include_descendants=data["include_descendants"])
            except DomainError as error:
                add_domain_error(form, error)
            else:
                for unit in closed:
                    self.log_change(request, unit, gettext("Lukket pr. %(date)s") % {"date": data["to_date"]})
                messages.success(request, gettext("%(n)d enheder er lukket pr. %(date)s.")
                                 % {"n": len(closed), "date": data["to_date"].strftime("%d-%m-%Y")})
                return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts, "title": gettext("Luk valgte enheder"), "objects": units, "form": form,
            "action": "close_units", "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "submit_label": gettext("Luk enhederne"), "media": self.media + form.media,
            "intro": gettext("Enheder slettes aldrig: de lukkes med en lukkedato, og deres egne lokationsnumre "
                             "lukkes med dem. Alle lukkes i én ændring, eller ingen."),
        }
        return TemplateResponse(request, "admin/sor/bulk_action_form.html", context)

    def close_view(self, request, object_id):
        obj, refused = self.get_object_or_refuse(request, object_id, lambda r, o: self.has_close_permission(r, o))
        if refused:
            return refused
        if request.method == "POST":
            form = UnitCloseForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    with transaction.atomic():
                        closed = unit_close(
                            actor=request.user, reason=data["reason"], origin="admin", unit=obj.pk,
                            to_date=data["to_date"], expected_version=data["seen_version"],
                            include_descendants=data["include_descendants"],
                        )
                except DomainError as error:
                    add_domain_error(form, error)
                else:
                    self.log_change(request, obj, gettext("Lukket pr. %(date)s") % {"date": data["to_date"]})
                    more = len(closed) - 1
                    text = ngettext("%(unit)s og %(more)d underenhed er lukket pr. %(date)s.",
                                    "%(unit)s og %(more)d underenheder er lukket pr. %(date)s.", more) if more \
                        else gettext("%(unit)s er lukket pr. %(date)s.")
                    messages.success(request, text % {"unit": obj, "date": data["to_date"].strftime("%d-%m-%Y"),
                                                      "more": more})
                    return HttpResponseRedirect(
                        reverse(f"{self.admin_site.name}:registry_unit_change", args=[obj.pk]))
        else:
            form = UnitCloseForm(initial={"to_date": obj.to_date or timezone.localdate(), "seen_version": obj.version,
                                          "include_descendants": obj.to_date is not None})
        return self.render_action_form(
            request, obj, form, title=gettext("Luk enhed: %s") % obj, submit_label=gettext("Luk enheden"),
            intro=gettext("Enheder slettes aldrig: en lukket enhed står i registeret med sin lukkedato, "
                          "og dens egne lokationsnumre lukkes med den."),
        )

    def reopen_view(self, request, object_id):
        obj, refused = self.get_object_or_refuse(request, object_id, lambda r, o: self.has_close_permission(r, o))
        if refused:
            return refused
        form = UnitReopenForm(request.POST or None, initial={"seen_version": obj.version})
        if request.method == "POST" and form.is_valid():
            try:
                with transaction.atomic():
                    reopened = unit_reopen(actor=request.user, reason=form.cleaned_data["reason"], origin="admin",
                                           unit=obj.pk, expected_version=form.cleaned_data["seen_version"])
            except DomainError as error:
                add_domain_error(form, error)
            else:
                more = len(reopened) - 1
                text = ngettext("%(unit)s og %(more)d underenhed er genåbnet.",
                                "%(unit)s og %(more)d underenheder er genåbnet.", more) if more \
                    else gettext("%(unit)s er genåbnet.")
                messages.success(request, text % {"unit": obj, "more": more})
                return HttpResponseRedirect(reverse(f"{self.admin_site.name}:registry_unit_change", args=[obj.pk]))
        return self.render_action_form(
            request, obj, form, title=gettext("Genåbn enhed: %s") % obj, submit_label=gettext("Genåbn enheden"),
            intro=gettext("Lukkedatoen fjernes. Underenheder og egne lokationsnumre, der blev lukket samme dag, "
                          "genåbnes med enheden."))

    # -- history

    def history_extra_context(self, request, obj):
        mode = "registered" if request.GET.get("mode") == "registered" else "valid"
        context = {"as_of_enabled": True, "as_of_value": request.GET.get("as_of", ""), "as_of_mode": mode}
        raw = context["as_of_value"].strip()
        if raw:
            try:
                day = dt.date.fromisoformat(raw)
            except ValueError:
                context["as_of_error"] = gettext("“%(value)s” er ikke en dato; skriv den som ÅÅÅÅ-MM-DD.") % {
                    "value": raw}
            else:
                context.update(self._as_of(obj, day) if mode == "registered" else self._valid_on(obj, day))
        context["location_entries"] = self._location_number_history(obj)
        context["inherited_rows"] = self._inherited_changes(obj)
        return context

    def _inherited_changes(self, obj, limit=50):
        """The newest change-log events in which this unit's inherited values changed because
        something above it changed (its own rows do not show those)."""
        from .operations import event_rows

        events = (ChangeEvent.objects.filter(unit_id=obj.pk, kind=EventKind.EFFECTIVE_CHANGED)
                  .select_related("operation__actor").order_by("-seq")[:limit])
        return event_rows(events)

    def _as_of(self, obj, day):
        end_of_day = timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min)) \
            - dt.timedelta(microseconds=1)
        record = unit_as_of(obj.pk, end_of_day)
        context = {"as_of_day": day, "as_of_record": record}
        if record is None:
            return context
        entries = build_entries([record], None, Unit, excluded=("version",))
        context["as_of_rows"] = entries[0].changes if entries else []
        return context

    def _valid_on(self, obj, day):
        """What was valid on `day`, as the register knows it now: the unit's validity decides
        whether it existed; its values are those of the version whose FromDate (the day a change
        applies) is the latest on or before `day` (a later correction of that period counts)."""
        context = {"as_of_day": day, "valid_status": status_on(obj.first_from_date, obj.to_date, day)}
        if context["valid_status"] in (UnitStatus.PLANNED, UnitStatus.CLOSED):
            return context
        record = unit_version_on(obj.pk, day)
        if record is None:
            # The oldest version known: nothing earlier was recorded.
            record = Unit.history.filter(sor_id=obj.pk).order_by("history_date", "history_id").first()
            context["valid_oldest_only"] = True
        context["as_of_record"] = record
        if record is not None:
            entries = build_entries([record], None, Unit, excluded=("version",))
            context["as_of_rows"] = entries[0].changes if entries else []
        return context

    def _location_number_history(self, obj, limit=50):
        """History rows of the unit's location numbers (newest first), each diffed against the
        previous row of the same location number when that row is among those read."""
        hist = LocationNumber.history.model
        records = list(newest_first(hist.objects.filter(unit_id=obj.pk))
                       .select_related("history_user")[:limit + 1])
        pairs = []
        for i, record in enumerate(records[:limit]):
            older = next((r for r in records[i + 1:] if r.id == record.id), None)
            pairs.append((record, older))
        entries = build_entries_for_pairs(pairs, LocationNumber, excluded=("version",))
        for entry in entries:
            entry.title = entry.record.gln
        return entries
