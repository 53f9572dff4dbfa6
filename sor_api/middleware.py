"""Conditional requests for the API and FHIR answers: an ETag (a hash of the body) on every
answer, 304 Not Modified when the client sends it back unchanged (If-None-Match). Revalidated
every time (`Cache-Control: no-cache`): the register changes during the day."""

from django.middleware.http import ConditionalGetMiddleware

PREFIXES = ("/api/", "/fhir/")


class ApiConditionalGetMiddleware(ConditionalGetMiddleware):
    def process_response(self, request, response):
        if not request.path.startswith(PREFIXES):
            return response
        if request.method in ("GET", "HEAD") and response.status_code == 200 and not response.has_header("Cache-Control"):
            response["Cache-Control"] = "no-cache"
        return super().process_response(request, response)
