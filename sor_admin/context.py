"""Template context for every staff page."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject


def freeze_banner(request):
    """The freeze window in force now and those starting within a week (one query, only when a
    staff page shows the banner)."""
    if not request.path.startswith("/admin/") or not getattr(request, "user", None) or not request.user.is_staff:
        return {}

    def window_info():
        from registry import freeze

        active = freeze.active_window()
        return {"active": active, "active_span": freeze.span(active) if active else None,
                "upcoming": [(w, freeze.span(w)) for w in freeze.upcoming(7)]}

    return {"sor_freeze": SimpleLazyObject(window_info)}
