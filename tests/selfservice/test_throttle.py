"""The self-service rate limit is counted in Redis, so it holds across web processes."""

import pytest

from tests.factories import run_client_processes

pytestmark = pytest.mark.django_db

CLIENT = """
import json, os, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sor_admin.settings")
django.setup()
from django.test.utils import setup_test_environment
setup_test_environment()
from django.test import Client
client = Client(REMOTE_ADDR="192.0.2.7")
statuses = []
for _ in range(8):
    response = client.post("/selvbetjening/", {"identifier": "019062", "cvr": "12345674"})
    statuses.append([response.status_code, response.get("Retry-After")])
print(json.dumps(statuses))
"""


def test_two_processes_share_one_limit_and_the_excess_is_answered_429(own_cache_namespace):
    results = run_client_processes(CLIENT, 2, SOR_CACHE_PREFIX=own_cache_namespace, SOR_SELFSERVICE_RATE="10",
                                   SOR_SELFSERVICE_RATE_WINDOW="600")
    statuses = [status for result in results for status, _retry in result]
    # 16 lookups from two processes against one limit of 10: 10 answered, 6 refused. Each
    # process alone stayed under the limit (8), so only a shared counter refuses any.
    assert statuses.count(400) == 10 and statuses.count(429) == 6  # 400: answered (no such unit)
    assert all(retry and int(retry) > 0 for result in results for status, retry in result if status == 429)


def test_lookups_are_limited_and_page_views_get_ten_times_the_budget(client, settings):
    settings.SOR_SELFSERVICE_RATE = 2
    responses = [client.post("/selvbetjening/", {"identifier": "019062", "cvr": "12345674"}) for _ in range(3)]
    assert [r.status_code for r in responses] == [400, 400, 429]
    views = [client.get("/selvbetjening/").status_code for _ in range(21)]
    assert views.count(200) == 20 and views[-1] == 429
    page = responses[-1].content.decode()
    assert "For mange forespørgsler" in page and "Prøv igen om" in page
    assert int(responses[-1]["Retry-After"]) <= settings.SOR_SELFSERVICE_RATE_WINDOW


def test_behind_a_proxy_the_address_the_proxy_appended_counts_not_one_the_client_wrote(client, settings):
    settings.SOR_SELFSERVICE_RATE = 2
    settings.SOR_CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    statuses = [client.post("/selvbetjening/", {"identifier": "019062", "cvr": "12345674"},
                            HTTP_X_FORWARDED_FOR=f"10.0.0.{n}, 198.51.100.9").status_code for n in range(3)]
    assert statuses == [400, 400, 429]  # a new forged first address each time does not reset the count
