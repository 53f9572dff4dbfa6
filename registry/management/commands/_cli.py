"""Shared parts of the `sor_…` commands: `--user LOGIN` and the JSON error shape.

Exit codes: 0 done, 1 refused or failed (the reason on stderr; `{"error": …}` on stdout with
--json), 2 wrong usage (argparse's own, and an unknown --user)."""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError


def add_user_argument(parser) -> None:
    parser.add_argument("--user", metavar="LOGIN",
                        help="Brugeren, der udfører handlingen (rettigheder og historik). Uden: systemet "
                             "(oprindelse 'kommando').")


def resolve_user(login: str | None):
    """The active user with this login, None for the system; an unknown login is wrong usage (2)."""
    if not login:
        return None
    user = get_user_model().objects.filter(username=login, is_active=True).first()
    if user is None:
        raise CommandError(f"Ukendt eller inaktiv bruger: {login}", returncode=2)
    return user


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def fail(command, message: str, *, as_json: bool, returncode: int = 1, **extra):
    """Refuse: `{"error": message, …}` on stdout with --json; the message on stderr (CommandError)."""
    if as_json:
        command.stdout.write(dumps({"error": message, **extra}))
    raise CommandError(message, returncode=returncode)


def run_verb(command, verb: str, json: bool, options: dict) -> None:
    """Call `command.do_<verb>(json=…, **options)`; a refusal of the services exits 1 with its
    message (field: message for field errors)."""
    from registry.errors import DomainError, ValidationFailed

    try:
        getattr(command, f"do_{verb}")(json=json, **options)
    except ValidationFailed as exc:
        fail(command, "; ".join(f"{k}: {m}" for k, msgs in exc.errors.items() for m in msgs), as_json=json)
    except DomainError as exc:
        fail(command, str(exc), as_json=json)
