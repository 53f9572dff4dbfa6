"""The public pages' tests use the read API tests' register (`tree`)."""

from tests.api.conftest import tree  # noqa: F401
