from django.db import migrations


def load(apps, schema_editor):
    from registry.codelists import load_into

    load_into(apps, reason="Kodelister indlæst ved oprettelse af databasen", origin="migration")


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS registry_sor_id_seq START 1",
            "DROP SEQUENCE IF EXISTS registry_sor_id_seq",
        ),
        migrations.RunSQL("CREATE EXTENSION IF NOT EXISTS pg_trgm", migrations.RunSQL.noop),
        migrations.RunPython(load, migrations.RunPython.noop),
    ]
