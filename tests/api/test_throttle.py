"""The API's rate limit is counted on Redis, so it holds across web processes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
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
    db = connection.settings_dict
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "sor_admin.settings",
           "DATABASE_URL": f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "SOR_CACHE_PREFIX": own_cache_namespace, "SOR_API_RATE": "10", "SOR_API_RATE_WINDOW": "600"}
    procs = [subprocess.Popen([sys.executable, "-c", CLIENT], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    answers = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        answers.extend(json.loads(out.strip().splitlines()[-1]))
    statuses = [status for status, _retry, _error in answers]
    # 16 requests from two processes against one limit of 10; each alone stayed under it (8).
    assert statuses.count(200) == 10 and statuses.count(429) == 6
    refused = [(retry, error) for status, retry, error in answers if status == 429]
    assert all(int(retry) > 0 and error.startswith("Too many requests") for retry, error in refused)
