"""Loading the code lists shipped in `registry/data/codes/` (copied from shared/sor-reference).

Works with the historical app registry of a migration and with the live models, so the same
function fills an empty database (migration 0002) and refreshes a running one (`sor_load_codes`).
Existing codes keep their row; only changed names are written, each with a history row."""

from __future__ import annotations

import csv
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
    """Create missing codes and update changed names, as one operation. Returns counts.

    With the live models (`sor_load_codes`) the rows are saved inside an `audit_context`, so the
    history row and change-log event come from the usual signals (one of each per row). The
    historical models of a migration send no signals: there the operation, the history rows and
    the events are written here, through the same `changelog.record`."""
    from django.apps import apps as live_apps

    if apps is live_apps:
        from .audit import audit_context

        with audit_context(actor=user, reason=reason, origin=origin):
            return _load(apps, by_hand=None)
    from . import changelog

    operation = _OperationByHand(apps, reason=reason, origin=origin, actor_id=getattr(user, "pk", None))
    counts = _load(apps, by_hand=operation)
    if operation.row is not None:
        operation.row.finished_at = timezone.now()
        operation.row.save(update_fields=["finished_at"])
        changelog.assign_sequence([operation.row.pk])
    return counts


class _OperationByHand:
    """The operation of a migration's load, written with its first row (none when nothing changes)."""

    def __init__(self, apps, **values):
        self.model = apps.get_model("registry", "Operation")
        self.values = values
        self.row = None

    def get(self):
        if self.row is None:
            self.row = self.model.objects.create(kind="migration", started_at=timezone.now(), **self.values)
        return self.row


def _load(apps, *, by_hand) -> dict[str, int]:
    from . import changelog

    counts: dict[str, int] = {}
    now = timezone.now()
    region_model = apps.get_model("registry", "Region")
    event_model = apps.get_model("registry", "ChangeEvent") if by_hand is not None else None
    for model_name in SPECS:  # Region before Municipality: dict order
        model = apps.get_model("registry", model_name)
        history = apps.get_model("registry", f"Historical{model_name}")
        attnames = changelog.tracked_attnames(model)
        existing = {obj.code: obj for obj in model.objects.all()}
        written = []
        for values in read_rows(model_name):
            region_code = values.pop("_region", None)
            if region_code:
                values["region"] = region_model.objects.get(code=region_code)
            obj = existing.get(values["code"])
            if obj is None:
                old = None
                obj = model.objects.create(**values)
                kind = "+"
            else:
                changed = {k: v for k, v in values.items() if getattr(obj, k) != v}
                if not changed:
                    continue
                old = changelog.values_of(obj, attnames)
                for k, v in changed.items():
                    setattr(obj, k, v)
                obj.save()
                kind = "~"
            if by_hand is not None:
                op = by_hand.get()
                row = {f.attname: getattr(obj, f.attname) for f in model._meta.concrete_fields}
                history.objects.create(
                    **row, history_date=now, history_type=kind, history_change_reason=op.reason,
                    origin=op.origin, operation_id=op.pk, history_user_id=op.actor_id,
                )
                written.append((obj.pk, None, old, changelog.values_of(obj, attnames)))
            else:
                written.append(obj.pk)
        if by_hand is not None and written:
            changelog.record(model, written, operation_id=by_hand.get().pk, event_model=event_model)
        counts[model_name] = len(written)
    return counts
