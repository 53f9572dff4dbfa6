from django.db import migrations


def load(apps, schema_editor):
    from registry.codelists import load_into

    load_into(apps, reason="Kodelister indlæst ved oprettelse af databasen", origin="migration")


class Migration(migrations.Migration):
    """The code lists, loaded as one operation with a change-log event per code (see 0002)."""

    dependencies = [("registry", "0005_operations_and_change_log")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
