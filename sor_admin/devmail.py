"""Local mail servers for `make run` and the tests: Debian's dovecot as the SORpost IMAP server,
and an SMTP server on loopback (aiosmtpd) that keeps every mail it receives as a .eml file.

    python -m sor_admin.devmail imap-up  --dir .data/dovecot --port 11143   (starts dovecot, returns)
    python -m sor_admin.devmail imap-down --dir .data/dovecot
    python -m sor_admin.devmail smtp     --dir .data/mail/outbox --port 8025 (runs in the foreground)

The IMAP server has one user, sorpost (password sorpost unless given), with maildirs under
`--dir`. Nothing here is used in production: there the settings point at SDS's mail servers.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def _wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def _users() -> tuple[str, str]:
    """(the user mail is stored as, the user dovecot's own processes run as)."""
    if os.geteuid() == 0:
        for name in ("dovecot", "nobody"):
            try:
                pwd.getpwnam(name)
                return name, name
            except KeyError:
                continue
    me = pwd.getpwuid(os.geteuid()).pw_name
    return me, me


def imap_up(directory: Path, port: int, user: str = "sorpost", password: str = "sorpost") -> Path:
    """Start a dovecot for `directory` on 127.0.0.1:`port` (idempotent); returns its config path."""
    if not Path(DOVECOT).exists():
        raise RuntimeError("dovecot is not installed (Debian: apt-get install dovecot-imapd)")
    directory = directory.resolve()
    run, mail = directory / "run", directory / "mail"
    for path in (run, mail, directory / "state"):
        path.mkdir(parents=True, exist_ok=True)
    mail_user, internal = _users()
    if os.geteuid() == 0:
        shutil.chown(mail, mail_user, mail_user)
        for path in mail.rglob("*"):
            shutil.chown(path, mail_user, mail_user)
    uid = pwd.getpwnam(mail_user).pw_uid
    (directory / "users").write_text(f"{user}:{{PLAIN}}{password}::::::\n")
    conf = directory / "dovecot.conf"
    conf.write_text(f"""# Written by sor_admin.devmail: a local SORpost mailbox for development and tests.
protocols = imap
listen = 127.0.0.1
base_dir = {run}
state_dir = {directory}/state
log_path = {directory}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{mail}/%u
first_valid_uid = {min(uid, 500) if uid else 1}
mail_uid = {mail_user}
mail_gid = {pwd.getpwnam(mail_user).pw_gid}
default_internal_user = {internal}
default_login_user = {internal}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {directory}/users
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={pwd.getpwnam(mail_user).pw_gid} home={mail}/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
""")
    if (run / "master.pid").exists():
        try:
            os.kill(int((run / "master.pid").read_text().strip()), 0)
            _wait_port(port, 5)
            return conf
        except (OSError, ValueError, RuntimeError):
            pass
    # Not capture_output: the daemon keeps inherited pipes open, and reading them would never end.
    errors = directory / "start.err"
    with errors.open("wb") as err:
        code = subprocess.call([DOVECOT, "-c", str(conf)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=err)
    if code != 0:
        raise RuntimeError(f"dovecot did not start: {errors.read_text().strip()} (log: {directory}/dovecot.log)")
    _wait_port(port)
    return conf


def imap_down(directory: Path) -> None:
    conf = directory.resolve() / "dovecot.conf"
    if conf.exists():
        subprocess.call([DOVECOT, "-c", str(conf), "stop"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL)


class Sink:
    """Stores each mail received as <n>.eml in `directory` and keeps the list in `messages`."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        data = envelope.original_content or envelope.content
        self.messages.append(data)
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{len(list(self.directory.glob('*.eml'))) + 1:05d}.eml"
        (self.directory / name).write_bytes(data)
        return "250 OK kept"


def smtp_controller(directory: Path, port: int):
    """A started aiosmtpd controller on 127.0.0.1:`port` (tests stop it with .stop())."""
    from aiosmtpd.controller import Controller

    sink = Sink(directory)
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    controller.sink = sink
    return controller


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sor_admin.devmail")
    sub = parser.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("imap-up")
    up.add_argument("--dir", required=True, type=Path)
    up.add_argument("--port", type=int, default=11143)
    down = sub.add_parser("imap-down")
    down.add_argument("--dir", required=True, type=Path)
    smtp = sub.add_parser("smtp")
    smtp.add_argument("--dir", required=True, type=Path)
    smtp.add_argument("--port", type=int, default=8025)
    args = parser.parse_args(argv)
    if args.cmd == "imap-up":
        imap_up(args.dir, args.port)
        sys.stderr.write(f"[sor] IMAP (dovecot) up on 127.0.0.1:{args.port}, user sorpost (log: {args.dir}/dovecot.log)\n")
    elif args.cmd == "imap-down":
        imap_down(args.dir)
    else:
        controller = smtp_controller(args.dir, args.port)
        sys.stderr.write(f"[sor] SMTP on 127.0.0.1:{args.port}, mail kept in {args.dir}/\n")
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
        controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
