"""Fixed-window counters on Django's cache (Redis), so a limit holds across every process.

The first hit of a window creates its counter (`cache.add`), each hit increments it atomically
(`cache.incr`, Redis INCR). Keys: `throttle:<scope>:<who>:<window number>`. The public pages
(`sor_public.throttle`) and the services (link mails per unit) count with it.
"""

from __future__ import annotations

import time

from django.core.cache import cache


def hit(scope: str, who: str, limit: int, window: int) -> tuple[bool, int]:
    """Count one hit; (allowed, seconds until the window ends)."""
    now = int(time.time())
    key = f"throttle:{scope}:{who}:{now // window}"
    cache.add(key, 0, timeout=window + 5)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window + 5)
        count = 1
    return count <= limit, window - now % window
