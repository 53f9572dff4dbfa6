"""The audit context: the recorded operation behind every write to the register.

Services open an `audit_context`. The outermost one is an `Operation` (kind, actor, reason,
origin, provenance, parent) and a transaction: every row written inside it, its history row and
its change-log events commit together or not at all. A nested context joins the outer operation
(it may give its own reason for its history rows) unless it asks for a `child` operation of its
own. The operation row is written when it opens and removed when it ends if nothing was
written under it, so an operation that changes nothing leaves nothing behind.

A write to a historied model outside any context is refused *before* it reaches the database
(`registry.changelog` connects the pre-save and pre-delete guards, the bulk and COPY helpers
check too): that is how "services are the only writers" is enforced rather than hoped for.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import uuid as uuid_module
from dataclasses import dataclass, field

from django.db import connection, models, transaction
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.signals import pre_create_historical_record

from .models.operations import OperationKind, Origin

# The kind an operation gets when its caller names only the origin.
DEFAULT_KIND = {
    Origin.ADMIN: OperationKind.ADMIN_EDIT, Origin.IMPORT: OperationKind.XML_IMPORT, Origin.TASK: OperationKind.TASK,
    Origin.COMMAND: OperationKind.COMMAND, Origin.API: OperationKind.API,
    Origin.SELF_SERVICE: OperationKind.CHANGE_REQUEST, Origin.MIGRATION: OperationKind.MIGRATION,
}


class AuditError(RuntimeError):
    pass


@dataclass(eq=False)
class OperationState:
    """One operation as it is being recorded: its `Operation` row is written when it opens.

    `watch` holds the effective (inherited) values of units, as they were before this operation
    first wrote something that can change them (see `registry.changelog`)."""

    kind: str
    origin: str
    actor: object | None
    reason: str
    provenance: dict
    parent: OperationState | None = None
    parent_id: int | None = None
    uuid: uuid_module.UUID = field(default_factory=uuid_module.uuid4)
    started_at: dt.datetime = field(default_factory=timezone.now)
    pk: int | None = None
    root: OperationState | None = None
    watch: dict = field(default_factory=dict)
    created_units: set = field(default_factory=set)
    # Whether anything was written under it (or under a child): an operation without is removed.
    wrote: bool = False
    # On the root only: every materialised operation of this transaction, and whether any wrote events.
    operation_ids: list = field(default_factory=list)
    events_written: bool = False
    next_seq: int | None = None  # set once the operation numbers its events at insert (bulk)
    depth: int = 0  # savepoints open when its transaction block began (numbering at insert needs it)
    finished: bool = False

    def mark_written(self) -> int:
        """The id for a row about to be written under this operation."""
        if self.finished:
            raise AuditError("This operation has ended; open a new one to write.")
        op = self
        while op is not None and not op.wrote:
            op.wrote = True
            op = op.parent
        return self.materialise()

    def materialise(self) -> int:
        if self.pk is None:
            from .models.operations import Operation

            parent_id = self.parent.materialise() if self.parent is not None else self.parent_id
            user = self.actor if getattr(self.actor, "pk", None) else None
            op = Operation.objects.create(
                uuid=self.uuid, kind=self.kind, origin=self.origin, actor=user, reason=self.reason,
                parent_id=parent_id, provenance=self.provenance, started_at=self.started_at,
            )
            self.pk = op.pk
            (self.root or self).operation_ids.append(op.pk)
        return self.pk


@dataclass(frozen=True)
class AuditContext:
    """What a write sees: the operation it belongs to, and the actor and reason of its history rows."""

    actor: object | None
    reason: str
    origin: str
    op: OperationState

    @property
    def operation_id(self) -> int | None:
        """The operation's id for a row about to be written; after the operation ended, its id
        (None when it wrote nothing and was removed)."""
        return self.op.pk if self.op.finished else self.op.mark_written()

    @property
    def uuid(self) -> uuid_module.UUID:
        return self.op.uuid

    @property
    def kind(self) -> str:
        return self.op.kind

    @property
    def root(self) -> OperationState:
        return self.op.root or self.op

    def historical_attrs(self) -> dict:
        """Attributes for history rows written by simple-history's bulk helpers and by COPY."""
        return {"origin": self.origin, "operation_id": self.operation_id}

    @property
    def user(self):
        actor = self.actor
        return actor if getattr(actor, "pk", None) else None


_current: contextvars.ContextVar[AuditContext | None] = contextvars.ContextVar("sor_audit", default=None)


def _finish(op: OperationState) -> None:
    """At the end of an operation: the events of units whose inherited values it changed, its
    finish time; at the end of the outermost one, the change log's sequence numbers."""
    from . import changelog
    from .models.operations import Operation

    changelog.flush_effective(op)
    if op.wrote and not _referenced(op.pk):
        op.wrote = False  # what it wrote was rolled back (a dry run inside it): nothing is left
    if not op.wrote:
        # Nothing refers to it: an operation that changed nothing is not recorded. (One plain
        # DELETE: the ORM's would first look for references in every history table.)
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM registry_operation WHERE id = %s", [op.pk])
        (op.root or op).operation_ids.remove(op.pk)
        op.pk = None
    else:
        Operation.objects.filter(pk=op.pk).update(finished_at=timezone.now(), provenance=op.provenance)
    if op.root is None and op.events_written:
        changelog.assign_sequence(op.operation_ids)
        op.events_written = False
    op.finished = True


