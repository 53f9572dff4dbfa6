"""`make bench` section "browser": the public SOR browser's search (/sor/, issue 18) on the bench
register: 200 varied queries drawn from the register with a seeded generator (name words and
parts, ydernumre with and without leading zeros, SOR-IDs, location numbers, SHAK codes, CVRs,
post codes, towns, filters alone and combined, a past date, page 2), in-process through
`django.test.Client` (rendering the page included), after one warm-up each kind. Prints p50/p95/max
per kind and overall; target: overall p95 ≤ 200 ms. Every answer must be 200 with a result table
or the "no units" text, or the bench stops."""

from __future__ import annotations

import random
import statistics
from urllib.parse import urlencode

from bench.api import _get, _percentile, _table, _verdict

TARGET_MS = 200.0
QUERIES = 200


def _queries(rng: random.Random) -> tuple[list[tuple[str, str]], list[str]]:
    from registry.models import EntityType, LocationNumber, OwnerType, Unit

    def sample(qs, n=40):
        ids = list(qs.values_list("pk", flat=True)[:5000])
        return rng.sample(ids, min(n, len(ids)))

    units = {u.pk: u for u in Unit.objects.filter(pk__in=sample(Unit.objects.all(), 200))}
    names = [u.name for u in units.values()]
    words = [w for n in names for w in n.split() if len(w) >= 4]
    providers = list(Unit.objects.exclude(provider_number="").values_list("provider_number", flat=True)[:3000])
    shaks = list(Unit.objects.exclude(shak="").values_list("shak", flat=True).distinct()[:500])
    cvrs = list(Unit.objects.exclude(cvr="").values_list("cvr", flat=True)[:2000])
    glns = list(LocationNumber.objects.filter(to_date__isnull=True).values_list("gln", flat=True)[:3000])
    places = list(Unit.objects.filter(postal_present=True).values_list("postal_post_code", "postal_district_name")[:3000])
    types = list(EntityType.objects.filter(pk__in=Unit.objects.values("entity_type_id").distinct()).values_list("code", flat=True))
    owner_types = list(OwnerType.objects.values_list("code", flat=True))
    regions = ["1081", "1082", "1083", "1084", "1085"]
    kinds = {
        "name word": lambda: {"q": rng.choice(words)},
        "name part (3–5 letters)": lambda: {"q": (w := rng.choice(words))[: rng.randint(3, min(5, len(w)))]},
        "ydernummer": lambda: {"q": rng.choice(providers)},
        "ydernummer without leading zeros": lambda: {"q": rng.choice(providers).lstrip("0") or "0"},
        "SOR-ID": lambda: {"q": str(rng.choice(list(units)))},
        "location number": lambda: {"q": rng.choice(glns)},
        "SHAK": lambda: {"q": rng.choice(shaks)},
        "CVR": lambda: {"q": rng.choice(cvrs)},
        "post code": lambda: {"q": rng.choice(places)[0]},
        "town": lambda: {"q": rng.choice(places)[1]},
        "filters (level, region, type, owner type, open)": lambda: {
            "niveau": rng.choice(["IE", "SI", "OE"]), "region": rng.choice(regions),
            **({"type": rng.choice(types)} if rng.random() < 0.5 else {}),
            **({"ejertype": rng.choice(owner_types)} if rng.random() < 0.5 else {}), "status": "aaben"},
        "word + filters + past date, page 2": lambda: {
            "q": rng.choice(words), "niveau": "OE", "dato": f"{rng.randint(2015, 2025)}-06-01", "side": "2"},
    }
    order = list(kinds)
    pairs = [(kind, "/sor/?" + urlencode(kinds[kind]())) for kind in order
             for _ in range(QUERIES // len(order) + (1 if order.index(kind) < QUERIES % len(order) else 0))]
    rng.shuffle(pairs)
    return pairs, order


def run(args) -> int:
    from django.conf import settings
    from django.test import Client
    from django.test.utils import setup_test_environment

    try:
        setup_test_environment(debug=False)
    except RuntimeError:
        settings.DEBUG = False
    settings.SOR_API_RATE = 10**9
    if "testserver" not in settings.ALLOWED_HOSTS and "*" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    rng = random.Random(args.seed)
    pairs, order = _queries(rng)
    client = Client()
    seen = set()
    for kind, url in pairs:
        if kind not in seen:
            seen.add(kind)
            _get(client, url, kind)
    by_kind = {k: [] for k in order}
    found = 0
    for kind, url in pairs:
        ms, response = _get(client, url, kind)
        body = response.content.decode()
        if 'class="data"' not in body and "Ingen enheder passer" not in body:
            raise SystemExit(f"[bench] FAIL: {url} shows neither results nor 'no units'")
        found += 'class="data"' in body
        by_kind[kind].append(ms)
    every = [ms for times in by_kind.values() for ms in times]
    print(f"[bench] public browser search: {len(pairs)} queries (seed {args.seed}), {found} with results")
    _table("search", by_kind, order)
    p95 = _percentile(every, 95)
    print(f"[bench] browser search overall: p50 {statistics.median(every):.1f} ms, p95 {p95:.1f} ms, "
          f"max {max(every):.1f} ms ({_verdict(p95)})")
    return int(p95 > TARGET_MS)
