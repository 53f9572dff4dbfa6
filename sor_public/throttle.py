"""Rate limits of the public pages per client address, on Redis (`registry.ratelimit`), so a
limit holds across every web process; a request over the limit is answered 429 with Retry-After.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.shortcuts import render

from registry.ratelimit import hit


def client_address(request) -> str:
    """The client's address: REMOTE_ADDR, or, behind a proxy, the *last* address of
    `SOR_CLIENT_IP_HEADER` (e.g. HTTP_X_FORWARDED_FOR): the one the trusted proxy appended. The
    addresses before it are whatever the client sent, so they are never used."""
    header = settings.SOR_CLIENT_IP_HEADER
    if header and request.META.get(header):
        return request.META[header].split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


def too_many(request, retry_after: int, what: str = ""):
    response = render(request, "public/too_many.html", {"retry_after": retry_after, "minutes": max(1, -(-retry_after // 60)),
                                                        "what": what}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


# Page views (GET) are cheap and show nothing new: they get ten times the budget of the requests
# that look something up or send something (POST), so a clinic behind a shared address is not
# stopped by reading pages.
GET_FACTOR = 10


def throttled(scope: str):
    """Limit a view to `SOR_SELFSERVICE_RATE` POST requests (and ten times as many GETs) per
    client address and `SOR_SELFSERVICE_RATE_WINDOW` seconds, counted over every process."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            posting = request.method == "POST"
            limit = settings.SOR_SELFSERVICE_RATE * (1 if posting else GET_FACTOR)
            allowed, retry_after = hit(f"{scope}:{'post' if posting else 'get'}", client_address(request), limit,
                                       settings.SOR_SELFSERVICE_RATE_WINDOW)
            if not allowed:
                return too_many(request, retry_after)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
