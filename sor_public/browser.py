"""The public SOR browser (no login), mounted at /sor/ (README "The public SOR browser").

- `search`: search by name, SOR-ID, ydernummer, location number, SHAK, CVR, post code or town,
  filtered by level, type, region, owner type and open/closed; results ordered by name.
- `unit`: a unit's effective values with "arvet fra" links to their source, the units above and
  below, its location number with its EDI message types, validity, successors and predecessors,
  and the published history of its public fields (from the change log).

Both take `dato=YYYY-MM-DD`: the register as it stood that day (valid then, as known now). The
pages read `registry.read` (the read API's selectors) and show only what SOR publishes: never the
SOR-responsible person, staff names or reasons. Rate limited like the other public pages.
"""

from __future__ import annotations

import datetime as dt

from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from registry import identifiers as ids
from registry.models import ChangeEvent, EventKind, Level, OwnerType, Region, Unit
from registry.models.units import ADDRESS_FIELDS
from registry.read import feed
from registry.read.documents import Documents
from registry.read.listing import Filters, UnknownCode
from registry.read.listing import search as run_search
from registry.read.state import View
from registry.status import UnitStatus

from .throttle import client_address, too_many

PAGE = 50
HISTORY = 50
CHILDREN = 200
LEVELS = [(Level.OWNER.value, Level.OWNER.label), (Level.INSTITUTION.value, Level.INSTITUTION.label),
          (Level.UNIT.value, Level.UNIT.label)]
STATUS_LABELS = {s.value: s.label for s in UnitStatus}
HOW = {"own": gettext_lazy("egen"), "inherited": gettext_lazy("arvet fra"), "postal": gettext_lazy("som postadressen"),
       "visiting": gettext_lazy("som besøgsadressen")}
ADDRESS_LABELS = {suffix: label for suffix, label, _f in ADDRESS_FIELDS}


def throttled(view):
    """The browser's pages share the read API's budget per client address (SOR_API_RATE a window):
    many staff behind one hospital address look units up all day."""
    import functools

    from django.conf import settings

    from registry.ratelimit import hit

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        allowed, retry_after = hit("browser", client_address(request), settings.SOR_API_RATE, settings.SOR_API_RATE_WINDOW)
        if not allowed:
            return too_many(request, retry_after)
        return view(request, *args, **kwargs)

    return wrapper


def _day(request) -> tuple[dt.date | None, str | None]:
    raw = (request.GET.get("dato") or "").strip()
    if not raw:
        return None, None
    try:
        return dt.date.fromisoformat(raw), None
    except ValueError:
        return None, _("Datoen %(value)s kan ikke læses; skriv den som ÅÅÅÅ-MM-DD, fx 2025-12-01.") % {"value": raw}


def _view(day: dt.date | None) -> View:
    return View.valid_on(day) if day else View.now()


def _choices():
    from registry.models import EntityType

    used_types = Unit.objects.exclude(entity_type=None).values("entity_type_id").distinct()
    return {
        "levels": LEVELS,
        "types": list(EntityType.objects.filter(pk__in=used_types).order_by("name_da").values_list("code", "name_da")),
        "regions": list(Region.objects.order_by("code").values_list("code", "name_da")),
        "owner_types": list(OwnerType.objects.order_by("name_da").values_list("code", "name_da")),
    }


