"""Loading the code lists shipped in `registry/data/codes/` (copied from shared/sor-reference).

Works with the historical app registry of a migration and with the live models, so the same
function fills an empty database (migration 0002) and refreshes a running one (`sor_load_codes`).
Existing codes keep their row; only changed names are written, each with a history row."""

from __future__ import annotations

import csv
import uuid
from pathlib import Path

from django.utils import timezone

DATA_DIR = Path(__file__).resolve().parent / "data" / "codes"

# model name -> (csv file, function(row) -> field values keyed by the code)
SPECS = {
    "OwnerType": ("owner_types.csv", lambda r: {"code": r["code"], "name_da": r["name_da"], "name_en": r["name_en"]}),
    "EntityType": ("entity_types.csv", lambda r: {
        "code": r["code"], "name_da": r["name_da"], "name_en": r["name_en"],
        "level_hint": r["level_hint"], "retired": r["status"] == "legacy",
    }),
    "ClinicalSpeciality": ("clinical_specialities.csv", lambda r: {"code": r["code"], "name_da": r["name_da"]}),
    "SpecialityType": ("speciality_types.csv", lambda r: {"code": r["code"], "name_da": r["name_da"], "note": r["note"]}),
    "Region": ("regions.csv", lambda r: {"code": r["code"], "name_da": r["name_da"]}),
    "Municipality": ("municipalities.csv", lambda r: {
        "code": r["code"], "name_da": r["name_da"], "note": r["note"], "_region": r["region_code"],
    }),
    "PostalDistrict": ("postal_districts.csv", lambda r: {"code": r["post_code"], "name_da": r["district_name"]}),
    "NetworkOperator": ("network_operators.csv", lambda r: {"code": r["code"], "name_da": r["name"]}),
    "EdiMessageType": ("edi_message_types.csv", lambda r: {
        "code": f"{r['standard']}:{r['version_code']}", "name_da": r["name"], "syntax": r["syntax"],
        "message_group": r["message_group"], "standard": r["standard"], "version_code": r["version_code"],
        "urn": r["urn"],
    }),
}


def read_rows(model_name: str) -> list[dict]:
    filename, convert = SPECS[model_name]
    with open(DATA_DIR / filename, encoding="utf-8", newline="") as fh:
        return [convert(row) for row in csv.DictReader(fh)]


def load_into(apps, *, reason: str, origin: str, user=None) -> dict[str, int]:
    """Create missing codes and update changed names, writing history rows by hand (the
    historical models of a migration send no simple-history signals). Returns counts."""
    counts: dict[str, int] = {}
    batch = uuid.uuid4()
    now = timezone.now()
    region_model = apps.get_model("registry", "Region")
    for model_name in SPECS:  # Region before Municipality: dict order
        model = apps.get_model("registry", model_name)
        history = apps.get_model("registry", f"Historical{model_name}")
        existing = {obj.code: obj for obj in model.objects.all()}
        written = 0
        for values in read_rows(model_name):
            region_code = values.pop("_region", None)
            if region_code:
                values["region"] = region_model.objects.get(code=region_code)
            obj = existing.get(values["code"])
            if obj is None:
                obj = model.objects.create(**values)
                kind = "+"
            else:
                changed = {k: v for k, v in values.items() if getattr(obj, k) != v}
                if not changed:
                    continue
                for k, v in changed.items():
                    setattr(obj, k, v)
                obj.save()
                kind = "~"
            row = {f.attname: getattr(obj, f.attname) for f in model._meta.concrete_fields}
            history.objects.create(
                **row, history_date=now, history_type=kind, history_change_reason=reason,
                origin=origin, batch_id=batch, history_user_id=getattr(user, "pk", None),
            )
            written += 1
        counts[model_name] = written
    return counts
