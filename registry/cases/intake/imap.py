"""Poll the SORpost mailbox over IMAP: every message in the folder is ingested, then flagged
(\\Seen and the keyword `SorIngested`) and moved to "Behandlet", or "Karantæne" when it was
quarantined; never deleted. A message whose move fails stays in the folder and is ingested again
on the next poll, where the ledger finds it (a duplicate) and the move is tried again.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import ssl

from django.conf import settings

from .ingest import ingest

log = logging.getLogger(__name__)
KEYWORD = "SorIngested"


class MailboxError(Exception):
    pass


def _utf7(name: str) -> str:
    """IMAP's modified UTF-7 for folder names such as "Karantæne" (RFC 3501 5.1.3)."""
    out, buffer = [], []

    def flush():
        if buffer:
            import base64

            data = "".join(buffer).encode("utf-16-be")
            out.append("&" + base64.b64encode(data).decode().rstrip("=").replace("/", ",") + "-")
            buffer.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buffer.append(ch)
    flush()
    return "".join(out)


def _quote(name: str) -> str:
    return '"' + _utf7(name).replace("\\", "\\\\").replace('"', '\\"') + '"'


def connect() -> imaplib.IMAP4:
    host, port, tls = settings.SOR_IMAP_HOST, settings.SOR_IMAP_PORT, settings.SOR_IMAP_TLS
    try:
        if tls == "ssl":
            client = imaplib.IMAP4_SSL(host, port, ssl_context=ssl.create_default_context(), timeout=60)
        else:
            client = imaplib.IMAP4(host, port, timeout=60)
            if tls == "starttls":
                client.starttls(ssl_context=ssl.create_default_context())
        client.login(settings.SOR_IMAP_USER, settings.SOR_IMAP_PASSWORD)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxError(f"IMAP {host}:{port}: {exc}") from exc
    return client


def _ensure_folder(client, name: str) -> None:
    client.create(_quote(name))  # NO [ALREADYEXISTS] is fine; anything else shows when the move fails


def _move(client, uid: bytes, folder: str) -> bool:
    if "MOVE" in client.capabilities:
        typ, _data = client.uid("MOVE", uid, _quote(folder))
        return typ == "OK"
    typ, _data = client.uid("COPY", uid, _quote(folder))
    if typ != "OK":
        return False
    client.uid("STORE", uid, "+FLAGS.SILENT", "(\\Deleted)")
    client.uid("EXPUNGE", uid)
    return True


def poll(*, limit: int = 500) -> dict:
    """One pass over the folder; returns counts per outcome and the references created."""
    counts = {"fetched": 0, "created": 0, "reply": 0, "duplicate": 0, "quarantined": 0, "moved": 0,
              "not_moved": 0, "cases": []}
    client = connect()
    try:
        for folder in (settings.SOR_IMAP_DONE_FOLDER, settings.SOR_IMAP_QUARANTINE_FOLDER):
            _ensure_folder(client, folder)
        typ, data = client.select(_quote(settings.SOR_IMAP_FOLDER))
        if typ != "OK":
            raise MailboxError(f"IMAP-mappen {settings.SOR_IMAP_FOLDER!r} kan ikke åbnes: {data!r}")
        typ, data = client.uid("SEARCH", None, "UNDELETED")
        uids = (data[0] or b"").split()[:limit]
        for uid in uids:
            typ, data = client.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next((part[1] for part in data if isinstance(part, tuple)), None)
            if typ != "OK" or raw is None:
                continue  # taken by another poller in the meantime
            counts["fetched"] += 1
            outcome = ingest(raw, origin=f"imap:{settings.SOR_IMAP_USER}@{settings.SOR_IMAP_HOST}/"
                                         f"{settings.SOR_IMAP_FOLDER} uid {uid.decode()}")
            counts[outcome.action] += 1
            if outcome.new:
                counts["cases"].append(outcome.case)
            quarantined = outcome.action == "quarantined" or (outcome.action == "duplicate" and outcome.quarantined)
            client.uid("STORE", uid, "+FLAGS.SILENT", f"(\\Seen {KEYWORD})")
            folder = settings.SOR_IMAP_QUARANTINE_FOLDER if quarantined else settings.SOR_IMAP_DONE_FOLDER
            if _move(client, uid, folder):
                counts["moved"] += 1
            else:
                counts["not_moved"] += 1
                log.warning("IMAP: message uid %s could not be moved to %s", uid, folder)
        client.close()
    finally:
        with contextlib.suppress(Exception):  # the connection may already be gone
            client.logout()
    return counts


def append(raw: bytes, folder: str | None = None) -> None:
    """Put a mail into the mailbox (seeding the local mailbox; tests)."""
    client = connect()
    try:
        typ, data = client.append(_quote(folder or settings.SOR_IMAP_FOLDER), None, None, raw)
        if typ != "OK":
            raise MailboxError(f"IMAP APPEND: {data!r}")
    finally:
        client.logout()


def folder_count(folder: str) -> int:
    client = connect()
    try:
        typ, data = client.select(_quote(folder), readonly=True)
        return int(data[0]) if typ == "OK" else 0
    finally:
        client.logout()

