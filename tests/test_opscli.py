"""The operator commands (`ogi events`, `ogi silence add`, ...) over the HTTP API.

Commands run in-process through `register()` on a parser built here, in a worker thread (they
use blocking urllib) while the API serves on this test's event loop. Listings and changes go
against the real ogi API over a memory store and transport; error paths the real API never
takes on purpose (a 500, a non-JSON body) come from a small aiohttp app that answers just that.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
from collections.abc import AsyncIterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from pipeline import config
from pipeline.cli import common_options
from pipeline.opscli import endpoint, register
from pipeline.opscli_format import (
    format_age,
    format_duration,
    parse_duration,
    table,
)
from tests.conftest import free_port

# --- running a command ---------------------------------------------------------------------------


@dataclass
class Outcome:
    code: int | str | None
    out: str
    err: str


def ogi_parser() -> argparse.ArgumentParser:
    """What `pipeline.cli.build_parser()` gives once the lead wires `register` in."""
    parser = argparse.ArgumentParser(prog="ogi")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    register(commands, common_options())
    return parser


def run_ogi(*argv: str, stdin: str | None = None) -> Outcome:
    """Parse and run like `pipeline.cli.main`, capturing output and the exit code (argparse's included)."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    try:
        with redirect_stdout(out), redirect_stderr(err):
            if stdin is not None:
                sys.stdin = io.StringIO(stdin)
            try:
                args = ogi_parser().parse_args(list(argv))
                code: int | str | None = args.handler(args)
            except SystemExit as exit_:
                code = exit_.code
    finally:
        sys.stdin = saved
    return Outcome(code, out.getvalue(), err.getvalue())


async def ogi(*argv: str, stdin: str | None = None) -> Outcome:
    return await asyncio.to_thread(run_ogi, *argv, stdin=stdin)


@pytest.fixture(autouse=True)
def no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """No /etc/ogi, /etc/sensu or OGI_* variables from the machine running the tests."""
    monkeypatch.setattr(config, "DEFAULT_ROOTS", ())
    for var in ("OGI_API_URL", "OGI_API_USER", "OGI_API_PASSWORD", "OGI_API_PORT", "SENSU_API_PORT"):
        monkeypatch.delenv(var, raising=False)


# --- a canned API for the error paths ------------------------------------------------------------


@pytest.fixture
async def canned() -> AsyncIterator[tuple[str, list[web.Request]]]:
    """An app answering fixed responses by path; records each request it saw."""
    seen: list[web.Request] = []

    async def answer(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        path = request.path
        if path == "/events":
            return web.Response(status=500, text="Traceback: nothing for people")
        if path == "/clients":
            return web.json_response({"error": "store unavailable: redis is down"}, status=503)
        if path == "/resolve":
            return web.Response(status=404)
        if path == "/checks":
            return web.Response(text="<html>not json</html>")
        if path == "/silenced":
            return web.Response(status=401)
        if path == "/results":
            await asyncio.sleep(1)
        return web.json_response({"error": "unexpected"}, status=418)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


# --- durations, ages and tables ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h", 3600), ("30m", 1800), ("90s", 90), ("2d", 172800), ("3600", 3600), ("1w", 604800),
     ("1h30m", 5400), ("2H", 7200), (" 45s ", 45)],
)
def test_a_duration_is_read_in_seconds(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "-5", "0", "0s", "1.5h", "h", "10x", "1h 30m", "30m1", "1y", "--1h"])
def test_a_duration_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0s"), (45, "45s"), (60, "1m"), (90, "1m30s"), (3599, "59m59s"), (3600, "1h"), (3660, "1h1m"),
     (86400 + 3600 + 61, "1d1h"), (-5, "0s")],
)
def test_a_duration_is_shown_in_its_two_largest_units(seconds: int, shown: str) -> None:
    assert format_duration(seconds) == shown


def test_an_age_reads_as_ago_or_in_and_a_missing_timestamp_as_a_dash() -> None:
    assert format_age(1000, now=1090) == "1m30s ago"
    assert format_age(1600, now=1000) == "in 10m"
    assert format_age(None, now=1000) == "-"
    assert format_age(True, now=1000) == "-"