@throttled
@require_GET
def search(request):
    q = (request.GET.get("q") or "").strip()[:100]
    day, date_error = _day(request)
    params = {k: (request.GET.get(k) or "").strip()[:40] for k in ("niveau", "type", "region", "ejertype", "status")}
    choices = _choices()
    errors = [date_error] if date_error else []
    if "\x00" in q or any("\x00" in v for v in params.values()):
        errors.append(_("Søgningen indeholder et tegn, der ikke kan søges på (NUL)."))
        q, params = q.replace("\x00", ""), {k: v.replace("\x00", "") for k, v in params.items()}
    if params["niveau"] and params["niveau"] not in dict(LEVELS):
        errors.append(_("Niveauet %(value)s findes ikke.") % {"value": params["niveau"]})
    if params["status"] not in ("", "aaben", "lukket"):
        errors.append(_("Vælg åbne eller lukkede enheder."))
    page_no = request.GET.get("side") or "1"
    page_no = int(page_no) if ids.is_digits(page_no) and len(page_no) < 6 and int(page_no) > 0 else 1
    searched = bool(q or any(params.values()))
    results, total = [], 0
    if searched and not errors:
        filters = Filters(search=q or None, level=params["niveau"] or None, type=params["type"] or None,
                          region=params["region"] or None, owner_type=params["ejertype"] or None,
                          open={"aaben": True, "lukket": False}.get(params["status"]), places=True)
        view = _view(day)
        try:
            found, total = run_search(filters, view, offset=(page_no - 1) * PAGE, limit=PAGE)
        except UnknownCode as exc:
            what = {"type": _("enhedstype"), "region": _("region"), "owner_type": _("ejertype")}.get(exc.param, exc.param)
            errors.append(_("Den valgte %(what)s findes ikke.") % {"what": what})
        else:
            docs = Documents(view).units(found)
            results = [docs[i] for i in found if i in docs]
    query = {k: v for k, v in {"q": q, "dato": day.isoformat() if day else "", **params}.items() if v}
    from registry.read.listing import COUNT_CAP

    capped = total > COUNT_CAP
    pages = -(-min(total, COUNT_CAP) // PAGE)
    context = {
        "q": q, "day": day, "dato": request.GET.get("dato", ""), "params": params, "choices": choices,
        "errors": errors, "searched": searched, "results": [_row(d) for d in results], "total": total,
        "page": page_no, "pages": pages, "capped": capped, "cap": COUNT_CAP,
        "prev_url": f"?{urlencode({**query, 'side': page_no - 1})}" if page_no > 1 else None,
        "next_url": f"?{urlencode({**query, 'side': page_no + 1})}" if page_no < pages or (capped and results) else None,
        "date_query": f"?{urlencode({'dato': day.isoformat()})}" if day else "",
        "first_url": f"?{urlencode(query)}" if page_no > 1 and not results else None,
    }
    return render(request, "public/browser_search.html", context, status=400 if errors else 200)


def _row(doc: dict) -> dict:
    routed = doc["effective"]["location_number"]
    postal, visiting = doc["effective"]["postal_address"], doc["effective"]["visiting_address"]
    places = [_place(postal)]
    if visiting and (not postal or visiting["value"] != postal["value"]):
        places.append(_("besøg: %(place)s") % {"place": _place(visiting)})
    return {"doc": doc, "status_label": STATUS_LABELS.get(doc["status"], doc["status"]),
            "gln": routed["value"]["gln"] if routed else None, "gln_inherited": bool(routed) and routed["how"] == "inherited",
            "places": [p for p in places if p], "level_label": dict(LEVELS).get(doc["level"], doc["level"])}


def _place(block) -> str:
    if not block:
        return ""
    v = block["value"]
    return " ".join(x for x in (v.get("post_code"), v.get("district_name")) if x)


@throttled
@require_GET
def unit(request, sor_id):
    day, date_error = _day(request)
    if not ids.is_digits(sor_id) or len(sor_id) > 18:
        return _not_found(request, _("%(value)s er ikke et SOR-ID: et SOR-ID har kun cifre.") % {"value": sor_id[:40]})
    sor_id = int(sor_id)
    view = _view(day)
    docs = Documents(view)
    found, resolver, lns, mts = docs.load([sor_id])
    row = found.get(sor_id)
    today_row = Unit.objects.filter(pk=sor_id).first()
    if today_row is None:
        return _not_found(request, _("Ingen enhed har SOR-ID %(id)s.") % {"id": sor_id})
    date_query = f"?{urlencode({'dato': day.isoformat()})}" if day else ""
    if row is None:
        return render(request, "public/browser_not_then.html",
                      {"unit": today_row, "day": day, "errors": [date_error] if date_error else []}, status=404)
    doc = docs.unit(row, found, resolver, lns, mts)
    above = [{"sor_id": a, "name": found[int(a)].name if int(a) in found else a,
              "level": dict(LEVELS).get(found[int(a)].level, "") if int(a) in found else ""} for a in doc["ancestors"]]
    children = list(Unit.objects.filter(parent_id=sor_id).order_by("name", "sor_id")
                    .values("sor_id", "name", "level", "first_from_date", "to_date")[:CHILDREN + 1])
    from registry.status import status_on

    for child in children:
        child["status_label"] = STATUS_LABELS[status_on(child["first_from_date"], child["to_date"], view.day)]
    names = dict(Unit.objects.filter(pk__in=[*(int(i) for i in doc["replaces"] or []),
                                             *(int(i) for i in doc["replaced_by"] or [])]).values_list("sor_id", "name"))
    blocks = []
    for key, label in (("postal_address", _("Postadresse")), ("visiting_address", _("Besøgsadresse")),
                       ("activity_address", _("Aktivitetsadresse"))):
        blocks.append({"label": label, "block": doc["effective"][key], "lines": _address_lines(doc["effective"][key])})
    context = {
        "doc": doc, "day": day, "today": timezone.localdate(), "date_query": date_query,
        "errors": [date_error] if date_error else [],
        "status_label": STATUS_LABELS.get(doc["status"], doc["status"]),
        "level_label": dict(LEVELS).get(doc["level"], doc["level"]),
        "above": above, "children": children[:CHILDREN], "more_children": len(children) > CHILDREN,
        "addresses": blocks, "virtual": doc["effective"]["virtual_addresses"],
        "routed": doc["effective"]["location_number"], "how": HOW,
        "source_names": {str(k): v.name for k, v in found.items()},
        "replaces": [(i, names.get(int(i), "")) for i in doc["replaces"] or []],
        "replaced_by": [(i, names.get(int(i), "")) for i in doc["replaced_by"] or []],
        "history": history(sor_id),
        "starts_later": (doc["status"] == UnitStatus.PLANNED and not day),
        "api_url": reverse("api:unit", args=[sor_id]),
    }
    return render(request, "public/browser_unit.html", context)


def _not_found(request, message: str):
    return render(request, "public/browser_not_found.html", {"message": message}, status=404)


def _address_lines(block) -> list[str]:
    if not block:
        return []
    v = block["value"]
    street = " ".join(x for x in (v.get("street_name"), v.get("building")) if x)
    rest = ", ".join(x for x in (v.get("floor"), v.get("suite")) if x)
    lines = [v.get("mail_sublocation"), ", ".join(x for x in (street, rest) if x) or None,
             (_("Postboks %(n)s") % {"n": v["po_box"]}) if v.get("po_box") else None,
             " ".join(x for x in (v.get("post_code"), v.get("district_name")) if x) or None]
    return [line for line in lines if line]


KIND_LABELS = {k.value: k.label for k in EventKind}


EXTRA_LABELS = {"message_type": gettext_lazy("EDI-meddelelsestype"), "location_number": gettext_lazy("lokationsnummer"),
                "gln": gettext_lazy("lokationsnummer")}


def _model_label(api_name: str) -> str:
    """The Danish label of a unit or location-number field by its API name (valid_to → "gældende til og med")."""
    if api_name in EXTRA_LABELS:
        return str(EXTRA_LABELS[api_name])
    from django.core.exceptions import FieldDoesNotExist

    from registry.models import LocationNumber
    from registry.read.documents import API_FIELD

    attname = {v: k for k, v in API_FIELD.items()}.get(api_name, api_name)
    for model in (Unit, LocationNumber):
        try:
            return str(model._meta.get_field(attname.removesuffix("_id")).verbose_name)
        except FieldDoesNotExist:
            continue
    return api_name


def _field_label(api_name: str) -> str:
    """A Danish label for a change-feed field name ("postal_address.street_name" → "postadresse:
    vejnavn", "effective.location_number" → "nedarvet lokationsnummer")."""
    if not api_name.startswith("effective."):
        return _model_label(api_name)
    block, _sep, field = api_name.removeprefix("effective.").partition(".")
    block_label = {"postal_address": _("postadresse"), "visiting_address": _("besøgsadresse"),
                   "activity_address": _("aktivitetsadresse"), "virtual_addresses": _("elektroniske adresser"),
                   "location_number": _("lokationsnummer")}.get(block, block)
    label = _("nedarvet %(block)s") % {"block": block_label}
    if not field:
        return label
    if field == "source":
        return f"{label}: {_('arvet fra')}"
    if block == "location_number":
        return f"{label}: {_model_label(field)}"
    return f"{label}: {ADDRESS_LABELS.get(field) or _model_label(field)}"


HIDDEN = {"status_present", "virtual_addresses.present", "postal_address.present", "visiting_address.present",
          "activity_address.present"}  # bookkeeping of the file format, not facts about the unit


def _listed(api_name: str) -> bool:
    """An inherited location number is shown by its number and source; its attributes (system,
    network operator, …) change with it and are on the number's own page in the API."""
    if api_name.startswith("effective.location_number."):
        return api_name == "effective.location_number.source"
    return api_name not in HIDDEN


def _shown(value):
    """A logged value as the page shows it: nothing (empty text, no value) as a dash."""
    if value in ("", None, []):
        return None
    if isinstance(value, bool):
        return _("ja") if value else _("nej")
    if isinstance(value, list):
        return ", ".join(v.get("code", str(v)) if isinstance(v, dict) else str(v) for v in value)
    return value


def history(sor_id: int) -> list[dict]:
    """The unit's change-log events, newest first (public fields only, as the change feed has them)."""
    events = list(ChangeEvent.objects.filter(unit_id=sor_id, seq__isnull=False).select_related("operation")
                  .order_by("-seq")[:HISTORY])
    out = []
    for item, event in zip(feed.items(events), events, strict=True):
        out.append({"when": timezone.localtime(event.sequenced_at) if event.sequenced_at else None,
                    "kind": KIND_LABELS.get(item["kind"], item["kind"]), "location_number": item.get("location_number"),
                    # A created row lists every value it was created with: the page above shows them.
                    "fields": [] if item["kind"] == EventKind.CREATED else
                    [(_field_label(name), _shown(change["old"]), _shown(change["new"]))
                     for name, change in item["fields"].items() if _listed(name)]})
    return out
