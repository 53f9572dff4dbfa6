"""Bench section `admin`: the staff admin's unit pages at national scale.

For the generated register (25,000 owners ≈ 150,000 units) with the unit history table padded to
at least 1,000,000 rows, measured in-process with `django.test.Client` logged in as the
`sor-admin` persona: the unit changelist (first page at the admin's page size and at 500 rows, a
later page, a search by ydernummer, a search by name) and the history page of a unit with many history rows and of an ordinary unit.
Per line: SQL queries and their summed time (one logged run) and server time (median of 5 runs after one warm-up),
with PASS/FAIL against the targets: ≤ 20 queries per page, ≤ 250 ms per page.
"""

from __future__ import annotations

import contextlib
import statistics
import time

MAX_QUERIES = 20
MAX_MS = 250.0
HISTORY_ROWS = 1_000_000
HOT_UNIT_EXTRA_ROWS = 500
RUNS = 5
PADDING_REASON = "bench: padded history"


def _history_columns():
    from registry.models import Unit

    history = Unit.history.model
    return [f.column for f in history._meta.concrete_fields if f.column != "history_id"]


def pad_unit_history(target: int = HISTORY_ROWS) -> tuple[int, int | None]:
    """Bench data only: copy existing creation rows of the unit history into '~' rows with later
    dates, unevenly spread over the units (1..2k-1 copies each), and give one unit (an ordinary GP
    ydernummer unit) `HOT_UNIT_EXTRA_ROWS` more, until the table holds `target` rows. The creation
    rows are moved three years back first so every copy lies between creation and now.
    Returns (rows in the table, SOR-ID of the unit with many rows)."""
    from django.db import connection, transaction

    from registry.models import Unit

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM registry_historicalunit")
        rows = cursor.fetchone()[0]
        cursor.execute("SELECT sor_id FROM registry_historicalunit WHERE history_change_reason = %s "
                       "GROUP BY sor_id ORDER BY count(*) DESC, sor_id LIMIT 1", [PADDING_REASON])
        found = cursor.fetchone()
        if rows >= target and found:
            return rows, found[0]
        units = Unit.objects.count()
        hot = (Unit.objects.filter(level="OE", to_date__isnull=True).exclude(provider_number="")
               .order_by("sor_id").values_list("sor_id", flat=True).first())
        if hot is None:
            hot = Unit.objects.order_by("sor_id").values_list("sor_id", flat=True).first()
        columns = _history_columns()
        overridden = {
            "history_date": "h.history_date + make_interval(days => g.n * %(spacing)s, mins => (h.sor_id %% 997)::int)",
            "history_type": "'~'",
            "history_change_reason": "%(reason)s",
            "history_user_id": "NULL",
            "version": "h.version + g.n",
        }
        select = ", ".join(overridden.get(c, f"h.{connection.ops.quote_name(c)}") for c in columns)
        insert = (f"INSERT INTO registry_historicalunit ({', '.join(connection.ops.quote_name(c) for c in columns)}) "
                  f"SELECT {select} FROM registry_historicalunit h")
        with transaction.atomic():
            cursor.execute("UPDATE registry_historicalunit SET history_date = history_date - interval '3 years' "
                           "WHERE history_type = '+' AND history_date > now() - interval '1 year'")
            missing = max(0, target - rows - HOT_UNIT_EXTRA_ROWS)
            if missing:
                k = -(-missing // max(1, units))  # average copies per unit
                spread = 2 * k - 1
                started = time.perf_counter()
                cursor.execute(
                    insert + " CROSS JOIN generate_series(1, %(spread)s) AS g(n) "
                    "WHERE h.history_type = '+' AND g.n <= 1 + ((h.sor_id / 10) %% %(spread)s)",
                    {"spacing": 15, "reason": PADDING_REASON, "spread": spread},
                )
                print(f"[bench] padded unit history with {cursor.rowcount:,} rows in {time.perf_counter() - started:.1f} s")
            cursor.execute(
                insert + " CROSS JOIN generate_series(1, %(extra)s) AS g(n) WHERE h.history_type = '+' AND h.sor_id = %(hot)s",
                {"spacing": 2, "reason": PADDING_REASON, "extra": HOT_UNIT_EXTRA_ROWS,
                 "hot": hot},
            )
            cursor.execute("SELECT count(*) FROM registry_historicalunit")
            rows = cursor.fetchone()[0]
            if rows < target:  # uneven spread fell short: top up evenly
                cursor.execute(
                    insert + " CROSS JOIN generate_series(1, 1) AS g(n) WHERE h.history_type = '+' "
                    "ORDER BY h.sor_id LIMIT %(limit)s",
                    {"spacing": 1, "reason": PADDING_REASON, "limit": target - rows},
                )
                rows = target
        cursor.execute("ANALYZE registry_historicalunit")
        cursor.execute("ANALYZE registry_unit")
        cursor.execute("ANALYZE registry_locationnumber")
    return rows, hot


class _QueryLog:
    """Counts and times the SQL of one request (an execute wrapper: independent of DEBUG and of
    the connection's bounded query log)."""

    def __init__(self):
        self.queries: list[tuple[float, str]] = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append(((time.perf_counter() - started) * 1000, sql))


def measure(client, url: str, runs: int = RUNS) -> dict:
    """Query count (one logged run) and median server time of `runs` runs after a warm-up."""
    from django.db import connection

    response = client.get(url)  # warm-up
    status = response.status_code
    log = _QueryLog()
    with connection.execute_wrapper(log):
        client.get(url)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    return {"status": status, "queries": len(log.queries), "ms": statistics.median(times), "max_ms": max(times),
            "sql_ms": sum(ms for ms, _sql in log.queries), "slowest": sorted(log.queries, reverse=True)[:2]}


@contextlib.contextmanager
def unit_admin_page_size(rows: int):
    """Temporarily show `rows` units per changelist page (the bench's only way to vary the page
    size: the admin takes none from the URL)."""
    from django.contrib.admin.sites import all_sites

    from registry.models import Unit

    admins = [site._registry[Unit] for site in all_sites if Unit in site._registry]
    saved = [model_admin.list_per_page for model_admin in admins]
    for model_admin in admins:
        model_admin.list_per_page = rows
    try:
        yield
    finally:
        for model_admin, value in zip(admins, saved, strict=True):
            model_admin.list_per_page = value


def run(args):
    from django.conf import settings
    from django.db.models import Func
    from django.test import Client

    from registry.models import Unit
    from registry.personas import ensure_personas

    settings.DEBUG = False  # as served: no query log kept between the timed requests
    if "testserver" not in settings.ALLOWED_HOSTS and "*" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    started = time.perf_counter()
    rows, hot = pad_unit_history()
    print(f"[bench] unit history: {rows:,} rows ({time.perf_counter() - started:.1f} s incl. ANALYZE)")

    users = ensure_personas()
    client = Client()
    client.force_login(users["sor-admin"])

    units = Unit.objects.count()
    per_page = 100
    later_page = max(2, units // per_page // 2)
    ydernummer = (Unit.objects.filter(level="OE", to_date__isnull=True).exclude(provider_number="")
                  .order_by("-sor_id").values_list("provider_number", flat=True).first()) or "019062"
    ordinary = (Unit.objects.filter(level="OE").exclude(sor_id=hot).order_by("-sor_id")
                .values_list("sor_id", flat=True).first())
    hospital_type = "22232009"
    hospital = (Unit.objects.filter(level="SI", entity_type__code=hospital_type).order_by("sor_id")
                .values_list("sor_id", flat=True).first())
    owner = (Unit.objects.filter(level="IE", owner_type__name_da="region").order_by("sor_id")
             .values_list("sor_id", flat=True).first())
    deep = (Unit.objects.filter(level="OE").annotate(depth=Func("ancestors", function="cardinality"))
            .order_by("-depth", "sor_id").values_list("sor_id", flat=True).first())
    hot_rows = Unit.history.filter(sor_id=hot).count()
    ordinary_rows = Unit.history.filter(sor_id=ordinary).count()
    base = "/admin/registry/unit/"
    lines = [
        ("changelist, first page", base),
        ("changelist, first page of 500 rows", base, 500),
        (f"changelist, page {later_page}", f"{base}?p={later_page}"),
        (f"changelist, search ydernummer {ydernummer}", f"{base}?q={ydernummer}"),
        ("changelist, search name 'Lægerne Øster'", f"{base}?q=L%C3%A6gerne+%C3%98ster"),
        (f"history, unit with {hot_rows:,} rows", f"{base}{hot}/history/"),
        (f"history, unit with {ordinary_rows:,} rows", f"{base}{ordinary}/history/"),
        ("unit page, a region (owner)", f"{base}{owner}/change/"),
        ("unit page, a hospital", f"{base}{hospital}/change/"),
        ("unit page, the deepest unit", f"{base}{deep}/change/"),
    ]
    print(f"[bench] admin pages as sor-admin: {units:,} units, {rows:,} unit history rows; "
          f"targets ≤ {MAX_QUERIES} queries, ≤ {MAX_MS:.0f} ms (median of {RUNS} after a warm-up)")
    header = f"{'page':<48} {'status':>6} {'queries':>8} {'median ms':>10} {'max ms':>8} {'SQL ms':>7}  verdict"
    print(header)
    print("-" * len(header))
    failures = 0
    slow = []
    for label, url, *page_size in lines:
        with unit_admin_page_size(page_size[0]) if page_size else contextlib.nullcontext():
            result = measure(client, url)
        ok = result["status"] == 200 and result["queries"] <= MAX_QUERIES and result["ms"] <= MAX_MS
        failures += not ok
        print(f"{label:<48} {result['status']:>6} {result['queries']:>8} {result['ms']:>10.1f} "
              f"{result['max_ms']:>8.1f} {result['sql_ms']:>7.1f}  {'PASS' if ok else 'FAIL'}")
        if not ok:
            slow.extend((label, ms, sql) for ms, sql in result["slowest"])
    print(f"[bench] admin: {len(lines) - failures}/{len(lines)} PASS")
    for label, ms, sql in slow:
        print(f"[bench]   slowest SQL of '{label}': {ms:.1f} ms: {sql[:300]}")
    return failures
