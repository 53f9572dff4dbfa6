"""Domain errors raised by services, with messages a person can act on (in Danish, via gettext)."""

from __future__ import annotations


class DomainError(Exception):
    """A change the register refuses; `str(error)` is the message to show."""


class NotAllowed(DomainError):
    """The actor's role or region does not allow this change."""


class ConflictError(DomainError):
    """Someone else saved the same row since it was read: nothing was written."""


class ValidationFailed(DomainError):
    """Field errors (must be fixed) and warnings (may be overridden with a reason).

    `errors` and `warnings` map a field name (or "__all__") to a list of messages."""

    def __init__(self, errors: dict[str, list[str]] | None = None, warnings: dict[str, list[str]] | None = None):
        self.errors = {k: v for k, v in (errors or {}).items() if v}
        self.warnings = {k: v for k, v in (warnings or {}).items() if v}
        parts = [f"{field}: {msg}" for field, msgs in {**self.warnings, **self.errors}.items() for msg in msgs]
        super().__init__("; ".join(parts))

    @property
    def only_warnings(self) -> bool:
        return not self.errors and bool(self.warnings)
