"""The SOR staff admin: one module per ModelAdmin (registered on import)."""

from . import codes, imports, location_numbers, operations, staff, units  # noqa: F401
