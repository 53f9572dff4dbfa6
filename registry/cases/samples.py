"""Realistic SORpost mail, as clinics and regions write it: a dozen correction mails of every kind
the intake must read, and one malformed file. Used to seed the local mailbox of `make run`
(with units of the demo register) and by the tests (with units they build).

`sample_mails(units)` takes a list of at least three dicts with `sor_id`, `name`,
`provider_number`, `gln`, `phone` and `email` (empty strings allowed) and returns
`[(name, raw bytes)]` in a fixed order; `name` says what kind of mail it is.
"""

from __future__ import annotations

import base64
import datetime as dt
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.image import MIMEImage
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime

# The smallest valid PDF and PNG: real file types without test data files.
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
       b"trailer<</Root 1 0 R>>\n%%EOF\n")
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SORPOST = "sorpost@sundhedsdata.dk"


def _date(n: int) -> str:
    return format_datetime(dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=17 * n))


def _headers(msg, n: int, sender: str, subject: str, *, message_id: bool = True) -> None:
    msg["From"] = sender
    msg["To"] = SORPOST
    msg["Subject"] = subject
    msg["Date"] = _date(n)
    if message_id:
        msg["Message-ID"] = f"<sorpost-sample-{n}@klinik.example.dk>"


def _plain(n, sender, subject, body, **kw) -> bytes:
    msg = EmailMessage()
    _headers(msg, n, sender, subject, **kw)
    msg.set_content(body)
    return bytes(msg)


