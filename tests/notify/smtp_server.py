"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1, plain, STARTTLS or implicit TLS."""

from __future__ import annotations

import ssl
import threading
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.helpers import free_port, make_certificate

__all__ = ["SmtpServer", "make_certificate"]


class Mailbox:
    """Keeps every message accepted, with the envelope and whether the session used TLS."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.messages: list[tuple[str, list[str], Message, bool]] = []
        self.sessions: set[int] = set()
        self.arrived = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return "554 5.7.1 rejected by policy"
        self.sessions.add(id(session))
        tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content), tls))
        self.arrived.set()
        return "250 OK"


def authenticator(user: str, password: str) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == user.encode() and \
            auth_data.password == password.encode()
        return AuthResult(success=ok, handled=False)  # handled=True would mean "I answered the client myself"

    return check


class SmtpServer:
    """`with SmtpServer(mode=...) as smtp:` then `smtp.port`, `smtp.mailbox.messages`."""

    def __init__(self, mode: str = "plain", cert: tuple[Path, Path] | None = None, refuse: bool = False,
                 auth: tuple[str, str] | None = None) -> None:
        self.mailbox = Mailbox(refuse)
        self.port = free_port()
        kwargs: dict[str, Any] = {}
        if cert is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(cert[0]), str(cert[1]))
            if mode == "starttls":
                kwargs.update(tls_context=context, require_starttls=True)
            elif mode == "tls":
                kwargs.update(ssl_context=context)
        if auth is not None:
            kwargs.update(authenticator=authenticator(*auth), auth_required=True, auth_require_tls=True)
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, **kwargs)
        self.mode = mode

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
