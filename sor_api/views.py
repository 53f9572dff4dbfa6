"""The read API's views: parameters in, `registry.read` documents out. Anonymous, GET only."""

from __future__ import annotations

import datetime as dt

from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.models import LocationNumber, Unit
from registry.read import feed, listing, shak
from registry.read.codes import CODE_LISTS, code_document, code_model
from registry.read.documents import Documents
from registry.read.published import NotPublished, publication, published_unit
from registry.read.state import View, subtree_ids
from registry.read.state import units as units_in
from registry.status import VALID, UnitStatus, valid_on

from . import params
from . import schema as shapes
from .exceptions import BadParameter

MAX_PAGE = 500
DEFAULT_PAGE = 100

P = OpenApiParameter
VALID_ON = P("valid_on", OpenApiTypes.DATE, description="The register valid on this date, as it is known now.")
AS_REGISTERED = P("as_registered", OpenApiTypes.DATE,
                  description="What the register said at the end of this date (Copenhagen time).")
AFTER_ID = P("after", OpenApiTypes.STR, description="Page on: the last SOR-ID of the previous page (the `next` link).")
LIMIT = P("limit", OpenApiTypes.INT, description=f"Units per page, 1–{MAX_PAGE} (default {DEFAULT_PAGE}).")
DATE = P("date", OpenApiTypes.DATE, description="On this date, as the register knows it now (default today).")
ERRORS = {400: OpenApiResponse(shapes.Error, description="a parameter that cannot be used (named in `error`)"),
          404: OpenApiResponse(shapes.Error, description="not found (the reason in `error`)"),
          429: OpenApiResponse(shapes.Error, description="too many requests (see Retry-After)")}


# GET only; answers in English whatever the staff pages' language (machines read these); a query
# parameter holding a NUL character is refused before anything reads it. (A comment, not a
# docstring: the OpenAPI description would show it on every endpoint.)
class ReadView(APIView):

    http_method_names = ["get", "head", "options"]

    def dispatch(self, request, *args, **kwargs):
        from django.utils import translation

        with translation.override("en"):
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        for name, values in request.query_params.lists():
            if any("\x00" in v for v in values) or "\x00" in name:
                raise BadParameter(f"{name.replace(chr(0), '')}: contains a NUL character.")
        for name, value in kwargs.items():
            if "\x00" in str(value):
                raise BadParameter(f"{name}: contains a NUL character.")


def _next(request, **changes) -> str:
    query = request.query_params.copy()
    for key, value in changes.items():
        query[key] = value
    return request.build_absolute_uri(f"{request.path}?{urlencode(sorted(query.lists()), doseq=True)}")


def _sor_id_path(raw) -> int:
    return params.sor_id(str(raw))


def _view_info(view: View) -> dict:
    info = view.describe()
    return {"mode": info["mode"], "date": info["date"]}