def sample_mails(units: list[dict]) -> list[tuple[str, bytes]]:
    a, b, c = units[0], units[1], units[2]
    mails: list[tuple[str, bytes]] = []

    mails.append(("plain", _plain(
        1, '"Lægerne Østergade" <klinik@laegerne-oestergade.example.dk>', "Nyt telefonnummer",
        f"Kære SOR\n\nVi har fået nyt telefonnummer. Vores SOR-ID er {a['sor_id']} ({a['name']}).\n"
        f"Nyt nummer: tlf. 98 12 34 56\n\nMed venlig hilsen\nPraksissekretær Hanne Møller\n")))

    alt = MIMEMultipart("alternative")
    _headers(alt, 2, "Jens Ærø <jens@tandlaege-aeroe.example.dk>", "Ny adresse for klinikken")
    text = (f"Hej\n\nKlinikken med ydernummer {b['provider_number']} flytter pr. 01-01-2027 til "
            f"Søndergade 12, 9000 Aalborg.\n\nVenlig hilsen\nJens Ærø\n")
    alt.attach(MIMEText(text, "plain", "utf-8"))
    alt.attach(MIMEText(f"<p>Hej</p><p>Klinikken med ydernummer <b>{b['provider_number']}</b> flytter pr. "
                        f"01-01-2027 til Søndergade 12, 9000 Aalborg.</p><p>Venlig hilsen<br>Jens Ærø</p>",
                        "html", "utf-8"))
    mails.append(("alternative", alt.as_bytes()))

    gln = a["gln"] or "5790000000000"
    spaced = f"{gln[:4]} {gln[4:8]} {gln[8:]}"
    html = MIMEText(
        "<html><head><style>p{margin:0}</style></head><body><div class=WordSection1>"
        f"<p class=MsoNormal>Til SOR&nbsp;–&nbsp;rettelse af e-mail</p><p>Vores lokationsnummer er {spaced}. "
        "Ny e-mail: <a href=\"mailto:post@klinik.example.dk\">post@klinik.example.dk</a> “fra i dag”.</p>"
        "<img src=\"https://tracker.example.com/pixel.gif\" width=1 height=1>"
        "<script>alert('x')</script><p onclick=\"steal()\">Mvh Birte Ørsted</p></div></body></html>",
        "html", "windows-1252")
    _headers(html, 3, "=?windows-1252?Q?Birte_=D8rsted?= <birte@klinik.example.dk>",
             "=?windows-1252?Q?=C6ndring_af_e-mail?=")
    mails.append(("html-only-outlook-cp1252", html.as_bytes()))

    latin = MIMEText(f"Goddag\n\nVi ønsker at rette åbningstiderne og adressen for {c['name']}.\n"
                     f"SOR-ID {c['sor_id']}. Ring gerne på 70 20 30 40.\n\nMed venlig hilsen\nSøren Ågård\n",
                     "plain", "iso-8859-1")
    _headers(latin, 4, "=?iso-8859-1?Q?S=F8ren_=C5g=E5rd?= <soren@example.dk>",
             "=?iso-8859-1?Q?Rettelse_af_=E5bningstider?=")
    mails.append(("iso-8859-1", latin.as_bytes()))

    raw8 = (f"From: Ærø Fysioterapi <info@aeroe-fys.example.dk>\r\nTo: {SORPOST}\r\n"
            f"Subject: Ændring af ydernummer på Ærø\r\nDate: {_date(5)}\r\n"
            "Message-ID: <sorpost-sample-5@klinik.example.dk>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            f"Hej SOR\r\n\r\nYdernummer {b['provider_number']} skal stå på vores nye klinik.\r\nMvh Ærø\r\n")
    mails.append(("raw-8bit-headers", raw8.encode("cp1252")))

    b64 = EmailMessage()
    _headers(b64, 6, "Region Nordjylland <sor@rn.example.dk>", "Lukning af afsnit")
    b64.set_content(f"Afsnittet {a['name']} (SOR-ID {a['sor_id']}) lukker 31-12-2026.\n", cte="base64")
    mails.append(("base64", bytes(b64)))

    inner = EmailMessage()
    inner["From"] = "Klinik Vestergade <klinik@vestergade.example.dk>"
    inner["To"] = "sor@region.example.dk"
    inner["Subject"] = "Forkert lokationsnummer"
    inner["Date"] = _date(0)
    inner.set_content(f"Vores lokationsnummer {gln} er forkert i SOR. Det rigtige er {gln[:-1]}.\n")
    fwd = MIMEMultipart("mixed")
    _headers(fwd, 7, "Region Syddanmark <sor@rsyd.example.dk>", "VS: Forkert lokationsnummer")
    fwd.attach(MIMEText("Videresendes til SOR til behandling.\n\nMvh Regionens SOR-ansvarlige\n", "plain", "utf-8"))
    fwd.attach(MIMEMessage(inner))
    mails.append(("forwarded", fwd.as_bytes()))

    att = MIMEMultipart("mixed")
    _headers(att, 8, "Apoteket <apotek@apotek.example.dk>", "Nye oplysninger, se vedhæftede")
    att.attach(MIMEText(f"Se vedhæftede skema og kvittering for {b['name']} (ydernr. {b['provider_number']}).\n",
                        "plain", "utf-8"))
    pdf = MIMEApplication(PDF, "pdf")
    pdf.add_header("Content-Disposition", "attachment", filename="kvittering.pdf")
    att.attach(pdf)
    img = MIMEImage(PNG, "png")
    img.add_header("Content-Disposition", "attachment", filename="skilt på døren.png")
    att.attach(img)
    sheet = MIMEApplication(b"PK\x03\x04 not a real workbook", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    sheet.add_header("Content-Disposition", "attachment", filename="ændringer.xlsx")
    att.attach(sheet)
    mails.append(("attachments", att.as_bytes()))

    phone = (a["phone"] or "98765432").replace(" ", "")[-8:]
    mails.append(("cvr-is-phone", _plain(
        9, "Lægehuset <laegehuset@example.dk>", "Ret CVR-nummer",
        f"Hej\n\nRet venligst vores CVR-nummer til CVR {phone}. SOR-ID {a['sor_id']}.\nTelefon {phone}\n")))

    mails.append(("location-number-typo", _plain(
        10, "Klinikken <klinik@example.dk>", "Nyt lokationsnummer",
        f"Vi har fået nyt lokationsnummer: {gln[:-1]} (ydernummer {c['provider_number']}).\n")))

    auto = EmailMessage()
    _headers(auto, 11, "Hanne Møller <klinik@laegerne-oestergade.example.dk>", "Fraværsbesked: Nyt telefonnummer")
    auto["Auto-Submitted"] = "auto-replied"
    auto["X-Auto-Response-Suppress"] = "All"
    auto.set_content("Jeg er på ferie til og med 4. januar. Henvendelser til klinikken på tlf. 98 12 34 56.\n")
    mails.append(("auto-reply", bytes(auto)))

    mails.append(("no-message-id", _plain(
        12, "Tandlæge Holm <holm@tandlaege.example.dk>", "Ny hjemmeside",
        f"Ny hjemmeside: www.tandlaege-holm.example.dk\nYdernummer {c['provider_number']}\n", message_id=False)))

    mails.append(("malformed", b"\x00\x01\x02 PK\x03\x04 this is not a mail at all\n\xff\xfe"))
    return mails
