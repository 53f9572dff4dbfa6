"""Rate limits on Django's cache (Redis), so a limit holds across every web process.

A fixed window per client address: the first request of a window creates its counter
(`cache.add`), each request increments it atomically (`cache.incr`, Redis INCR), and a request
over the limit is answered 429 with Retry-After. Keys: `throttle:<scope>:<who>:<window number>`.
"""

from __future__ import annotations

import functools
import time

from django.conf import settings
from django.core.cache import cache
from django.shortcuts import render


def client_address(request) -> str:
    """The client's address: REMOTE_ADDR, or the first address of `SOR_CLIENT_IP_HEADER` when
    the site runs behind a proxy that sets it."""
    header = settings.SOR_CLIENT_IP_HEADER
    if header and request.META.get(header):
        return request.META[header].split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "")


def hit(scope: str, who: str, limit: int, window: int) -> tuple[bool, int]:
    """Count one request; (allowed, seconds until the window ends)."""
    now = int(time.time())
    number = now // window
    key = f"throttle:{scope}:{who}:{number}"
    cache.add(key, 0, timeout=window + 5)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window + 5)
        count = 1
    return count <= limit, window - now % window


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
