"""Namespaces and the exact prefixes SDS declares, in the order of the real root elements.

Real consumers match qualified-name strings (`"sor1:SorIdentifier"`, `"xkom-1:AddressPostal"`), so
the prefixes are part of the format, not a serialisation detail (sor-format.md §2, §10)."""

V1_NS = "urn:oio:sundhedsstyrelsen:organisation:1.0.0"
V2_NS = "urn:oio:nsi:2.0.0"
XKOM_2006 = "http://rep.oio.dk/xkom.dk/xml/schemas/2006/01/06/"
XKOM_2005 = "http://rep.oio.dk/xkom.dk/xml/schemas/2005/03/15/"
DKCC_2003 = "http://rep.oio.dk/ebxml/xml/schemas/dkcc/2003/02/13/"
DKCC_2005 = "http://rep.oio.dk/ebxml/xml/schemas/dkcc/2005/03/15/"
DKCC_2005_2 = "http://rep.oio.dk/ebxml/xml/schemas/dkcc/2005/05/13/"
CPR = "http://rep.oio.dk/cpr.dk/xml/schemas/core/2005/03/18/"
ITST = "http://rep.oio.dk/itst.dk/xml/schemas/2005/01/10/"
OSAK = "http://rep.oio.dk/osak.dk/xml/schemas/2006/04/25/"
CVR = "http://rep.oio.dk/cvr.dk/xml/schemas/2005/03/22/"
KMS = "http://rep.oio.dk/kms.dk/xml/schemas/2007/05/23/"

# (prefix, namespace) in the order of SDS's v1 root element; None = default namespace.
V1_DECLARATIONS = (
    ("itst", ITST),
    ("xkom-1", XKOM_2006),
    ("dkcc", DKCC_2003),
    ("dkcc2005-2", DKCC_2005_2),
    ("dkcc2005", DKCC_2005),
    ("cpr", CPR),
    ("xkom", XKOM_2005),
    (None, V1_NS),
)

# The order of SDS's v2 root element (Sor_small.xml, 2019).
V2_DECLARATIONS = (
    ("osak", OSAK),
    ("cpr", CPR),
    ("cvr", CVR),
    ("xkom", XKOM_2006),
    ("sor1", V1_NS),
    ("dkcc", DKCC_2003),
    ("dkcc2005", DKCC_2005),
    ("kms", KMS),
    ("xkom1", XKOM_2005),
    ("dkcc2005-2", DKCC_2005_2),
    (None, V2_NS),
)


def root_start_tag(declarations) -> str:
    attrs = " ".join(f'xmlns="{ns}"' if prefix is None else f'xmlns:{prefix}="{ns}"' for prefix, ns in declarations)
    return f"<SorTree {attrs}>"
