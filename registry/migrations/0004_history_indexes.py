from django.db import migrations

# Per-object history, newest first (history page, "as it was on a date"): simple-history's
# generated Meta takes no custom indexes, so they are created here.
INDEXES = [
    ("registry_historicalunit", "hist_unit_obj_date", "sor_id, history_date DESC, history_id DESC"),
    ("registry_historicallocationnumber", "hist_ln_obj_date", "id, history_date DESC, history_id DESC"),
    ("registry_historicallocationnumber", "hist_ln_unit_date", "unit_id, history_date DESC, history_id DESC"),
]


class Migration(migrations.Migration):
    dependencies = [("registry", "0003_search_indexes")]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})",
            f"DROP INDEX IF EXISTS {name}",
        )
        for table, name, columns in INDEXES
    ]
