"""The API's rate limit per client address, counted on Redis (`registry.ratelimit`), so it holds
across every web process: `SOR_API_RATE` requests per `SOR_API_RATE_WINDOW` seconds, then 429
with Retry-After."""

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from registry.ratelimit import hit
from sor_public.throttle import client_address


class ClientRateThrottle(BaseThrottle):
    scope = "api"

    def allow_request(self, request, view):
        allowed, self.retry_after = hit(self.scope, client_address(request), settings.SOR_API_RATE,
                                        settings.SOR_API_RATE_WINDOW)
        return allowed

    def wait(self):
        return self.retry_after