def test_a_table_sizes_each_column_to_its_widest_cell_and_leaves_no_trailing_spaces() -> None:
    text = table(("NAME", "STATUS", "OUTPUT"), [["web1", "CRITICAL", "disk full"], ["database-7", 0, ""]])
    assert text.splitlines() == [
        "NAME        STATUS    OUTPUT",
        "web1        CRITICAL  disk full",
        "database-7  0",
    ]


def test_a_cell_cannot_send_escape_sequences_to_the_terminal() -> None:
    text = table(("OUTPUT",), [["\x1b[2Jgone\ttab\rback"]])
    assert "\x1b" not in text and "\r" not in text
    assert text.splitlines()[1] == "\\x1b[2Jgone tab\\rback"


# --- where the API is ----------------------------------------------------------------------------


def _args(*argv: str) -> argparse.Namespace:
    return ogi_parser().parse_args(["events", *argv])


def test_without_flags_or_config_the_api_is_on_loopback_port_4567() -> None:
    api = endpoint(_args(), env={})
    assert (api.url, api.user) == ("http://127.0.0.1:4567", None)


def test_the_config_names_host_port_credentials_and_https(tmp_path: Path) -> None:
    (tmp_path / "api.json").write_text(json.dumps(
        {"api": {"host": "api.example", "port": 4000, "user": "ops", "password": "s3cret", "ssl": {"cert": "x"}}}))
    api = endpoint(_args("-d", str(tmp_path)), env={})
    assert (api.url, api.user, api.password) == ("https://api.example:4000", "ops", "s3cret")


@pytest.mark.parametrize(("bind", "url"), [("0.0.0.0", "http://127.0.0.1:4567"), ("::", "http://127.0.0.1:4567"),
                                           ("10.1.2.3", "http://10.1.2.3:4567"), ("::1", "http://[::1]:4567")])
def test_a_bind_address_is_used_unless_it_is_a_wildcard(tmp_path: Path, bind: str, url: str) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"api": {"bind": bind}}))
    assert endpoint(_args("-c", str(tmp_path / "config.json")), env={}).url == url


def test_the_flag_beats_the_environment_which_beats_the_config(tmp_path: Path) -> None:
    file = tmp_path / "config.json"
    file.write_text(json.dumps({"api": {"port": 4000, "user": "fromconfig", "password": "c"}}))
    env = {"OGI_API_URL": "http://env.example:1", "OGI_API_USER": "fromenv", "OGI_API_PASSWORD": "e"}
    assert endpoint(_args("-c", str(file)), env=env).url == "http://env.example:1"
    api = endpoint(_args("-c", str(file), "--api", "http://flag.example:2/"), env=env)
    assert (api.url, api.user, api.password) == ("http://flag.example:2", "fromenv", "e")
    api = endpoint(_args("-c", str(file)), env={"OGI_API_PORT": "4999"})
    assert (api.url, api.user) == ("http://127.0.0.1:4000", "fromconfig")  # the file wins over the env port


def test_credentials_in_the_url_are_taken_out_of_it() -> None:
    api = endpoint(_args("--api", "https://ops:p%40ss@api.example:4567"), env={"OGI_API_USER": "other"})
    assert (api.url, api.user, api.password) == ("https://api.example:4567", "ops", "p@ss")


def test_a_url_without_a_scheme_is_taken_as_http() -> None:
    assert endpoint(_args("--api", "10.0.0.5:4567"), env={}).url == "http://10.0.0.5:4567"


@pytest.mark.parametrize("url", ["ftp://host", "http://", "http://host:port"])
def test_an_api_url_that_is_not_one_is_bad_usage(url: str) -> None:
    outcome = run_ogi("events", "--api", url)
    assert outcome.code == 2
    assert "--api" in outcome.err and outcome.out == ""


