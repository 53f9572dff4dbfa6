"""Read a received mail as it really arrives: plain, multipart/alternative, HTML only (Outlook),
ISO-8859-1 and Windows-1252 bodies and headers (raw 8-bit headers too), quoted-printable and
base64, forwarded mails (message/rfc822) and attachments.

`parse(raw)` returns a `Parsed` mail or raises `Unparseable` with the reason (the mail is then
quarantined, never lost). HTML is kept as received; `sanitise` makes it safe to show (nh3: no
script, no event handlers, no remote images, links open nowhere by themselves).
"""

from __future__ import annotations

import email
import email.header
import email.policy
import email.utils
import hashlib
import html as html_lib
import re
from dataclasses import dataclass, field
from email.message import EmailMessage

import nh3

# Outlook and many Danish mailers label Windows-1252 text as ISO-8859-1 (or say nothing): decode
# with the superset, so "–", "€" and curly quotes survive.
_CHARSET_ALIASES = {"iso-8859-1": "cp1252", "latin-1": "cp1252", "latin1": "cp1252", "us-ascii": "cp1252",
                    "ascii": "cp1252", "windows-1252": "cp1252", "iso-8859-15": "iso-8859-15"}
_AUTO_SENDER = re.compile(r"(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounce)", re.I)


class Unparseable(Exception):
    """A mail that cannot be read as a mail (the reason names what is wrong)."""


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Parsed:
    message_id: str
    in_reply_to: str
    references: list[str]
    subject: str
    sender_name: str
    sender_email: str
    recipients: str
    date: object  # aware datetime or None
    text: str
    html: str
    forwarded_text: str  # the text of forwarded (message/rfc822) parts
    attachments: list[Attachment] = field(default_factory=list)
    automatic: str = ""  # why the mail is an auto-reply, bounce or list mail ("" if a person wrote it)
    content_hash: str = ""

    @property
    def all_text(self) -> str:
        return "\n".join(part for part in (self.subject, self.text or html_to_text(self.html), self.forwarded_text)
                         if part)


def _decode_bytes(data: bytes, charset: str | None) -> str:
    name = (charset or "").lower().strip()
    for candidate in (_CHARSET_ALIASES.get(name, name), "utf-8", "cp1252"):
        if not candidate:
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("cp1252", errors="replace")


def _header(msg: EmailMessage, name: str) -> str:
    """A header as text. RFC 2047 words are decoded; raw 8-bit bytes (which the parser keeps as
    surrogate escapes in the raw header) are read as UTF-8 when they are, else Windows-1252."""
    raw = None
    for key, value in msg.raw_items():
        if key.lower() == name.lower():
            raw = str(value)
            break
    if raw is None:
        return ""
    if any("\udc80" <= ch <= "\udcff" for ch in raw):
        text = _decode_bytes(raw.encode("ascii", "surrogateescape"), "utf-8")
    else:
        try:
            text = str(email.header.make_header(email.header.decode_header(raw)))
        except Exception:  # a broken encoded word: keep it as written
            text = raw
    return re.sub(r"\s+", " ", text).strip()


def _address(msg: EmailMessage, name: str) -> tuple[str, str]:
    value = _header(msg, name)
    if not value:
        return "", ""
    display, addr = email.utils.parseaddr(value)
    return display.strip().strip('"'), addr.strip().lower()


def _ids(text: str) -> list[str]:
    return re.findall(r"<[^<>\s]+>", text or "")


def _part_text(part: EmailMessage) -> str:
    payload = part.get_payload(decode=True)
    if payload is None:
        payload = (part.get_payload() or "").encode("utf-8", "surrogateescape") if isinstance(part.get_payload(), str) else b""
    return _decode_bytes(payload, part.get_content_charset())


def _filename(part: EmailMessage) -> str:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if name and any("\udc80" <= ch <= "\udcff" for ch in name):
        name = _decode_bytes(name.encode("utf-8", "surrogateescape"), "utf-8")
    name = re.sub(r"[\x00-\x1f/\\]", "_", (name or "").strip())
    return name[:200]


def html_to_text(html: str) -> str:
    """The words of an HTML body (for reading identifiers and for the text view)."""
    if not html:
        return ""
    body = re.sub(r"(?is)<(script|style|head)\b.*?</\1\s*>", " ", html)
    body = re.sub(r"(?i)<br\s*/?>|</p\s*>|</div\s*>|</tr\s*>|</li\s*>", "\n", body)
    body = re.sub(r"<[^>]+>", " ", body)
    body = html_lib.unescape(body)
    return re.sub(r"[ \t\u00a0]+", " ", re.sub(r"\n\s*\n+", "\n\n", body)).strip()


def sanitise(html: str) -> str:
    """HTML safe to show in the staff browser: no script, style, forms or event handlers; no
    images (a remote image would tell the sender the mail was read, and load from anywhere);
    links keep their address but get rel=noopener noreferrer."""
    tags = set(nh3.ALLOWED_TAGS) - {"img"}
    return nh3.clean(html or "", tags=tags, link_rel="noopener noreferrer nofollow",
                     url_schemes={"http", "https", "mailto"})


