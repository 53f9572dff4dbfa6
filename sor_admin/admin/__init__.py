"""The SOR staff admin: one module per ModelAdmin (registered on import)."""

from . import changesets, codes, freeze, imports, location_numbers, operations, staff, units  # noqa: F401
