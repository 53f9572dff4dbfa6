"""New SOR-IDs start at item number 90,000,000 (18-digit SOR-IDs): real SDS files use at most
7-digit item numbers, so a generated, demo or newly created unit never takes the number of a
real one (the demo's ids collided with ONE_PRAKSIS.xml's). An existing sequence further on stays."""

from django.db import migrations

FIRST = 90_000_000

FORWARD = f"""
ALTER SEQUENCE registry_sor_id_seq START WITH {FIRST};
SELECT setval('registry_sor_id_seq', {FIRST}, false)
 WHERE (SELECT last_value FROM registry_sor_id_seq) < {FIRST};
"""
BACKWARD = "ALTER SEQUENCE registry_sor_id_seq START WITH 1;"


class Migration(migrations.Migration):
    dependencies = [("registry", "0009_import_job")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