def test_a_config_file_that_cannot_be_read_fails_with_its_name(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    outcome = run_ogi("events", "-c", str(missing))
    assert outcome.code == 1
    assert str(missing) in outcome.err


# --- errors --------------------------------------------------------------------------------------


async def test_an_api_nobody_listens_on_gives_exit_1_and_says_where_it_looked() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    outcome = await ogi("events", "--api", url)
    assert outcome.code == 1
    assert outcome.out == ""
    assert outcome.err.startswith(f"ogi events: cannot reach the ogi API at {url}: ")
    assert "Traceback" not in outcome.err


async def test_the_api_s_own_error_message_is_shown_with_the_status(canned: tuple[str, list[Any]]) -> None:
    url, _ = canned
    outcome = await ogi("clients", "--api", url)
    assert outcome.code == 1
    assert outcome.err == "ogi clients: store unavailable: redis is down (503 Service Unavailable from GET /clients)\n"


async def test_an_error_without_a_json_message_shows_the_status_line_only(canned: tuple[str, list[Any]]) -> None:
    url, _ = canned
    outcome = await ogi("events", "--api", url)
    assert (outcome.code, outcome.err) == (1, "ogi events: 500 Internal Server Error from GET /events\n")


async def test_a_404_from_resolve_says_there_is_no_such_open_event(canned: tuple[str, list[Any]]) -> None:
    url, _ = canned
    outcome = await ogi("resolve", "web1", "disk", "--api", url)
    assert outcome.code == 1
    assert outcome.err == "ogi resolve: no open event for web1/disk (404 Not Found from POST /resolve)\n"


async def test_a_401_says_how_to_give_credentials(canned: tuple[str, list[Any]]) -> None:
    url, _ = canned
    outcome = await ogi("silence", "list", "--api", url)
    assert outcome.code == 1
    assert "OGI_API_USER" in outcome.err and "401 Unauthorized from GET /silenced" in outcome.err


async def test_an_answer_that_is_not_json_is_an_error_not_a_crash(canned: tuple[str, list[Any]]) -> None:
    url, _ = canned
    outcome = await ogi("checks", "--api", url)
    assert outcome.code == 1
    assert "not JSON" in outcome.err


async def test_an_api_that_does_not_answer_in_time_is_given_up_on(canned: tuple[str, list[Any]]) -> None:
    url, _ = canned
    outcome = await ogi("results", "--api", url, "--timeout", "0.2")
    assert outcome.code == 1
    assert outcome.err.startswith(f"ogi results: cannot reach the ogi API at {url}: ")
    assert "0.2s" in outcome.err


async def test_credentials_go_as_basic_auth(canned: tuple[str, list[Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    url, seen = canned
    monkeypatch.setenv("OGI_API_USER", "ops")
    monkeypatch.setenv("OGI_API_PASSWORD", "pw")
    await ogi("clients", "--api", url)
    assert seen[-1].headers["Authorization"] == "Basic b3BzOnB3"


# --- bad usage -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["silence", "add"], "say what to silence"),
        (["silence", "add", "--reason", "maintenance"], "say what to silence"),
        (["silence", "add", "--client", "web1", "--subscription", "web"], "not both"),
        (["silence", "add", "--check", "disk", "--expire", "soon"], "duration"),
        (["silence", "add", "--check", "disk", "--expire=-1h"], "duration"),
        (["silence", "add", "--check", "disk", "--begin", "tomorrow"], "not a time"),
        (["silence", "clear"], "say which silence"),
        (["silence", "clear", "--id", "web:*", "--check", "disk"], "not both"),
        (["silence"], "required"),
        (["stash", "set", "a/b", "[1, 2]"], "JSON object"),
        (["stash", "set", "a/b", "{nope"], "not JSON"),
        (["stash", "set", "/", "{}"], "empty"),
        (["request", "disk", "--subscribers", " , "], "at least one"),
        (["resolve", "web1"], "CHECK"),
        (["events", "--timeout", "0"], "positive"),
    ],
)
async def test_bad_usage_exits_2_with_a_message_and_calls_nothing(
    canned: tuple[str, list[Any]], argv: list[str], said: str
) -> None:
    url, seen = canned
    outcome = await ogi(*argv, "--api", url) if argv != ["silence"] else await ogi(*argv)
    assert outcome.code == 2
    assert said in outcome.err
    assert outcome.out == ""
    assert seen == []
