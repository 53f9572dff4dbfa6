"""Freeze windows: times in which the register is frozen (as in April 2018, when no updates were
possible for three days while a new register was loaded).

Inside a window the services refuse edits from everyone except SOR-administrators, with a
message naming the window: the check sits where every write starts, when an outermost
operation is opened (`registry.audit.audit_context`). Scheduled change-sets and real imports
wait for the first nightly run after the window unless it lets them through (`allow_scheduled`,
`allow_imports`; dry runs of an import still run, they write nothing); change-sets
may still be proposed, submitted and decided; the nightly file is still produced. A banner on
every staff page names the window (`sor_admin.context.freeze_banner`).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .errors import DomainError, NotAllowed, ValidationFailed
from .models import FreezeWindow
from .permissions import is_sor_admin, is_system


class Frozen(NotAllowed):
    """An edit refused because the register is frozen; the message names the window."""

    def __init__(self, window: FreezeWindow):
        self.window = window
        super().__init__(_("Registeret er frosset %(span)s (%(reason)s): kun SOR-administratorer kan rette i "
                           "det. Ændringsønsker kan stadig oprettes som ændringssæt.")
                         % {"span": span(window), "reason": window.reason})


def _fmt(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%d-%m-%Y %H:%M")


def span(window: FreezeWindow) -> str:
    return _("fra %(start)s til %(end)s") % {"start": _fmt(window.starts_at), "end": _fmt(window.ends_at)}


def active_window(at: dt.datetime | None = None) -> FreezeWindow | None:
    """The window covering `at` (default now), the one ending last if several overlap."""
    at = at or timezone.now()
    return FreezeWindow.objects.filter(starts_at__lte=at, ends_at__gt=at).order_by("-ends_at").first()


def upcoming(days: int = 7, at: dt.datetime | None = None) -> list[FreezeWindow]:
    at = at or timezone.now()
    return list(FreezeWindow.objects.filter(starts_at__gt=at, starts_at__lte=at + dt.timedelta(days=days))
                .order_by("starts_at"))


def blocking(what: str, at: dt.datetime | None = None) -> FreezeWindow | None:
    """The active window that holds back `what` ("imports" or "scheduled"), unless it lets them
    through."""
    window = active_window(at)
    if window is None or getattr(window, f"allow_{what}"):
        return None
    return window


def check_not_frozen(actor) -> None:
    """Refuse an edit by anyone but an SOR-administrator (or the system) inside a window."""
    if is_sor_admin(actor):
        return
    window = active_window()
    if window is not None:
        raise Frozen(window)


def _check_may_declare(actor) -> None:
    if not is_sor_admin(actor):
        raise NotAllowed(_("Kun SOR-administratorer kan erklære eller afslutte et frysevindue."))


def freeze_add(*, actor, starts_at: dt.datetime, ends_at: dt.datetime, reason: str, allow_imports: bool = False,
               allow_scheduled: bool = False) -> FreezeWindow:
    _check_may_declare(actor)
    reason = (reason or "").strip()
    errors = {}
    if not reason:
        errors["reason"] = [_("Skal udfyldes: hvorfor registeret fryses.")]
    if ends_at <= starts_at:
        errors["ends_at"] = [_("Vinduet skal slutte efter det begynder (%(start)s).") % {"start": _fmt(starts_at)}]
    elif ends_at <= timezone.now():
        errors["ends_at"] = [_("Vinduet er allerede slut (%(end)s).") % {"end": _fmt(ends_at)}]
    if errors:
        raise ValidationFailed(errors)
    return FreezeWindow.objects.create(starts_at=starts_at, ends_at=ends_at, reason=reason,
                                       allow_imports=allow_imports, allow_scheduled=allow_scheduled,
                                       created_by=actor if not is_system(actor) else None)


def freeze_end(*, actor, window: FreezeWindow | int) -> FreezeWindow:
    """End a window now; one that has not begun yet is ended before it begins (it never applies)."""
    _check_may_declare(actor)
    window = FreezeWindow.objects.filter(pk=getattr(window, "pk", window)).first()
    if window is None:
        raise DomainError(_("Frysevinduet findes ikke."))
    now = timezone.now()
    if window.ends_at <= now:
        raise DomainError(_("Frysevinduet %(span)s er allerede slut.") % {"span": span(window)})
    if window.starts_at > now:
        window.starts_at = now - dt.timedelta(microseconds=1)  # ends_at must stay after starts_at
    window.ends_at = now
    window.ended_by = actor if not is_system(actor) else None
    window.save()
    return window


def windows(include_past: bool = False):
    qs = FreezeWindow.objects.select_related("created_by", "ended_by")
    if not include_past:
        qs = qs.filter(Q(ends_at__gt=timezone.now()))
    return qs.order_by("starts_at")


def as_json(window: FreezeWindow) -> dict:
    return {"id": str(window.pk), "from": timezone.localtime(window.starts_at).isoformat(timespec="minutes"),
            "to": timezone.localtime(window.ends_at).isoformat(timespec="minutes"), "reason": window.reason,
            "allow_imports": window.allow_imports, "allow_scheduled": window.allow_scheduled,
            "active": window.starts_at <= timezone.now() < window.ends_at,
            "created_by": window.created_by.username if window.created_by else None,
            "ended_by": window.ended_by.username if window.ended_by else None}
