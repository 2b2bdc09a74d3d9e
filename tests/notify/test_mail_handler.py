"""The `mail` handler delivers to a real SMTP server (aiosmtpd): plain, STARTTLS, implicit TLS, auth."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from handlers.mail import MailFailed, MailHandler
from pipeline.chain.engine import Engine
from pipeline.config.load import settings_of
from pipeline.extension import Context, DefinitionError, Handler
from pipeline.model import Event
from pipeline.registry import Registry
from tests.helpers import free_port
from tests.notify.smtp_server import SmtpServer, make_certificate

EVENT: dict[str, Any] = {
    "id": "0b6d2a43-8d4e-4b8e-a0b5-53a3c0c0e001",
    "action": "create",
    "client": {"name": "web-1", "address": "10.0.0.11", "subscriptions": ["linux"]},
    "check": {"name": "disk", "status": 2, "output": "DISK CRITICAL - / 97% full\n", "executed": 1700000000},
    "occurrences": 3,
}


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def mail_handler(port: int, metrics: CollectorRegistry | None = None, **definition: Any) -> MailHandler:
    smtp = {"host": "127.0.0.1", "port": port, **definition.pop("smtp", {})}
    return MailHandler("ops_mail", {"type": "mail", "to": ["ops@example.com"], "from": "ogi@example.com",
                                    "smtp": smtp, **definition}, Context(metrics=metrics))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("smtp"))


async def test_one_message_per_event_with_the_default_subject_and_body() -> None:
    metrics = CollectorRegistry()
    with SmtpServer() as smtp:
        handler = mail_handler(smtp.port, metrics)
        await handler.handle(EVENT, b"")
        await handler.handle({**EVENT, "action": "resolve", "check": {**EVENT["check"], "status": 0,
                                                                      "output": "DISK OK\n"}}, b"")
        await handler.close()
    (sender, rcpts, first, tls), second = smtp.mailbox.messages[0], smtp.mailbox.messages[1][2]
    assert (sender, rcpts, tls) == ("ogi@example.com", ["ops@example.com"], False)
    assert first["Subject"] == "CRITICAL: web-1/disk"
    assert second["Subject"] == "RESOLVED: web-1/disk"
    body = first.get_payload()
    assert "DISK CRITICAL - / 97% full" in body and "web-1 (10.0.0.11)" in body and "occurrences: 3" in body
    assert "2023-11-14T22:13:20Z" in body
    # both went over one kept connection
    assert handler.connections_opened == 1 and len(smtp.mailbox.sessions) == 1
    assert sample(metrics, "ogi_notifications_sent_total", handler="ops_mail", type="mail") == 2


async def test_starttls_with_login(certificate: tuple[Path, Path]) -> None:
    with SmtpServer("starttls", cert=certificate, auth=("ogi", "s3cret")) as smtp:
        handler = mail_handler(smtp.port, smtp={"security": "starttls", "user": "ogi", "password": "s3cret",
                                                "ca_file": str(certificate[0])},
                               subject="[{severity}] {check.name} on {client.name}", body="{check.output}")
        await handler.handle(EVENT, b"")
        await handler.close()
    _, _, message, tls = smtp.mailbox.messages[0]
    assert tls is True
    assert message["Subject"] == "[critical] disk on web-1"
    assert message.get_payload().strip() == "DISK CRITICAL - / 97% full"


async def test_implicit_tls(certificate: tuple[Path, Path]) -> None:
    with SmtpServer("tls", cert=certificate) as smtp:
        handler = mail_handler(smtp.port, smtp={"security": "tls", "ca_file": str(certificate[0])})
        await handler.handle(EVENT, b"")
        await handler.close()
    assert smtp.mailbox.messages[0][3] is True


async def test_a_wrong_password_fails_the_event_as_refused(certificate: tuple[Path, Path]) -> None:
    metrics = CollectorRegistry()
    with SmtpServer("starttls", cert=certificate, auth=("ogi", "s3cret")) as smtp:
        handler = mail_handler(smtp.port, metrics, smtp={"security": "starttls", "user": "ogi", "password": "wrong",
                                                         "ca_file": str(certificate[0])})
        with pytest.raises(MailFailed, match="did not take the message"):
            await handler.handle(EVENT, b"")
        await handler.close()
    assert smtp.mailbox.messages == []
    assert sample(metrics, "ogi_notifications_failed_total", handler="ops_mail", type="mail", reason="refused") == 1


async def test_an_untrusted_certificate_is_not_accepted(certificate: tuple[Path, Path]) -> None:
    with SmtpServer("starttls", cert=certificate) as smtp:
        handler = mail_handler(smtp.port, smtp={"security": "starttls"})
        with pytest.raises(MailFailed):
            await handler.handle(EVENT, b"")
        await handler.close()
    assert smtp.mailbox.messages == []


async def test_a_server_that_refuses_the_message_and_one_that_is_not_there() -> None:
    metrics = CollectorRegistry()
    with SmtpServer(refuse=True) as smtp:
        handler = mail_handler(smtp.port, metrics)
        with pytest.raises(MailFailed, match="554"):
            await handler.handle(EVENT, b"")
        await handler.close()
    nowhere = mail_handler(free_port(), metrics)
    with pytest.raises(MailFailed, match="unreachable"):
        await nowhere.handle(EVENT, b"")
    assert sample(metrics, "ogi_notifications_failed_total", handler="ops_mail", type="mail", reason="refused") == 1
    assert sample(metrics, "ogi_notifications_failed_total", handler="ops_mail", type="mail",
                  reason="unreachable") == 1


async def test_a_field_the_event_lacks_fails_that_event_naming_the_field() -> None:
    metrics = CollectorRegistry()
    with SmtpServer() as smtp:
        handler = mail_handler(smtp.port, metrics, subject="{check.name} in {client.datacenter}")
        with pytest.raises(MailFailed, match="no field 'client.datacenter'"):
            await handler.handle(EVENT, b"")
        await handler.handle({**EVENT, "client": {**EVENT["client"], "datacenter": "fra1"}}, b"")
        await handler.close()
    assert [m[2]["Subject"] for m in smtp.mailbox.messages] == ["disk in fra1"]
    assert sample(metrics, "ogi_notifications_failed_total", handler="ops_mail", type="mail", reason="template") == 1


@pytest.mark.parametrize(("definition", "path"), [
    ({"to": "not-an-address"}, "to"),
    ({"smtp": {"security": "ssl"}}, "smtp.security"),
    ({"smtp": {"user": "ogi"}}, "smtp.password"),
    ({"smtp": {"hots": "x"}}, "smtp.hots"),
    ({"subject": "{check.name"}, "subject"),
])
def test_a_wrong_definition_names_its_key(definition: dict[str, Any], path: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        mail_handler(25, **definition)
    assert caught.value.path == path


class Recorder(Handler):
    seen: list[str] = []

    async def handle(self, event: Event, payload: bytes) -> None:
        Recorder.seen.append(self.name)


async def test_a_mail_server_that_is_down_does_not_stop_the_other_handlers(caplog: pytest.LogCaptureFixture) -> None:
    registry = Registry(use_entry_points=False)
    registry.register("handlers", "mail", MailHandler)
    registry.register("handlers", "record", Recorder)
    settings = {"handlers": {
        "default": {"type": "set", "handlers": ["ops_mail", "log"]},
        "ops_mail": {"type": "mail", "to": "ops@example.com", "smtp": {"port": free_port()},
                     "filters": ["incidents"]},
        "log": {"type": "record"},
    }}
    Recorder.seen = []
    engine = Engine(settings_of(settings), Context(settings=settings_of(settings), metrics=CollectorRegistry()), registry)
    with caplog.at_level(logging.ERROR, logger="ogi"):
        await engine.process(EVENT)
        await asyncio.sleep(0)
        await engine.close()
    assert Recorder.seen == ["log"]
    failed = [r for r in caplog.records if r.getMessage() == "handler failed"]
    assert failed and "unreachable" in failed[0].__dict__["fields"]["error"]
