"""The publication gate: compare a run's manifest with the last published one and decide whether
the files may go out without a person looking at them.

Held when
- a unit present in the last published file is absent (units are closed, never removed: a
  disappearing SOR-ID breaks every consumer that references it) — always;
- more than `EXPORT_GATE_MAX_LOCATION_LOSS` (default 0.02) of the active location numbers are
  gone (no longer active anywhere) — messages to them would bounce;
- a published data file changed size by more than `EXPORT_GATE_MAX_SIZE_CHANGE` (default 0.05).

Units added / closed / reopened / re-parented and location numbers added / moved are reported
in the diff but do not hold a run. The first publication (nothing to compare with) passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import gettext as _

SAMPLE = 50


@dataclass
class GateResult:
    held: bool
    reasons: list[str] = field(default_factory=list)
    diff: dict = field(default_factory=dict)


def thresholds() -> dict:
    return {
        "max_location_loss": float(settings.EXPORT_GATE_MAX_LOCATION_LOSS),
        "max_size_change": float(settings.EXPORT_GATE_MAX_SIZE_CHANGE),
    }


def _sorted_ids(ids) -> list:
    return sorted(ids, key=lambda value: int(value) if str(value).isdigit() else str(value))


def compare(previous: dict | None, current: dict, *, limits: dict | None = None) -> GateResult:
    limits = limits or thresholds()
    if previous is None:
        diff = {
            "first_publication": True, "thresholds": limits,
            "units": {"current": len(current["units"])}, "location_numbers": {"current": len(current["gln"])},
            "files": {name: {"current": size} for name, size in current.get("files", {}).items()},
            "held": False, "reasons": [],
        }
        return GateResult(held=False, diff=diff)

    prev_units, cur_units = previous["units"], current["units"]
    added = set(cur_units) - set(prev_units)
    removed = set(prev_units) - set(cur_units)
    common = set(prev_units) & set(cur_units)
    closed = {s for s in common if prev_units[s][1] != "closed" and cur_units[s][1] == "closed"}
    reopened = {s for s in common if prev_units[s][1] == "closed" and cur_units[s][1] != "closed"}
    reparented = {s for s in common if prev_units[s][0] != cur_units[s][0]}

    prev_gln, cur_gln = previous["gln"], current["gln"]
    gln_removed = set(prev_gln) - set(cur_gln)
    gln_added = set(cur_gln) - set(prev_gln)
    gln_moved = {g for g in set(prev_gln) & set(cur_gln) if prev_gln[g] != cur_gln[g]}
    loss_ratio = len(gln_removed) / len(prev_gln) if prev_gln else 0.0

    files = {}
    prev_files, cur_files = previous.get("files", {}), current.get("files", {})
    for name in sorted(set(prev_files) | set(cur_files)):
        old, new = prev_files.get(name), cur_files.get(name)
        change = abs(new - old) / old if old and new is not None else None
        files[name] = {"previous": old, "current": new, "change": round(change, 6) if change is not None else None,
                       "change_pct": round(change * 100, 1) if change is not None else None}

    reasons = []
    if removed:
        reasons.append(_("%(n)d enheder fra sidste publicering mangler i den nye fil (fx %(ids)s).")
                       % {"n": len(removed), "ids": ", ".join(_sorted_ids(removed)[:5])})
    if loss_ratio > limits["max_location_loss"]:
        reasons.append(_("%(pct).1f %% af de aktive lokationsnumre er forsvundet (%(n)d af %(total)d; grænse %(limit).1f %%).")
                       % {"pct": loss_ratio * 100, "n": len(gln_removed), "total": len(prev_gln),
                          "limit": limits["max_location_loss"] * 100})
    for name, info in files.items():
        if info["change"] is not None and info["change"] > limits["max_size_change"]:
            reasons.append(_("%(name)s har ændret størrelse med %(pct).1f %% (%(old)d → %(new)d byte; grænse %(limit).1f %%).")
                           % {"name": name, "pct": info["change"] * 100, "old": info["previous"],
                              "new": info["current"], "limit": limits["max_size_change"] * 100})

    diff = {
        "first_publication": False,
        "previous_date": previous.get("snapshot_date"),
        "thresholds": limits,
        "thresholds_pct": {name: round(value * 100, 1) for name, value in limits.items()},
        "units": {
            "previous": len(prev_units), "current": len(cur_units), "added": len(added), "removed": len(removed),
            "closed": len(closed), "reopened": len(reopened), "reparented": len(reparented),
        },
        "location_numbers": {
            "previous": len(prev_gln), "current": len(cur_gln), "added": len(gln_added),
            "removed": len(gln_removed), "moved": len(gln_moved), "loss_ratio": round(loss_ratio, 6),
            "loss_pct": round(loss_ratio * 100, 1),
        },
        "files": files,
        "samples": {
            "units_added": _sorted_ids(added)[:SAMPLE],
            "units_removed": _sorted_ids(removed)[:SAMPLE],
            "units_closed": _sorted_ids(closed)[:SAMPLE],
            "units_reparented": [[s, prev_units[s][0], cur_units[s][0]] for s in _sorted_ids(reparented)[:SAMPLE]],
            "location_numbers_removed": [[g, prev_gln[g]] for g in sorted(gln_removed)[:SAMPLE]],
            "location_numbers_moved": [[g, prev_gln[g], cur_gln[g]] for g in sorted(gln_moved)[:SAMPLE]],
        },
        "held": bool(reasons),
        "reasons": reasons,
    }
    return GateResult(held=bool(reasons), reasons=reasons, diff=diff)
