"""Browser tests use a live server, so their database is flushed after each test (transactional).
The register's code lists and roles come from migrations; `serialized_rollback` restores them
before the next transactional test, and this fixture restores them once more when the session
ends, so a later run with `--reuse-db` does not start from an empty database."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def restore_migrated_data_at_session_end(django_db_setup, django_db_blocker):
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for connection in connections.all():
            contents = getattr(connection, "_test_serialized_contents", None)
            if contents:
                connection.creation.deserialize_db_from_string(contents)
