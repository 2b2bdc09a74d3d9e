"""`output_metric_handlers`: points on every run, status events by Sensu 1.x's rules (docs/metrics.md).

Results go through the real ResultProcessor, Engine and MemoryStore to real `pipe` handlers
(`cat >> FILE`), so what is asserted is what each handler's command received.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from pipeline import jsoncodec
from pipeline.chain.engine import Engine
from pipeline.chain.metric_routes import event_names, metric_handler_names
from pipeline.config.load import settings_of
from pipeline.extension import Context
from pipeline.registry import default_registry
from pipeline.server.results import ResultProcessor
from pipeline.store.memory import MemoryStore
from tests.helpers import events_in

T0 = 1_795_000_000
LOAD_OK = "OK - load average: 0.10, 0.20, 0.30|load1=0.100;5.000;10.000;0; load5=0.200;4.000;8.000;0; "
LOAD_CRIT = "CRITICAL - load average: 12.00, 9.00, 7.00|load1=12.000;5.000;10.000;0; load5=9.000;4.000;8.000;0; "


def recorder(path: Path) -> dict[str, Any]:
    return {"type": "pipe", "command": f"cat >> {shlex.quote(str(path))}; echo >> {shlex.quote(str(path))}"}


class Server:
    def __init__(self, tmp_path: Path, **check: Any) -> None:
        self.mail, self.points = tmp_path / "mail.jsonl", tmp_path / "points.jsonl"
        self.settings: dict[str, Any] = {
            "handlers": {"mail": recorder(self.mail), "points": recorder(self.points)},
            "checks": {"load": {"command": "check_load", "subscribers": ["linux"], "interval": 60,
                                "output_metric_format": "nagios_perfdata", **check}},
        }
        store = MemoryStore()
        typed = settings_of(self.settings)
        self.engine = Engine(typed, Context(settings=typed, store=store), default_registry)
        self.processor = ResultProcessor(typed, store, self.engine, metrics=CollectorRegistry())
        self.step = 0

    async def result(self, status: int, output: str) -> dict[str, Any] | None:
        self.step += 1
        message = {"client": "web-01", "check": {"name": "load", "status": status, "output": output,
                                                  "executed": T0 + 60 * self.step, "issued": T0 + 60 * self.step}}
        return await self.processor.process_message(jsoncodec.dumps(message))


async def test_points_go_to_metric_handlers_every_run_and_status_handlers_hear_only_of_changes(tmp_path: Path) -> None:
    server = Server(tmp_path, handlers=["mail"], output_metric_handlers=["points"])
    for status in (0, 0, 2, 0, 0):
        await server.result(status, LOAD_CRIT if status else LOAD_OK)
    await server.engine.close()

    mailed = events_in(server.mail)
    assert [(e["action"], e["check"]["status"]) for e in mailed] == [("create", 2), ("resolve", 0)]
    shipped = events_in(server.points)
    assert [e["check"]["status"] for e in shipped] == [0, 0, 2, 0, 0], "one event per run, OK or not"
    assert all("load1=" in e["check"]["output"] for e in shipped)


async def test_a_standard_check_with_a_metric_format_and_no_metric_handlers_is_handled_as_in_sensu(
    tmp_path: Path,
) -> None:
    server = Server(tmp_path, handlers=["mail", "points"])
    assert await server.result(0, LOAD_OK) is None, "an OK with no open event is not handled"
    await server.result(2, LOAD_CRIT)
    await server.result(0, LOAD_OK)
    await server.result(0, LOAD_OK)
    await server.engine.close()
    assert [e["action"] for e in events_in(server.mail)] == ["create", "resolve"]
    assert [e["action"] for e in events_in(server.points)] == ["create", "resolve"]


async def test_a_handler_named_in_both_lists_runs_once_per_result(tmp_path: Path) -> None:
    server = Server(tmp_path, handlers=["points"], output_metric_handlers=["points"])
    for status in (0, 2, 0):
        await server.result(status, LOAD_CRIT if status else LOAD_OK)
    await server.engine.close()
    assert [e["check"]["status"] for e in events_in(server.points)] == [0, 2, 0]


async def test_points_of_a_silenced_flapping_or_unhandled_check_still_flow(tmp_path: Path) -> None:
    server = Server(tmp_path, handlers=["mail"], output_metric_handlers=["points"], handle=False)
    await server.processor.store.put_silence({"id": "client:web-01:load", "subscription": "client:web-01",
                                              "check": "load", "creator": "test", "reason": "maintenance"})
    await server.result(2, LOAD_CRIT)
    await server.result(0, LOAD_OK)
    await server.engine.close()
    assert events_in(server.mail) == [], "the status gates stop the status handler"
    assert [e["check"]["status"] for e in events_in(server.points)] == [2, 0]


async def test_a_metric_check_naming_its_handler_in_handlers_keeps_working(tmp_path: Path) -> None:
    server = Server(tmp_path, type="metric", handlers=["points"], output_metric_format=None)
    for _ in range(3):
        await server.result(0, "web-01.load.load1 0.1\n")
    await server.engine.close()
    assert len(events_in(server.points)) == 3


def test_metric_handlers_are_named_only_for_checks_that_carry_metrics() -> None:
    nagios = {"output_metric_format": "nagios_perfdata", "output_metric_handlers": ["graphite"]}
    assert metric_handler_names(nagios) == ("graphite",)
    assert metric_handler_names({"output_metric_handlers": ["graphite"]}) == (), "no format, no points"
    assert metric_handler_names({"type": "metric", "output_metric_handlers": ["graphite"]}) == ("graphite",)
    assert event_names({**nagios, "handlers": ["mail"]}, status=False) == ((), ("graphite",))
    assert event_names({**nagios, "handlers": ["mail"]}, status=True) == (("mail",), ("graphite",))
