"""Small builders shared by tests in every package (data goes in through services or an audit context)."""

from stdnum import ean

from registry.audit import audit_context
from registry.models import EdiAdministrator, NetworkOperator, Region, SystemSupplier, SystemType

CMD = dict(actor=None, reason="testdata", origin="command")


def gln(n: int) -> str:
    """A valid Danish GLN (579 prefix, GS1 check digit) numbered n."""
    body = f"579{n:09d}"
    return body + ean.calc_check_digit(body)


def location_codes() -> dict:
    """The code-list values a location number needs (all attributes filled, valid in the v1 XSD)."""

    def code(model, value):
        return model.objects.get_or_create(code=value, defaults={"name_da": value})[0]

    with audit_context(**CMD):
        return dict(system_supplier=code(SystemSupplier, "162"), system_type=code(SystemType, "225"),
                    network_operator=NetworkOperator.objects.get(code="41000035001"),
                    region=Region.objects.get(code="1081"), edi_administrator=code(EdiAdministrator, "639"))


def test_database_url() -> str:
    """The URL of the test database, for processes started by a test (a worker, concurrent writers)."""
    from exports.parallel import connection_url

    return connection_url()


test_database_url.__test__ = False  # a helper, not a test


def run_client_processes(script: str, count: int, **environment) -> list:
    """Run `script` (Python, printing one JSON line last) in `count` processes at once against the
    test database and the test's cache namespace (pass SOR_CACHE_PREFIX and settings in
    `environment`); returns each process's JSON answer. For limits that must hold across processes."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "sor_admin.settings", "DATABASE_URL": test_database_url(),
           **environment}
    root = Path(__file__).resolve().parents[1]
    procs = [subprocess.Popen([sys.executable, "-c", script], cwd=root, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(count)]
    answers = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        answers.append(json.loads(out.strip().splitlines()[-1]))
    return answers


run_client_processes.__test__ = False
