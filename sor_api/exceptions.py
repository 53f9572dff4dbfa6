"""Errors as `{"error": "<what is wrong>"}` with the HTTP status (FHIR views answer
OperationOutcome themselves)."""

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class BadParameter(exceptions.ParseError):
    """A query parameter that cannot be used; the message names it."""


class Gone(exceptions.APIException):
    status_code = status.HTTP_404_NOT_FOUND


def handler(exc, context):
    response = exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data.get("detail") if isinstance(response.data, dict) else response.data
    if isinstance(exc, exceptions.Throttled):
        detail = f"Too many requests; try again in {exc.wait or 1:.0f} seconds."
    return Response({"error": str(detail)}, status=response.status_code, headers=_headers(response))


def _headers(response):
    return {k: v for k, v in response.items() if k in ("Retry-After", "Allow")}
