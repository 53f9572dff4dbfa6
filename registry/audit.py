"""The audit context: who, why, from where and in which batch every history row was written.

Services open an `audit_context`; every historical record created inside it (one row per saved
register row, by django-simple-history) is stamped with the actor, reason, origin and batch id.
A write to a historied model outside any context is refused: that is how "services are the only
writers" is enforced rather than hoped for.
"""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from dataclasses import dataclass, field

from django.db import models
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _
from simple_history.signals import pre_create_historical_record


class Origin(models.TextChoices):
    ADMIN = "admin", _("administration")
    IMPORT = "import", _("import")
    TASK = "task", _("baggrundsjob")
    COMMAND = "command", _("kommando")
    API = "api", _("API")
    MIGRATION = "migration", _("migrering")


@dataclass(frozen=True)
class AuditContext:
    actor: object | None
    reason: str
    origin: str
    batch_id: uuid.UUID = field(default_factory=uuid.uuid4)

    def historical_attrs(self) -> dict:
        """Attributes for history rows written by simple-history's bulk helpers."""
        return {"origin": self.origin, "batch_id": self.batch_id}

    @property
    def user(self):
        actor = self.actor
        return actor if getattr(actor, "pk", None) else None


_current: contextvars.ContextVar[AuditContext | None] = contextvars.ContextVar("sor_audit", default=None)


class AuditError(RuntimeError):
    pass


@contextlib.contextmanager
def audit_context(*, actor, reason: str, origin: str, batch_id: uuid.UUID | None = None):
    """Open (or join) an audit context. A nested call joins the outer batch and keeps its reason
    unless it gives its own; the outer origin wins so an import stays an import."""
    reason = (reason or "").strip()
    outer = _current.get()
    if outer is not None:
        ctx = AuditContext(actor=outer.actor if actor is None else actor, reason=reason or outer.reason,
                           origin=outer.origin, batch_id=outer.batch_id)
    else:
        if not reason:
            raise AuditError("A reason is required for every change to the register.")
        if origin not in Origin.values:
            raise AuditError(f"Unknown origin {origin!r}")
        ctx = AuditContext(actor=actor, reason=reason, origin=origin, batch_id=batch_id or uuid.uuid4())
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def current_context() -> AuditContext | None:
    return _current.get()


def require_context() -> AuditContext:
    ctx = _current.get()
    if ctx is None:
        raise AuditError("Register data may only be written through a service (no audit context is open).")
    return ctx


class AuditedHistory(models.Model):
    """Extra columns on every historical table (`HistoricalRecords(bases=[AuditedHistory])`)."""

    origin = models.CharField(_("oprindelse"), max_length=16, choices=Origin.choices, default="")
    batch_id = models.UUIDField(_("batch"), null=True, db_index=True)

    class Meta:
        abstract = True


@receiver(pre_create_historical_record)
def _stamp_history(sender, instance, history_instance, **kwargs):
    ctx = require_context()
    history_instance.origin = ctx.origin
    history_instance.batch_id = ctx.batch_id
    history_instance.history_change_reason = ctx.reason
    if ctx.user is not None:
        history_instance.history_user = ctx.user
