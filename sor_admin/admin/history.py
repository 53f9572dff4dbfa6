"""Per-object row history (django-simple-history) with a field-by-field diff.

Always filtered by the object first (`<history>.filter(<pk>=X)`, an indexed column), newest first,
50 rows a page; one extra row is read so the last row of a page can be diffed too. The page costs
a count, one page query and one query per code list that a shown change refers to.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field

from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.template.response import TemplateResponse
from django.utils import formats, timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

PER_PAGE = 50


def newest_first(queryset):
    """History rows newest first; served by the (object id, history_date DESC, history_id DESC)
    indexes of registry migration 0004, so a unit's page reads only its own rows."""
    return queryset.order_by("-history_date", "-history_id")


HISTORY_TYPE_LABELS = {"+": _("oprettet"), "~": _("ændret"), "-": _("slettet")}


@dataclass
class FieldChange:
    name: str
    label: str
    old: str
    new: str


@dataclass
class HistoryEntry:
    record: object
    kind: str
    changes: list[FieldChange] = field(default_factory=list)
    title: str = ""

    @property
    def user(self):
        return self.record.history_user

    @property
    def origin_label(self):
        return self.record.get_origin_display() if self.record.origin else ""


def _tracked_fields(model, excluded):
    return [f for f in model.history.model.tracked_fields if f.editable and f.name not in excluded]


def format_value(value, model_field, fk_names) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(model_field, models.ForeignKey):
        return fk_names.get((model_field.name, value), str(value))
    if isinstance(value, bool):
        return gettext("Ja") if value else gettext("Nej")
    if getattr(model_field, "choices", None):
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, dt.date):
        return formats.date_format(value, "d-m-Y")
    if getattr(model_field, "name", None) == "specialities" and isinstance(value, list):
        # [{"code", "type"}] as a person reads it: the code and its Danish name, and the type.
        specs = fk_names.get(("specialities", "names"), {})
        parts = []
        for item in value:
            if not isinstance(item, dict):
                parts.append(str(item))
                continue
            code, kind = str(item.get("code", "")), str(item.get("type", ""))
            text = f"{code} {specs.get(('s', code), '')}".strip()
            if kind:
                text += f" ({specs.get(('t', kind), kind)})"
            parts.append(text)
        return "; ".join(parts) or "—"
    if isinstance(value, list | dict):
        if isinstance(value, list) and all(not isinstance(v, dict) for v in value):
            return ", ".join(str(v) for v in value) or "—"
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _speciality_names(raw) -> dict:
    """Danish names of the speciality codes and types in these history rows (two queries)."""
    from registry.models import ClinicalSpeciality, SpecialityType

    codes, kinds = set(), set()
    for _record, changes in raw:
        for name, old, new in changes:
            if name != "specialities":
                continue
            for value in (old, new):
                for item in value or []:
                    if isinstance(item, dict):
                        codes.add(str(item.get("code", "")))
                        kinds.add(str(item.get("type", "")))
    names = {}
    if codes:
        names.update((("s", c), n) for c, n in ClinicalSpeciality.objects.filter(code__in=codes)
                     .values_list("code", "name_da"))
    if kinds:
        names.update((("t", c), n) for c, n in SpecialityType.objects.filter(code__in=kinds)
                     .values_list("code", "name_da"))
    return names


def build_entries(shown, older, model, *, excluded=("version",)) -> list[HistoryEntry]:
    """`shown`: history rows newest first; `older`: the row just before the last shown one (or None
    when the last shown row is the oldest, which is then listed with every value it set)."""
    pairs = [(record, shown[i + 1] if i + 1 < len(shown) else older) for i, record in enumerate(shown)]
    return build_entries_for_pairs(pairs, model, excluded=excluded)


def build_entries_for_pairs(pairs, model, *, excluded=("version",)) -> list[HistoryEntry]:
    """`pairs`: (history row, the previous row of the same object or None)."""
    fields = {f.name: f for f in _tracked_fields(model, excluded)}
    raw = []
    for record, prev in pairs:
        if prev is not None:
            delta = record.diff_against(prev, included_fields=list(fields))
            changes = [(c.field, c.old, c.new) for c in delta.changes]
        else:
            changes = [(name, None, getattr(record, f.attname)) for name, f in fields.items()
                       if getattr(record, f.attname) not in (None, "", False, [])]
        raw.append((record, changes))
    # Resolve code-list ids to names: one query per related model that appears.
    wanted = defaultdict(set)
    for _record, pairs in raw:
        for name, old, new in pairs:
            f = fields[name]
            if isinstance(f, models.ForeignKey):
                wanted[name].update(v for v in (old, new) if v is not None)
    fk_names = {}
    if "specialities" in fields:
        fk_names[("specialities", "names")] = _speciality_names(raw)
    for name, pks in wanted.items():
        related = fields[name].related_model
        for pk, obj in related._base_manager.in_bulk(list(pks)).items():
            fk_names[(name, pk)] = str(obj)
    entries = []
    for record, pairs in raw:
        changes = [
            FieldChange(name, str(fields[name].verbose_name), format_value(old, fields[name], fk_names),
                        format_value(new, fields[name], fk_names))
            for name, old, new in pairs
        ]
        changes.sort(key=lambda c: list(fields).index(c.name))
        entries.append(HistoryEntry(record=record, kind=str(HISTORY_TYPE_LABELS.get(record.history_type, "")),
                                    changes=changes))
    return entries


def history_page(queryset, page_number: int, per_page: int = PER_PAGE):
    """(shown rows, older row or None, page info) for a history queryset ordered newest first."""
    total = queryset.count()
    pages = max(1, -(-total // per_page))
    page_number = min(max(1, page_number), pages)
    offset = (page_number - 1) * per_page
    records = list(queryset.select_related("history_user")[offset:offset + per_page + 1])
    shown, older = records[:per_page], (records[per_page] if len(records) > per_page else None)
    return shown, older, {"number": page_number, "pages": pages, "total": total,
                          "has_previous": page_number > 1, "has_next": page_number < pages,
                          "previous": page_number - 1, "next": page_number + 1}


class HistoryAdminMixin:
    """Replaces the admin's LogEntry history with the row history of this object only."""

    history_template = "admin/sor/object_history.html"
    history_excluded_fields = ("version",)

    def history_queryset(self, obj):
        manager = self.model.history
        return newest_first(manager.filter(**{self.opts.pk.attname: obj.pk}))

    def history_extra_context(self, request, obj) -> dict:
        return {}

    def history_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        try:
            page_number = int(request.GET.get("p", 1))
        except ValueError:
            page_number = 1
        shown, older, page = history_page(self.history_queryset(obj), page_number)
        entries = build_entries(shown, older, self.model, excluded=self.history_excluded_fields)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Historik: %s") % obj,
            "subtitle": None,
            "entries": entries,
            "page": page,
            "module_name": str(self.opts.verbose_name_plural),
            "object": obj,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "preserved_filters": self.get_preserved_filters(request),
            "has_view_permission": self.has_view_permission(request, obj),
            "now": timezone.now(),
            **self.history_extra_context(request, obj),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.history_template, context)

