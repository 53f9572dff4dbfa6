"""The OpenAPI description validates, and every endpoint it documents answers."""

import io
import re

import pytest
from django.core.management import call_command

from tests.exports.chain_helpers import DAY, nightly
from tests.factories import gln

from .conftest import get_json

pytest_plugins = ["tests.exports.chain_fixtures"]
pytestmark = pytest.mark.django_db


def test_the_openapi_description_validates_without_warnings(db):
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out)
    assert '"openapi": "3.0.3"' in out.getvalue()


def test_every_documented_endpoint_answers_and_the_feed_kinds_are_listed(api, export_root, register,
                                                                       django_capture_on_commit_callbacks):
    assert nightly(DAY, django_capture_on_commit_callbacks).status == "succeeded"
    tree = register["trees"][0]
    schema = get_json(api, "/api/v1/schema/?format=json")
    values = {"sor_id": str(tree["oe"].pk), "gln": gln(1), "code_list": "regions", "code": "8001",
              "day": DAY.isoformat()}
    paths = schema["paths"]
    assert len(paths) == 17  # every endpoint of the README's list
    answered = []
    for template, operations in paths.items():
        url = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)
        required = [p for p in operations["get"].get("parameters", []) if p.get("required") and p["in"] == "query"]
        if required:
            url += "?" + "&".join(f"{p['name']}=urn:oid:1.2.208.176.1.1|{tree['oe'].pk}" for p in required)
        if template.endswith("/published/{day}/units/{sor_id}/"):
            url = url.replace(values["sor_id"], str(tree["oe"].pk))
        response = api.get(url)
        assert response.status_code == 200, (template, response.status_code, response.content[:300])
        answered.append(template)
    assert {"/api/v1/units/", "/api/v1/changes/", "/fhir/Organization", "/api/v1/shak-mapping.csv"} <= set(answered)
    kinds = schema["components"]["schemas"]["FeedEvent"]["properties"]["kind"]
    listed = kinds.get("enum") or schema["components"]["schemas"][kinds["allOf"][0]["$ref"].rsplit("/", 1)[-1]]["enum"]
    assert {"created", "changed", "effective_changed", "took_effect", "closed"} <= set(listed)


def test_the_browsable_docs_are_served_from_the_project_without_a_cdn(api, db):
    page = api.get("/api/v1/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()
    from django.contrib.staticfiles import finders

    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
