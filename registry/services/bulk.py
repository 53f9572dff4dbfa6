"""History-aware bulk writers for importers and the generator (never `bulk_create` directly).

Each refuses to run outside an operation, then writes the rows, their history rows (via
simple-history's bulk helpers, or COPY) stamped with the open operation, and their change-log
events through `registry.changelog.record`, the same function the one-row path uses. Callers
validate before calling."""

from __future__ import annotations

import uuid

from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from .. import changelog
from ..audit import require_context


def _before_create(model, objs, ctx) -> None:
    if model._meta.model_name == "unit":
        ctx.op.created_units.update(obj.pk for obj in objs)
    elif model._meta.model_name == "locationnumber":
        # A new location number on an existing unit changes what the units below it inherit.
        changelog.watch({obj.unit_id for obj in objs})


def bulk_create(model, objs, *, batch_size: int = 2000):
    ctx = require_context()
    objs = list(objs)
    _before_create(model, objs, ctx)
    created = bulk_create_with_history(
        objs, model, batch_size=batch_size, default_user=ctx.user, default_change_reason=ctx.reason,
        custom_historical_attrs=ctx.historical_attrs(),
    )
    changelog.record_created(model, created)
    return created


def _before_after(model, objs, attnames) -> list[tuple]:
    """(pk, tracked values stored now, tracked values of the object) per object: what the change
    log records for a bulk write (old values read in one query per 5,000 rows)."""
    tracked = [a for a in attnames if a in set(changelog.tracked_attnames(model))]
    old = {}
    pks = [obj.pk for obj in objs]
    for start in range(0, len(pks), 5000):
        for row in model._base_manager.filter(pk__in=pks[start:start + 5000]).values("pk", *tracked):
            old[row.pop("pk")] = {k: changelog.jsonable(v) for k, v in row.items()}
    return [(obj.pk, old.get(obj.pk), changelog.values_of(obj, tracked)) for obj in objs]


def bulk_update(model, objs, fields, *, batch_size: int = 2000):
    ctx = require_context()
    objs = list(objs)
    attnames = [model._meta.get_field(name).attname for name in fields]
    rows = _before_after(model, objs, attnames)
    if model._meta.model_name == "locationnumber":
        extra = {obj.pk: obj.unit_id for obj in objs}
        rows_for_watch = [(pk, {**(o or {}), "unit_id": (o or {}).get("unit_id", extra[pk])}, {**n, "unit_id": extra[pk]})
                          for pk, o, n in rows]
        changelog.watch_for(model, rows_for_watch)
    else:
        changelog.watch_for(model, rows)
    result = bulk_update_with_history(
        objs, model, fields, batch_size=batch_size, default_user=ctx.user, default_change_reason=ctx.reason,
        custom_historical_attrs=ctx.historical_attrs(),
    )
    unit_of = {obj.pk: getattr(obj, "unit_id", None) for obj in objs}
    changelog.record(model, [(pk, unit_of[pk], o, n) for pk, o, n in rows if o is not None])
    return result


def _getter(field):
    """A COPY value for a field: plain attribute values as they are (psycopg adapts dates, lists,
    UUIDs…); JSON needs its wrapper, or a list would be sent as an array."""
    from django.db.models import JSONField
    from psycopg.types.json import Jsonb

    attname = field.attname
    if isinstance(field, JSONField):
        return lambda obj: None if getattr(obj, attname) is None else Jsonb(getattr(obj, attname))
    return lambda obj: getattr(obj, attname)


def _copy(cursor, table, fields, objs, row_of, *, chunk: int = 5000):
    """COPY `row_of(obj)` for each object into `table`, `chunk` rows per COPY (rows are built as
    they are sent: a national register does not sit in memory twice)."""
    from django.db import connection

    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in fields)
    sql = f"COPY {qn(table)} ({columns}) FROM STDIN"
    for start in range(0, len(objs), chunk):
        with cursor.cursor.copy(sql) as pipe:
            for obj in objs[start:start + chunk]:
                pipe.write_row(row_of(obj))


