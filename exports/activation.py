"""The first step of the nightly chain: activate changes that take effect on the snapshot date.

Features register an activator; the approved change-sets whose date has come are one
(`registry.change_sets`, registered by `exports.apps`):

    from exports.activation import register_activator

    @register_activator("registry.change_sets", own_transactions=True)
    def activate_change_sets(day, *, log, parent):
        return change_set_apply_due(day, log=log, parent=parent)

An activator must be idempotent (the chain may run twice for one date after a lost worker), call
services (they open the audit context), and return a small JSON-able summary. By default each
one runs in its own transaction and is its own operation, a child of the run's operation: a
failing activator rolls back only its own work and fails the run, so no file is published from
a half-activated register. One registered with `own_transactions=True` opens its own (one per
item, each a child operation of `parent`) and handles its items' failures itself: one failing
change-set is marked failed and the others and the file go on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import contextmanager

from registry.audit import Origin, audit_context, operation_finish, operation_start
from registry.models import OperationKind

Activator = Callable[..., dict]
_ACTIVATORS: dict[str, Activator] = {}
_OWN_TRANSACTIONS: set[str] = set()


def register_activator(name: str, *, own_transactions: bool = False):
    def decorate(func: Activator) -> Activator:
        _ACTIVATORS[name] = func
        if own_transactions:
            _OWN_TRANSACTIONS.add(name)
        else:
            _OWN_TRANSACTIONS.discard(name)
        return func

    return decorate


def unregister_activator(name: str) -> None:
    _ACTIVATORS.pop(name, None)
    _OWN_TRANSACTIONS.discard(name)


def activators() -> dict[str, Activator]:
    return dict(_ACTIVATORS)


@contextmanager
def suspended():
    """Run the block with no activators registered, then restore them as they were (tests)."""
    saved, own = dict(_ACTIVATORS), set(_OWN_TRANSACTIONS)
    _ACTIVATORS.clear()
    _OWN_TRANSACTIONS.clear()
    try:
        yield
    finally:
        _ACTIVATORS.clear()
        _ACTIVATORS.update(saved)
        _OWN_TRANSACTIONS.clear()
        _OWN_TRANSACTIONS.update(own)


def run_activators(day: dt.date, *, log: Callable[[str], None]) -> dict[str, dict]:
    """Run every registered activator for `day` in registration order; returns name → summary."""
    if not _ACTIVATORS:
        log(f"Aktivering: ingen planlagte ændringer er registreret (ingen aktivatorer) for {day}.")
        return {}
    results = {}
    # The run is one operation, committed first; each activator's work is a child operation of it
    # in a transaction of its own.
    run_op = operation_start(kind=OperationKind.TASK, origin=Origin.TASK, actor=None,
                             reason=f"Natlig aktivering af ændringer gældende {day}")
    try:
        for name, func in list(_ACTIVATORS.items()):
            if name in _OWN_TRANSACTIONS:
                results[name] = summary = func(day, log=log, parent=run_op) or {}
                log(f"Aktivering: {name}: {summary}")
                continue
            with audit_context(actor=None, reason=f"Natlig aktivering ({name}) af ændringer gældende {day}",
                               origin=Origin.TASK, parent=run_op):
                summary = func(day, log=log) or {}
            results[name] = summary
            log(f"Aktivering: {name}: {summary}")
    finally:
        operation_finish(run_op)
    return results
