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