def _copy_history(cursor, model, objs, history_type: str, ctx) -> None:
    """One history row per object (its values now), stamped as simple-history stamps them."""
    from django.utils import timezone

    history = model.history.model
    stamp = {"history_date": timezone.now(), "history_type": history_type, "history_change_reason": ctx.reason,
             "history_user_id": ctx.user.pk if ctx.user is not None else None, **ctx.historical_attrs()}
    tracked = {f.attname: f for f in history.tracked_fields}
    hist_fields, hist_getters = [], []
    for f in history._meta.concrete_fields:
        if f.attname in tracked:
            hist_fields.append(f)
            hist_getters.append(_getter(tracked[f.attname]))
        elif f.attname in stamp:
            hist_fields.append(f)
            value = stamp[f.attname]
            hist_getters.append(lambda obj, value=value: value)
        elif f is not history._meta.pk:
            raise ValueError(f"history by COPY does not know how to fill {history.__name__}.{f.name}")
    _copy(cursor, history._meta.db_table, hist_fields, objs, lambda obj: [g(obj) for g in hist_getters])


def copy_update(model, objs, fields):
    """`bulk_update` for thousands of rows (a change-set re-typing 2,000 units): the new values go
    in through COPY into a temporary table and one `UPDATE … FROM` it, the history rows ("~")
    through COPY, the change-log events as `bulk_update` writes them. No signals, no `save()`:
    callers validate before calling."""
    from django.db import connection

    ctx = require_context()
    objs = list(objs)
    if not objs:
        return objs
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    attnames = [f.attname for f in columns]
    rows = _before_after(model, objs, attnames)
    changelog.watch_for(model, rows)
    qn = connection.ops.quote_name
    # Its own name, dropped with the transaction: a failed COPY or UPDATE aborts the transaction,
    # and nothing may run after it that would hide the database's own error.
    temp = f"sor_copy_update_{uuid.uuid4().hex}"
    pk = meta.pk
    with connection.cursor() as cursor:
        selected = ", ".join(qn(f.column) for f in [pk, *columns])
        cursor.execute(f"CREATE TEMP TABLE {temp} ON COMMIT DROP AS SELECT {selected} FROM {qn(meta.db_table)} "
                       "WITH NO DATA")
        getters = [_getter(f) for f in [pk, *columns]]
        _copy(cursor, temp, [pk, *columns], objs, lambda obj: [g(obj) for g in getters])
        assignments = ", ".join(f"{qn(f.column)} = t.{qn(f.column)}" for f in columns)
        cursor.execute(f"UPDATE {qn(meta.db_table)} u SET {assignments} FROM {temp} t "
                       f"WHERE u.{qn(pk.column)} = t.{qn(pk.column)}")
        cursor.execute(f"DROP TABLE {temp}")
        _copy_history(cursor, model, objs, "~", ctx)
    unit_of = {obj.pk: getattr(obj, "unit_id", None) for obj in objs}
    changelog.record(model, [(pk_, unit_of[pk_], o, n) for pk_, o, n in rows if o is not None])
    return objs


def copy_create(model, objs, *, chunk: int = 5000) -> list:
    """`bulk_create` for national-scale volumes (the synthetic register generator): the rows and
    one "+" history row each go in through PostgreSQL COPY, stamped with the open audit context
    exactly as `bulk_create` stamps them. Objects without a primary key get one from the table's
    identity sequence first, so callers can link children to them. No signals, no `save()`:
    callers validate before calling, as for `bulk_create`."""
    from django.db import connection

    ctx = require_context()
    objs = list(objs)
    if not objs:
        return objs
    meta = model._meta
    pk = meta.pk
    with connection.cursor() as cursor:
        missing = [obj for obj in objs if getattr(obj, pk.attname) is None]
        if missing:
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                           [meta.db_table, pk.column, len(missing)])
            for obj, (value,) in zip(missing, sorted(cursor.fetchall()), strict=True):
                setattr(obj, pk.attname, value)
        _before_create(model, objs, ctx)
        fields = list(meta.concrete_fields)
        getters = [_getter(f) for f in fields]
        _copy(cursor, meta.db_table, fields, objs, lambda obj: [g(obj) for g in getters], chunk=chunk)
        _copy_history(cursor, model, objs, "+", ctx)
    changelog.record_created(model, objs)
    return objs
