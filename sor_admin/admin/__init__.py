"""The SOR staff admin: one module per ModelAdmin (registered on import)."""

from . import (  # noqa: F401
    cases,
    changesets,
    codes,
    duplicates,
    freeze,
    imports,
    location_numbers,
    operations,
    selfservice,
    staff,
    units,
)
