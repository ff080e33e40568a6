"""Outgoing e-mail behind one small interface: file (default), console, or SMTP.

In development nothing leaves the machine: the file backend writes each message as an .eml file under the
instance folder (tests read them), the console backend prints it. SMTP is used only when configured.
"""
from __future__ import annotations

import logging
import smtplib
import ssl
import sys
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Mapping, Protocol

from models import utcnow

log = logging.getLogger(__name__)


class Mailer(Protocol):
    """Sends one message or raises."""

    def send(self, message: EmailMessage) -> None: ...


@dataclass
class FileMailer:
    """Writes messages as .eml files (one per message) into a folder."""

    folder: Path

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{utcnow():%Y%m%d-%H%M%S-%f}-{uuid.uuid4().hex[:8]}.eml"  # sorts in sending order
        tmp = self.folder / (name + ".tmp")
        tmp.write_bytes(message.as_bytes())
        tmp.replace(self.folder / name)  # readers never see half a message


@dataclass
class ConsoleMailer:
    """Prints messages to standard output."""

    def send(self, message: EmailMessage) -> None:
        sys.stdout.write(message.as_string() + "\n" + "-" * 72 + "\n")
        sys.stdout.flush()


@dataclass
class SmtpMailer:
    """Sends through an SMTP server; tls is 'starttls', 'ssl' or 'none'."""

    host: str
    port: int
    user: str = ""
    password: str = ""
    tls: str = "starttls"
    timeout: float = 20.0

    def send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        if self.tls == "ssl":
            server: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with server:
            if self.tls == "starttls":
                server.starttls(context=context)
            if self.user:
                server.login(self.user, self.password)
            server.send_message(message)


def build_mailer(config: Mapping[str, Any]) -> Mailer:
    """The configured backend (MAIL_BACKEND: file | console | smtp)."""
    backend = config.get("MAIL_BACKEND", "file")
    if backend == "console":
        return ConsoleMailer()
    if backend == "smtp":
        return SmtpMailer(config["SMTP_HOST"], int(config["SMTP_PORT"]), config.get("SMTP_USER", ""),
                          config.get("SMTP_PASSWORD", ""), config.get("SMTP_TLS", "starttls"))
    if backend == "file":
        return FileMailer(Path(config["MAIL_DIR"]))
    raise ValueError(f"MAIL_BACKEND must be file, console or smtp, not {backend!r}")


def compose(sender: str, to: str, subject: str, body: str, unsubscribe_url: str = "") -> EmailMessage:
    """A plain-text UTF-8 message, with one-click unsubscribe headers when a link is given."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Message-ID"] = f"<{uuid.uuid4().hex}@{sender.split('@')[-1].strip('>') or 'localhost'}>"
    if unsubscribe_url:
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(body, charset="utf-8")
    return message
