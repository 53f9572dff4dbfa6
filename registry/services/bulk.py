"""History-aware bulk writers for importers and the generator (never `bulk_create` directly).

Each writes the rows and their history rows (via simple-history's bulk helpers) stamped with the
open audit context: user, reason, origin and batch id. Callers validate before calling."""

from __future__ import annotations

from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from ..audit import require_context


def bulk_create(model, objs, *, batch_size: int = 2000):
    ctx = require_context()
    return bulk_create_with_history(
        objs, model, batch_size=batch_size, default_user=ctx.user, default_change_reason=ctx.reason,
        custom_historical_attrs=ctx.historical_attrs(),
    )


def bulk_update(model, objs, fields, *, batch_size: int = 2000):
    ctx = require_context()
    return bulk_update_with_history(
        objs, model, fields, batch_size=batch_size, default_user=ctx.user, default_change_reason=ctx.reason,
        custom_historical_attrs=ctx.historical_attrs(),
    )