def _referenced(operation_id: int) -> bool:
    """Whether any row still points to the operation (one query over the event, operation and
    history tables' indexed operation columns)."""
    from simple_history.models import registered_models

    from .models.operations import ChangeEvent, Operation

    tables = [ChangeEvent._meta.db_table] + [
        m.history.model._meta.db_table for m in registered_models.values() if m._meta.app_label == "registry"]
    checks = " OR ".join(f"EXISTS (SELECT 1 FROM {connection.ops.quote_name(t)} WHERE operation_id = %s)"
                         for t in tables)
    checks += f" OR EXISTS (SELECT 1 FROM {Operation._meta.db_table} WHERE parent_id = %s)"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {checks}", [operation_id] * (len(tables) + 1))
        return cursor.fetchone()[0]


@contextlib.contextmanager
def audit_context(*, actor, reason: str, origin: str, kind: str | None = None, provenance: dict | None = None,
                  child: bool = False, parent=None):
    """Open an operation, or join the one already open.

    - outermost: a new operation and a transaction (all its writes commit together); `parent`
      (an Operation or its id) records it as part of an operation committed earlier, e.g. one
      change-set of a nightly run;
    - nested: joins the outer operation, keeping its origin (an import stays an import) and its
      reason unless it gives its own for its history rows;
    - nested with `child=True`: a new operation under the outer one, in a savepoint."""
    reason = (reason or "").strip()
    outer = _current.get()
    if outer is not None and not child:
        if provenance:
            outer.op.provenance.update(provenance)
        ctx = AuditContext(actor=outer.actor if actor is None else actor, reason=reason or outer.reason,
                           origin=outer.origin, op=outer.op)
        token = _current.set(ctx)
        try:
            yield ctx
        finally:
            _current.reset(token)
        return
    if not reason:
        if outer is None:
            raise AuditError("A reason is required for every change to the register.")
        reason = outer.reason
    if outer is None:
        from .freeze import check_not_frozen

        check_not_frozen(actor)  # inside a freeze window only SOR-administrators edit
    origin = origin if outer is None else (origin or outer.origin)
    if origin not in Origin.values:
        raise AuditError(f"Unknown origin {origin!r}")
    kind = kind or DEFAULT_KIND[origin]
    if kind not in OperationKind.values:
        raise AuditError(f"Unknown operation kind {kind!r}")
    op = OperationState(
        kind=kind, origin=origin, actor=actor if actor is not None or outer is None else outer.actor, reason=reason,
        provenance=dict(provenance or {}), parent=outer.op if outer is not None else None,
        parent_id=getattr(parent, "pk", parent), root=outer.root if outer is not None else None,
    )
    ctx = AuditContext(actor=op.actor, reason=reason, origin=origin, op=op)
    with transaction.atomic():
        # Written first, at the operation's own level of the transaction: a savepoint rolled back
        # inside it (a refused service call that the caller handles) cannot take the row with it.
        op.depth = len(connection.savepoint_ids)
        op.materialise()
        token = _current.set(ctx)
        try:
            yield ctx
            _finish(op)
        finally:
            _current.reset(token)


def operation_start(*, kind: str, origin: str, actor, reason: str, provenance: dict | None = None):
    """An umbrella operation committed on its own (outside any transaction it is saved at once),
    for work done in several transactions: each is an `audit_context(parent=...)` under it."""
    from .models.operations import Operation

    if not (reason or "").strip():
        raise AuditError("A reason is required for every change to the register.")
    return Operation.objects.create(kind=kind, origin=origin, actor=actor if getattr(actor, "pk", None) else None,
                                    reason=reason.strip(), provenance=provenance or {}, started_at=timezone.now())


def operation_finish(operation) -> None:
    """Record the end of an umbrella operation; one that nothing ended up under is removed."""
    from .models.operations import Operation

    if _referenced(operation.pk):
        Operation.objects.filter(pk=operation.pk).update(finished_at=timezone.now())
    else:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM registry_operation WHERE id = %s", [operation.pk])


def current_context() -> AuditContext | None:
    return _current.get()


def require_context() -> AuditContext:
    ctx = _current.get()
    if ctx is None:
        raise AuditError("Register data may only be written through a service (no operation is open).")
    return ctx


class GuardedQuerySet(models.QuerySet):
    """The queryset of every historied model: its bulk writes are refused outside an operation
    (`save()` and `delete()` are guarded by the pre-save/pre-delete receivers). Inside one, only
    the history-aware helpers in `registry.services.bulk` may use them; `update()` is never used
    on these models (it writes no history)."""

    def update(self, **kwargs):
        require_context()
        return super().update(**kwargs)

    def bulk_create(self, objs, *args, **kwargs):
        require_context()
        return super().bulk_create(objs, *args, **kwargs)

    def bulk_update(self, objs, *args, **kwargs):
        require_context()
        return super().bulk_update(objs, *args, **kwargs)


GuardedManager = models.Manager.from_queryset(GuardedQuerySet)


class AuditedHistory(models.Model):
    """Extra columns on every historical table (`HistoricalRecords(bases=[AuditedHistory])`)."""

    origin = models.CharField(_("oprindelse"), max_length=16, choices=Origin.choices, default="")
    operation = models.ForeignKey("registry.Operation", verbose_name=_("operation"), null=True,
                                  on_delete=models.PROTECT, related_name="+", db_constraint=True)

    class Meta:
        abstract = True


@receiver(pre_create_historical_record)
def _stamp_history(sender, instance, history_instance, **kwargs):
    ctx = require_context()
    history_instance.origin = ctx.origin
    history_instance.operation_id = ctx.operation_id
    history_instance.history_change_reason = ctx.reason
    if ctx.user is not None:
        history_instance.history_user = ctx.user