class ApiRoot(ReadView):
    @extend_schema(operation_id="api_root", summary="Where everything is", responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        def url(name, **kwargs):
            return request.build_absolute_uri(reverse(name, kwargs=kwargs))

        return Response({
            "units": url("api:units"), "changes": url("api:changes"), "codes": url("api:codes"),
            "published": url("api:published"), "shak_mapping_csv": url("api:shak-mapping"),
            "schema": url("api:schema"), "docs": url("api:docs"),
            "fhir_organization": request.build_absolute_uri("/fhir/Organization"),
        })


class UnitList(ReadView):
    @extend_schema(operation_id="units_list",
        summary="Find units",
        parameters=[
            P("search", OpenApiTypes.STR, description="Name (part of it), SOR-ID, ydernummer, location number, CVR, "
                                                      "P-number or SHAK code."),
            P("level", OpenApiTypes.STR, enum=["IE", "SI", "OE"]),
            P("type", OpenApiTypes.STR, description="Entity type code (SNOMED CT id), see /codes/entity-types/."),
            P("region", OpenApiTypes.STR, description="Region code (1081–1085): the administrative region."),
            P("owner", OpenApiTypes.STR, description="SOR-ID of the institutionsejer."),
            P("status", OpenApiTypes.STR, enum=[s.value for s in UnitStatus],
              description="Status on the view's date (default: all; with valid_on: active and closing)."),
            P("modified_since", OpenApiTypes.DATETIME,
              description="Only units with a change-log event (their own or inherited values) since this time."),
            VALID_ON, AS_REGISTERED, AFTER_ID, LIMIT,
        ],
        responses={200: shapes.UnitPage, **ERRORS},
    )
    def get(self, request):
        view = params.one_view(request)
        owner = request.query_params.get("owner")
        filters = listing.Filters(
            search=(request.query_params.get("search") or "").strip() or None,
            level=params.choice(request, "level", ["IE", "SI", "OE"]),
            type=request.query_params.get("type") or None,
            region=request.query_params.get("region") or None,
            owner=params.sor_id(owner, "owner") if owner else None,
            status=params.choice(request, "status", [s.value for s in UnitStatus]),
            modified_since=params.moment(request, "modified_since"),
        )
        after = request.query_params.get("after")
        after = params.sor_id(after, "after") if after else 0
        limit = params.integer(request, "limit", default=DEFAULT_PAGE, minimum=1, maximum=MAX_PAGE)
        try:
            ids, more = listing.page_ids(filters, view, after=after, limit=limit)
        except listing.UnknownCode as exc:
            raise BadParameter(str(exc)) from None
        docs = Documents(view).units(ids)
        return Response({"results": [docs[i] for i in ids if i in docs],
                         "next": _next(request, after=str(ids[-1])) if more else None,
                         "view": _view_info(view)})


class UnitDetail(ReadView):
    @extend_schema(operation_id="unit_read", summary="One unit: own and effective values, each effective block with its source",
                   parameters=[VALID_ON, AS_REGISTERED], responses={200: shapes.UnitDetail, **ERRORS})
    def get(self, request, sor_id):
        sor_id = _sor_id_path(sor_id)
        view = params.one_view(request)
        doc = Documents(view).units([sor_id]).get(sor_id)
        if doc is None:
            raise NotFound(_absent(sor_id, view))
        if view.versions and doc["status"] not in VALID:
            raise NotFound(f"Unit {sor_id} is not valid on {view.day.isoformat()} (status then: {doc['status']}).")
        return Response({**doc, "view": _view_info(view)})


def _absent(sor_id: int, view: View) -> str:
    if not Unit.objects.filter(pk=sor_id).exists():
        return f"No unit has SOR-ID {sor_id}."
    if view.versions:
        return f"Unit {sor_id} is not valid on {view.day.isoformat()}."
    return f"Unit {sor_id} was not registered yet at the end of {view.day.isoformat()}."


class UnitSubtree(ReadView):
    @extend_schema(operation_id="unit_subtree", summary="Every unit below a unit (not the unit itself), in SOR-ID order",
                   parameters=[VALID_ON, AS_REGISTERED, AFTER_ID, LIMIT], responses={200: shapes.UnitPage, **ERRORS})
    def get(self, request, sor_id):
        sor_id = _sor_id_path(sor_id)
        view = params.one_view(request)
        if not Unit.objects.filter(pk=sor_id).exists():
            raise NotFound(f"No unit has SOR-ID {sor_id}.")
        after = request.query_params.get("after")
        after = params.sor_id(after, "after") if after else 0
        limit = params.integer(request, "limit", default=DEFAULT_PAGE, minimum=1, maximum=MAX_PAGE)
        below = [i for i in subtree_ids(sor_id, view) if i > after]
        docs = Documents(view)
        if view.versions:
            # Valid that day only, decided before the page is cut (a page is never empty but last).
            rows = units_in(below, view)
            below = [i for i in below if i in rows and valid_on(rows[i].first_from_date, rows[i].to_date, view.day)]
        page_ids = below[:limit]
        found = docs.units(page_ids)
        page = [found[i] for i in page_ids if i in found]
        more = len(below) > limit
        return Response({"results": page, "next": _next(request, after=str(page_ids[-1])) if more else None,
                         "view": _view_info(view)})


class UnitShak(ReadView):
    @extend_schema(operation_id="unit_shak", summary="A unit's own SHAK code on a date (SHAK is not inherited)", parameters=[DATE],
                   responses={200: shapes.UnitShak, **ERRORS})
    def get(self, request, sor_id):
        sor_id = _sor_id_path(sor_id)
        day = params.date(request, "date")
        row, code = shak.unit_shak(sor_id, day)
        if row is None:
            raise NotFound(_absent(sor_id, View.valid_on(day)) if day else f"No unit has SOR-ID {sor_id}.")
        return Response({"sor_id": str(sor_id), "date": day or timezone.localdate(), "shak": code})


class ShakUnits(ReadView):
    @extend_schema(operation_id="shak_units", summary="SHAK → SOR: the units carrying a SHAK code on a date", parameters=[DATE],
                   responses={200: shapes.ShakUnits, **ERRORS})
    def get(self, request, code):
        day = params.date(request, "date")
        code = code.strip()
        if not 4 <= len(code) <= 7 or not code.isascii() or not code.isalnum():
            raise BadParameter(f"code: {code!r} is not a SHAK code (4 to 7 letters and digits).")
        return Response({"shak": code, "date": day or timezone.localdate(), "results": shak.units_with_shak(code, day)})


class ShakMapping(ReadView):
    @extend_schema(operation_id="shak_mapping_csv", summary="The SHAK↔SOR mapping table as CSV (semicolon-separated, UTF-8)", parameters=[DATE],
                   responses={(200, "text/csv"): OpenApiTypes.STR, 400: ERRORS[400], 429: ERRORS[429]})
    def get(self, request):
        day = params.date(request, "date")
        name = f"shak-sor-{(day or timezone.localdate()).isoformat()}.csv"
        response = HttpResponse(shak.mapping_csv(day), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class LocationNumberDetail(ReadView):
    @extend_schema(operation_id="location_number_read",
        summary="A location number: the current row, every row it has had, and the units routed to it today",
        responses={200: OpenApiTypes.OBJECT, **ERRORS})
    def get(self, request, gln):
        from registry import identifiers as ids
        from registry.inheritance import location_number_valid_on
        from registry.read.state import message_types

        if not (ids.is_digits(gln) and len(gln) == 13):
            raise BadParameter(f"gln: {gln!r} is not a location number (13 digits).")
        rows = list(LocationNumber.objects.filter(gln=gln).order_by("from_date", "pk"))
        if not rows:
            raise NotFound(f"No unit has location number {gln}.")
        view = View.now()
        docs = Documents(view)
        mts = message_types([r.pk for r in rows], view)
        current = next((r for r in reversed(rows) if location_number_valid_on(r, view.day)), None)
        routed = []
        if current is not None:
            routed = [str(i) for i in routed_to(current, view.day)]
        return Response({
            "gln": gln,
            "current": docs.location_number(current, mts) if current else None,
            "routed_to": routed,
            "rows": [docs.location_number(r, mts) for r in rows],
        })


def routed_to(ln, day) -> list[int]:
    """SOR-IDs of the open units whose messages go to `ln` on `day`: within its holder's subtree."""
    from django.db.models import Q

    from registry.changelog import effective_state

    ids = list(Unit.objects.filter(Q(pk=ln.unit_id) | Q(ancestors__contains=[ln.unit_id]))
               .exclude(to_date__lt=day).values_list("sor_id", flat=True))
    state = effective_state(ids, day)
    return sorted(i for i, blocks in state.items() if blocks["location_number"][1].get("location_number") == ln.gln)


class Codes(ReadView):
    @extend_schema(operation_id="code_lists", summary="The code lists", responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response({"results": [{"list": slug, "url": request.build_absolute_uri(reverse("api:code-list", args=[slug]))}
                                     for slug in CODE_LISTS]})


class CodeListView(ReadView):
    @extend_schema(operation_id="code_list_read", summary="One code list, every code with its validity and successor",
                   responses={200: shapes.CodeList, **ERRORS})
    def get(self, request, code_list):
        if code_list not in CODE_LISTS:
            raise NotFound(f"No code list {code_list!r}; the lists are: {', '.join(CODE_LISTS)}.")
        rows = code_model(CODE_LISTS[code_list]).objects.select_related("successor").order_by("code")
        return Response({"list": code_list, "results": [code_document(c) for c in rows]})


class Changes(ReadView):
    @extend_schema(operation_id="changes_list",
        summary="The change feed: every change-log event after a sequence number, in commit order",
        description="Page with `after=` the `last_sequence` of the previous page (or follow `next`). Numbers "
                    "become visible in commit order with no gaps, so a consumer never misses or repeats an event. "
                    "A new consumer starts from a published file: `/published/<date>/` gives the position its "
                    "snapshot was built from.",
        parameters=[P("after", OpenApiTypes.INT, description="The last sequence number already read (default 0)."),
                    P("limit", OpenApiTypes.INT, description=f"Events per page, 1–{feed.MAX_LIMIT} "
                                                             f"(default {feed.DEFAULT_LIMIT}).")],
        responses={200: shapes.FeedPage, **ERRORS})
    def get(self, request):
        after = params.integer(request, "after", default=0, minimum=0)
        limit = params.integer(request, "limit", default=feed.DEFAULT_LIMIT, minimum=1, maximum=feed.MAX_LIMIT)
        items, last = feed.page(after, limit)
        full = len(items) == limit
        return Response({"results": items, "next": _next(request, after=str(last)) if full else None,
                         "last_sequence": last if last is not None else after})


class Publications(ReadView):
    @extend_schema(operation_id="publications_list", summary="Every published day: its change-log position, builder version and files",
                   responses={200: shapes.Publications})
    def get(self, request):
        from exports.models import ExportRun

        runs = (ExportRun.objects.filter(status=ExportRun.Status.SUCCEEDED, changelog_position__isnull=False)
                .order_by("-snapshot_date", "-published_at"))
        seen, out = set(), []
        for run in runs:
            if run.snapshot_date not in seen:
                seen.add(run.snapshot_date)
                out.append(publication(run))
        return Response({"results": out})


def _day(raw: str) -> dt.date:
    return params.parse_date(raw, "date")


class PublicationDetail(ReadView):
    @extend_schema(operation_id="publication_read", summary="What was published on a date", responses={200: shapes.Publication, **ERRORS})
    def get(self, request, day):
        from registry.read.published import run_for

        try:
            return Response(publication(run_for(_day(day))))
        except NotPublished as exc:
            raise NotFound(str(exc)) from None


class PublishedUnitView(ReadView):
    @extend_schema(operation_id="published_unit_read", summary="A unit as the SOR file of a date showed it (also after the file was deleted)",
                   responses={200: shapes.PublishedUnit, **ERRORS})
    def get(self, request, day, sor_id):
        day, sor_id = _day(day), _sor_id_path(sor_id)
        try:
            doc, pub = published_unit(day, sor_id)
        except NotPublished as exc:
            raise NotFound(str(exc)) from None
        except LookupError as exc:
            raise NotFound(str(exc)) from None
        return Response({"unit": doc, "publication": pub})
