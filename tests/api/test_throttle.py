"""The API's rate limit is counted on Redis, so it holds across web processes."""

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
client = Client(REMOTE_ADDR="192.0.2.9")
out = []
for _ in range(8):
    response = client.get("/api/v1/codes/regions/")
    out.append([response.status_code, response.get("Retry-After"), response.json().get("error")])
print(json.dumps(out))
"""


def test_two_processes_share_one_api_limit_and_the_excess_is_answered_429(own_cache_namespace):
    answers = [a for answer in run_client_processes(CLIENT, 2, SOR_CACHE_PREFIX=own_cache_namespace, SOR_API_RATE="10",
                                                    SOR_API_RATE_WINDOW="600") for a in answer]
    statuses = [status for status, _retry, _error in answers]
    # 16 requests from two processes against one limit of 10; each alone stayed under it (8).
    assert statuses.count(200) == 10 and statuses.count(429) == 6
    refused = [(retry, error) for status, retry, error in answers if status == 429]
    assert all(int(retry) > 0 and error.startswith("Too many requests") for retry, error in refused)
