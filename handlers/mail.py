"""The `mail` handler: one message per event over SMTP, in process, on a kept connection.

Sensu users pipe events to `mail` or to a Ruby mailer gem, a process per event. This handler
speaks SMTP itself (through aiosmtplib): `smtp.security` is `tls` (implicit TLS, port 465),
`starttls` (required STARTTLS, port 587) or `none`; with `smtp.user` and `smtp.password` it
logs in. The connection is opened on first use and kept for the next events; one that the
server closed meanwhile is reopened once per message. Messages of concurrent events go out
one after another on that connection (SMTP is a dialogue), so a slow mail server holds up
only this handler's events, and each is bounded by the route's deadline like any handler.

`subject` and `body` are templates over the event's fields (`pipeline/notify/template.py`);
a field the event lacks fails that event with the field named. Sends and failures are
counted in `ogi_notifications_sent_total` and `ogi_notifications_failed_total`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import ClassVar

import aiosmtplib

from pipeline.extension import Context, DefinitionError, Handler
from pipeline.model import JSON, Event
from pipeline.notify import options
from pipeline.notify.counters import NotifyCounters
from pipeline.notify.template import TemplateError

DEFAULT_SUBJECT = "{status_word}: {client.name}/{check.name}"
DEFAULT_BODY = (
    "{check.output}\n\n"
    "client:      {client.name} ({client.address})\n"
    "check:       {check.name}\n"
    "severity:    {severity}\n"
    "action:      {action}\n"
    "occurrences: {occurrences}\n"
    "time:        {time}\n"
)
SMTP_KEYS = frozenset({"host", "port", "security", "user", "password", "timeout", "tls_verify", "ca_file"})
SECURITY_BY_PORT = {465: "tls", 587: "starttls"}


class MailFailed(RuntimeError):
    """An event's message was not accepted; `reason` is the counter's label."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class MailHandler(Handler):
    """Sends each event as one mail through an SMTP server."""

    type_name: ClassVar[str] = "mail"
    allowed_keys: ClassVar[frozenset[str] | None] = frozenset({"smtp", "from", "to", "subject", "body"})

    def __init__(self, name: str, definition: JSON, context: Context) -> None:
        super().__init__(name, definition, context)
        smtp = options.section(definition, "smtp", SMTP_KEYS)
        self.host = options.text(smtp, "host", "127.0.0.1", "smtp.host")
        self.port = options.integer(smtp, "port", 25, "smtp.port", minimum=1)
        self.security = smtp.get("security", SECURITY_BY_PORT.get(self.port, "none"))
        if self.security not in ("none", "starttls", "tls"):
            raise DefinitionError("smtp.security", "must be none, starttls or tls", self.security)
        self.user = smtp.get("user")
        self.password = smtp.get("password")
        if (self.user is None) != (self.password is None):
            raise DefinitionError("smtp.user" if self.user is None else "smtp.password",
                                  "smtp.user and smtp.password go together")
        for key, value in (("user", self.user), ("password", self.password)):
            if value is not None and not isinstance(value, str):
                raise DefinitionError(f"smtp.{key}", "must be a string")
        self.smtp_timeout = options.number(smtp, "timeout", 10.0, "smtp.timeout", minimum=0.1)
        self.tls_verify = options.flag(smtp, "tls_verify", True, "smtp.tls_verify")
        self.ca_file = smtp.get("ca_file")
        if self.ca_file is not None and not isinstance(self.ca_file, str):
            raise DefinitionError("smtp.ca_file", "must be the path of a PEM file", self.ca_file)
        # getfqdn may ask DNS: only when `from` is not given
        self.sender = options.text(definition, "from") if "from" in definition else f"ogi@{socket.getfqdn()}"
        to = definition.get("to")
        if isinstance(to, str):
            to = [to]
        if not isinstance(to, list) or not to or not all(isinstance(a, str) and "@" in a for a in to):
            raise DefinitionError("to", "must be an address or a list of addresses", to)
        self.recipients: list[str] = to
        self.subject = options.template(definition, "subject", DEFAULT_SUBJECT)
        self.body = options.template(definition, "body", DEFAULT_BODY)
        self.counters = NotifyCounters.of(context.metrics)
        self._client: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()
        #: Connections opened so far (a test reads it to see the connection kept).
        self.connections_opened = 0

    def message(self, event: Event) -> EmailMessage:
        """The mail for one event (TemplateError when a field is missing)."""
        extra = {"occurrences": event.get("occurrences", 1), "action": event.get("action", "create")}
        message = EmailMessage()
        # A header cannot hold a line break: check output in a subject is folded to one line.
        message["Subject"] = " ".join(self.subject.render(event, extra).split())
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message["X-Ogi-Event"] = f"{event.get('id', '')}"
        message.set_content(self.body.render(event, extra))
        return message

    async def handle(self, event: Event, payload: bytes) -> None:
        try:
            message = self.message(event)
        except TemplateError as err:
            self._fail("template")
            raise MailFailed(f"mail handler {self.name}: {err}", "template") from err
        async with self._lock:
            try:
                await self._send(message)
            except aiosmtplib.SMTPServerDisconnected:
                await self._drop()
                try:
                    await self._send(message)  # a kept connection the server closed while idle
                except Exception as err:
                    raise self._failure(err) from err
            except Exception as err:
                raise self._failure(err) from err
        self.counters.sent.labels(self.name, "mail").inc()

    async def _send(self, message: EmailMessage) -> None:
        client = self._client
        if client is None or not client.is_connected:
            client = await self._connect()
        await client.send_message(message, sender=self.sender, recipients=self.recipients)

    async def _connect(self) -> aiosmtplib.SMTP:
        await self._drop()
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",
            validate_certs=self.tls_verify,
            cert_bundle=self.ca_file,
            username=self.user,
            password=self.password,
            timeout=self.smtp_timeout,
        )
        await client.connect()
        self._client = client
        self.connections_opened += 1
        return client

    def _failure(self, err: BaseException) -> MailFailed:
        if isinstance(err, aiosmtplib.SMTPTimeoutError | TimeoutError):
            reason = "timeout"
        elif isinstance(err, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected | OSError):
            reason = "unreachable"
        else:
            reason = "refused"
        self._fail(reason)
        # After an error the dialogue's state is unknown: the next message starts afresh.
        client, self._client = self._client, None
        if client is not None:
            client.close()
        return MailFailed(
            f"mail handler {self.name}: {self.host}:{self.port} did not take the message ({reason}): {err}", reason
        )

    def _fail(self, reason: str) -> None:
        self.counters.failed.labels(self.name, "mail", reason).inc()

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.smtp_timeout):
                    await client.quit()
        if client is not None:
            client.close()

    async def close(self) -> None:
        async with self._lock:
            await self._drop()
