"""The SOR staff admin: one module per ModelAdmin (registered on import)."""

from . import cases, changesets, codes, freeze, imports, location_numbers, operations, staff, units  # noqa: F401