def _walk(msg: EmailMessage, out: dict, depth: int = 0) -> None:
    """Collect the text, HTML, forwarded text and attachments of `msg` into `out`."""
    if depth > 5:
        return
    ctype = msg.get_content_type()
    disposition = (msg.get_content_disposition() or "").lower()
    if msg.is_multipart():
        if ctype == "message/rfc822" or ctype.startswith("message/"):
            for inner in msg.get_payload():
                _forwarded(inner, out, depth)
            return
        for part in msg.iter_parts():
            _walk(part, out, depth + 1)
        return
    filename = _filename(msg)
    if ctype == "message/rfc822":  # not multipart in some parsers' view
        return
    if disposition == "attachment" or (filename and not ctype.startswith("text/")) or not ctype.startswith(("text/", "multipart/")):
        data = msg.get_payload(decode=True) or b""
        out["attachments"].append(Attachment(filename or f"bilag-{len(out['attachments']) + 1}", ctype, data))
        return
    if ctype == "text/html":
        if depth == 0 or not out["html"]:
            out["html"] += _part_text(msg)
    else:
        out["text"] += ("\n" if out["text"] else "") + _part_text(msg)


def _forwarded(inner: EmailMessage, out: dict, depth: int) -> None:
    sub = {"text": "", "html": "", "attachments": [], "forwarded": []}
    _walk(inner, sub, depth + 1)
    head = "\n".join(f"{name}: {_header(inner, name)}" for name in ("From", "Date", "Subject") if _header(inner, name))
    body = sub["text"] or html_to_text(sub["html"])
    out["forwarded"].append(f"{head}\n\n{body}".strip())
    raw = inner.as_bytes(policy=email.policy.default.clone(linesep="\r\n"))
    subject = _header(inner, "Subject") or "videresendt"
    out["attachments"].append(Attachment(re.sub(r"[^\wæøåÆØÅ .-]", "_", subject)[:80] + ".eml", "message/rfc822", raw))
    out["attachments"].extend(sub["attachments"])
    out["forwarded"].extend(sub["forwarded"])


def automatic_reason(msg: EmailMessage, sender: str) -> str:
    """Why `msg` is a machine's mail that must get no answer (RFC 3834, list and bounce headers)."""
    auto = _header(msg, "Auto-Submitted").lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = _header(msg, "Precedence").lower()
    if precedence in ("bulk", "list", "junk", "auto_reply"):
        return f"Precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress", "List-Id", "List-Unsubscribe"):
        value = _header(msg, name)
        if value and not (name == "X-Auto-Response-Suppress" and value.lower() in ("", "none")):
            return f"{name}: {value[:60]}"
    if msg.get_content_type() == "multipart/report":
        return "multipart/report"
    if not sender:
        return "ingen afsender"
    if _AUTO_SENDER.search(sender.split("@")[0]):
        return f"afsender {sender}"
    return ""


def content_key(raw: bytes) -> str:
    """The key of a mail without Message-ID: the hash of what its sender wrote (From, Date,
    Subject and the body), not of the transport headers that differ between deliveries."""
    head, _sep, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    keep = [line for line in head.split(b"\n") if line.lower().split(b":", 1)[0] in (b"from", b"date", b"subject", b"to")]
    return "sha256:" + hashlib.sha256(b"\n".join(sorted(keep)) + b"\n\n" + body.strip()).hexdigest()


def parse(raw: bytes) -> Parsed:
    if not raw or not raw.strip():
        raise Unparseable("tom fil")
    head = raw[:4096].replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    if not re.search(rb"^(from|to|subject|date|message-id|received|mime-version|return-path)\s*:", head, re.I | re.M):
        raise Unparseable("ingen mail-headere (From, To, Subject, Date …) i filens begyndelse: ikke en mail")
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception as exc:  # the stdlib parser is lenient; this is truly broken input
        raise Unparseable(f"kan ikke læses som en mail: {exc}") from exc
    sender_name, sender_email = _address(msg, "From")
    if not sender_email or "@" not in sender_email:
        raise Unparseable(f"ingen gyldig afsender (From: {_header(msg, 'From')!r})")
    out = {"text": "", "html": "", "attachments": [], "forwarded": []}
    try:
        _walk(msg, out)
    except Exception as exc:
        raise Unparseable(f"mailens dele kan ikke læses: {exc}") from exc
    date = None
    try:
        date_header = _header(msg, "Date")
        date = email.utils.parsedate_to_datetime(date_header) if date_header else None
        if date is not None and date.tzinfo is None:
            date = None
    except (TypeError, ValueError, IndexError):
        date = None
    message_id = (_ids(_header(msg, "Message-ID")) or [""])[0]
    return Parsed(
        message_id=message_id,
        in_reply_to=(_ids(_header(msg, "In-Reply-To")) or [""])[0],
        references=_ids(_header(msg, "References")),
        subject=_header(msg, "Subject"),
        sender_name=sender_name,
        sender_email=sender_email,
        recipients=_header(msg, "To"),
        date=date,
        text=out["text"].replace("\r\n", "\n").strip(),
        html=out["html"],
        forwarded_text="\n\n".join(out.get("forwarded", [])),
        attachments=out["attachments"],
        automatic=automatic_reason(msg, sender_email),
        content_hash=hashlib.sha256(raw).hexdigest(),
    )
