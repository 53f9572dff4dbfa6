from django.db import migrations


# The code lists were loaded here before operations and the change log existed; they are now
# loaded by 0006, recorded as an operation with its events. A database that ran the old load
# keeps its codes: 0006 then finds nothing to change.


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS registry_sor_id_seq START 1",
            "DROP SEQUENCE IF EXISTS registry_sor_id_seq",
        ),
        migrations.RunSQL("CREATE EXTENSION IF NOT EXISTS pg_trgm", migrations.RunSQL.noop),
    ]
