"""The FHIR façade (`/fhir/`): R4 Organization read and search by identifier, as
`application/fhir+json`; errors are OperationOutcome resources."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from registry import identifiers as ids
from registry.read import fhir
from registry.read.documents import Documents
from registry.read.state import View

from .views import ReadView

MAX_MATCHES = 100


class FhirJSONRenderer(JSONRenderer):
    media_type = "application/fhir+json"
    format = "fhir"


def _outcome(status: int, code: str, text: str) -> Response:
    return Response(fhir.operation_outcome(code, text), status=status)


class FhirView(ReadView):
    renderer_classes = [FhirJSONRenderer, JSONRenderer]

    def handle_exception(self, exc):
        """Every refusal as an OperationOutcome (a wrong method, format or parameter, too many
        requests), with the HTTP status DRF chose."""
        response = super().handle_exception(exc)
        code = {400: "invalid", 404: "not-found", 405: "not-supported", 406: "not-supported",
                429: "throttled"}.get(response.status_code, "exception")
        text = response.data.get("error") if isinstance(response.data, dict) else None
        if isinstance(exc, exceptions.Throttled):
            text = f"Too many requests; try again in {exc.wait or 1:.0f} seconds."
        response.data = fhir.operation_outcome(code, text or str(getattr(exc, "detail", exc)))
        if isinstance(exc, exceptions.NotAcceptable | exceptions.NotFound):
            # DRF could not pick a renderer for the request: answer FHIR JSON anyway.
            response.accepted_renderer, response.accepted_media_type = FhirJSONRenderer(), FhirJSONRenderer.media_type
        return response


class OrganizationRead(FhirView):
    @extend_schema(operation_id="fhir_organization_read", summary="FHIR R4 Organization of a unit (DK-core identifiers)",
                   responses={(200, "application/fhir+json"): OpenApiTypes.OBJECT,
                              (404, "application/fhir+json"): OpenApiTypes.OBJECT})
    def get(self, request, sor_id):
        if not ids.is_digits(sor_id):
            return _outcome(404, "not-found", f"Organization/{sor_id}: a SOR-ID has digits only.")
        doc = Documents(View.now()).units([int(sor_id)]).get(int(sor_id))
        if doc is None:
            return _outcome(404, "not-found", f"No Organization with SOR-ID {sor_id}.")
        return Response(fhir.organization(doc))


class OrganizationSearch(FhirView):
    @extend_schema(operation_id="fhir_organization_search",
        summary="Search Organizations by identifier (system|value)",
        parameters=[OpenApiParameter("identifier", OpenApiTypes.STR, required=True,
                                     description=f"<system>|<value>; systems: SOR {fhir.SOR}, GLN {fhir.GLN}, "
                                                 f"ydernummer {fhir.YDERNUMMER}, CVR {fhir.CVR}. A value alone "
                                                 "matches any of them.")],
        responses={(200, "application/fhir+json"): OpenApiTypes.OBJECT,
                   (400, "application/fhir+json"): OpenApiTypes.OBJECT})
    def get(self, request):
        raw = (request.query_params.get("identifier") or "").strip()
        if not raw:
            return _outcome(400, "required", "identifier: give <system>|<value> (e.g. "
                                              f"{fhir.SOR}|<SOR-ID>); a search without it is not offered.")
        system, sep, value = raw.rpartition("|")
        if not value:
            return _outcome(400, "value", f"identifier: {raw!r} has no value after the '|'.")
        # "|value" is an identifier without a system: SOR issues none, so nothing matches.
        found = [] if sep and not system else fhir.find(system if sep else None, value)
        if found is None:
            found = []  # a system this register does not issue: no match (FHIR search semantics)
        docs = Documents(View.now()).units(found[:MAX_MATCHES])
        base = request.build_absolute_uri("/fhir/Organization/")
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(found),
            "link": [{"relation": "self", "url": request.build_absolute_uri()}],
            "entry": [{"fullUrl": f"{base}{i}", "resource": fhir.organization(docs[i]), "search": {"mode": "match"}}
                      for i in found[:MAX_MATCHES] if i in docs],
        }
        return Response(bundle)


class Metadata(FhirView):
    @extend_schema(operation_id="fhir_metadata", summary="FHIR R4 CapabilityStatement: what this façade serves",
                   responses={(200, "application/fhir+json"): OpenApiTypes.OBJECT})
    def get(self, request):
        return Response({
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-12-03",
            "kind": "instance",
            "software": {"name": "SOR-administration"},
            "implementation": {"description": "SOR (Sundhedsvæsenets Organisationsregister), read only",
                               "url": request.build_absolute_uri("/fhir")},
            "fhirVersion": "4.0.1",
            "format": ["application/fhir+json"],
            "rest": [{
                "mode": "server",
                "resource": [{
                    "type": "Organization",
                    "profile": fhir.PROFILE,
                    "interaction": [{"code": "read"}, {"code": "search-type"}],
                    "searchParam": [{"name": "identifier", "type": "token",
                                     "documentation": f"<system>|<value>: {fhir.SOR}, {fhir.GLN}, {fhir.YDERNUMMER}, "
                                                      f"{fhir.CVR}"}],
                }],
            }],
        })
