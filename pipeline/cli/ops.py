"""Operator commands over the HTTP API: `ogi events|clients|checks|results|resolve|request|silence|stash`.

They speak Sensu 1.x's API (docs/api.md), so they work against ogi's API and against a Sensu
1.x API alike. `pipeline/cli/ops_api.py` finds the API and calls it; `pipeline/cli/ops_format.py`
makes the tables. docs/operators.md shows every command.

People get aligned tables; `--json` prints the API's JSON as it came, for scripts. Exit codes:
0 done, 1 the API said no (its message on stderr) or could not be reached, 2 bad usage.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
import urllib.parse
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pipeline.cli import ops_format as fmt
from pipeline.cli.ops_api import DEFAULT_URL, ApiClient, ApiFailure, ConfigProblem, UsageError, endpoint

__all__ = ["api_options", "register"]

Handler = Callable[[argparse.Namespace], int]


# -- output --------------------------------------------------------------------------------------


def _segments(*parts: str) -> str:
    return "".join("/" + urllib.parse.quote(part, safe="") for part in parts)


def _print_json(body: bytes) -> None:
    text = body.decode("utf-8", "replace")
    if text.strip():
        print(text.rstrip("\n"))


def _listing(args: argparse.Namespace, body: bytes, rows: list[list[Any]], headers: tuple[str, ...],
             empty: str) -> int:
    if args.json:
        _print_json(body)
    elif rows:
        print(fmt.table(headers, rows))
    else:
        print(empty, file=sys.stderr)
    return 0


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


# -- the commands --------------------------------------------------------------------------------


def events_command(api: ApiClient, args: argparse.Namespace) -> int:
    names = [n for n in (args.client, args.check) if n]
    missing = f"no open event for {'/'.join(names)}" if len(names) == 2 else None
    body, data = api.get("/events" + _segments(*names), not_found=missing)
    return _listing(args, body, fmt.event_rows(_as_list(data)), fmt.EVENT_HEADERS, "no open events")


def clients_command(api: ApiClient, args: argparse.Namespace) -> int:
    body, data = api.get("/clients")
    return _listing(args, body, fmt.client_rows(_as_list(data), time.time()), fmt.CLIENT_HEADERS, "no clients")


def checks_command(api: ApiClient, args: argparse.Namespace) -> int:
    body, data = api.get("/checks")
    return _listing(args, body, fmt.check_rows(_as_list(data)), fmt.CHECK_HEADERS, "no checks")


def results_command(api: ApiClient, args: argparse.Namespace) -> int:
    names = [n for n in (args.client, args.check) if n]
    missing = f"no result for {'/'.join(names)}" if len(names) == 2 else None
    body, data = api.get("/results" + _segments(*names), not_found=missing)
    rows = fmt.result_rows(_as_list(data), time.time())
    return _listing(args, body, rows, fmt.RESULT_HEADERS, "no results")


def _done(args: argparse.Namespace, body: bytes, message: str) -> int:
    if args.json:
        _print_json(body)
    else:
        print(message)
    return 0


def resolve_command(api: ApiClient, args: argparse.Namespace) -> int:
    body = api.call("POST", "/resolve", {"client": args.client, "check": args.check},
                    not_found=f"no open event for {args.client}/{args.check}")
    return _done(args, body, f"resolving {args.client}/{args.check}")


def _creator(args: argparse.Namespace) -> str | None:
    if args.creator is not None:
        return str(args.creator)
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in a bare container
        return None


def request_command(api: ApiClient, args: argparse.Namespace) -> int:
    payload: dict[str, Any] = {"check": args.check}
    if args.subscribers is not None:
        subscribers = [s.strip() for s in args.subscribers.split(",") if s.strip()]
        if not subscribers:
            raise UsageError("--subscribers needs at least one subscription")
        payload["subscribers"] = subscribers
    if args.reason is not None:
        payload["reason"] = args.reason
    creator = _creator(args)
    if creator is not None:
        payload["creator"] = creator
    body = api.call("POST", "/request", payload, not_found=f"no check named {args.check} is defined")
    to = f" of {', '.join(payload['subscribers'])}" if "subscribers" in payload else ""
    return _done(args, body, f"requested {args.check} from the subscribers{to}")


def _subscription(args: argparse.Namespace) -> str | None:
    if args.client is not None and args.subscription is not None:
        raise UsageError("give --client or --subscription, not both (--client NAME is subscription client:NAME)")
    return f"client:{args.client}" if args.client is not None else args.subscription


def _begin(text: str) -> int:
    """`--begin`: epoch seconds, a duration from now (`+30m`), or an ISO 8601 time (local if no zone)."""
    spec = text.strip()
    if spec.startswith("+"):
        return int(time.time()) + fmt.parse_duration(spec[1:])
    if spec.isdigit():
        return int(spec)
    try:
        return int(datetime.fromisoformat(spec).timestamp())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use epoch seconds, +DURATION (+30m) or ISO 8601 (2024-05-01T22:00)"
        ) from None


def _duration(text: str) -> int:
    try:
        return fmt.parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def silence_add_command(api: ApiClient, args: argparse.Namespace) -> int:
    subscription = _subscription(args)
    if subscription is None and args.check is None:
        raise UsageError("say what to silence: --client, --subscription and/or --check")
    payload: dict[str, Any] = {}
    for key, value in (("subscription", subscription), ("check", args.check), ("begin", args.begin),
                       ("expire", args.expire), ("reason", args.reason), ("creator", _creator(args))):
        if value is not None:
            payload[key] = value
    if args.expire_on_resolve:
        payload["expire_on_resolve"] = True
    body = api.call("POST", "/silenced", payload)
    entry = f"{subscription or '*'}:{args.check or '*'}"
    now = int(time.time())
    if args.begin is not None and args.begin > now:
        entry += f" starting {fmt.format_age(args.begin, now)}"
    until = []
    if args.expire is not None:
        until.append(f"for {fmt.format_duration(args.expire)}")
    if args.expire_on_resolve:
        until.append("until it resolves")
    return _done(args, body, f"silenced {entry}" + (f" ({' or '.join(until)})" if until else ""))


def silence_list_command(api: ApiClient, args: argparse.Namespace) -> int:
    body, data = api.get("/silenced")
    rows = fmt.silence_rows(_as_list(data), time.time())
    return _listing(args, body, rows, fmt.SILENCE_HEADERS, "nothing is silenced")


def silence_clear_command(api: ApiClient, args: argparse.Namespace) -> int:
    subscription = _subscription(args)
    if args.id is not None:
        if subscription is not None or args.check is not None:
            raise UsageError("give --id, or --client/--subscription/--check, not both")
        payload: dict[str, Any] = {"id": args.id}
        entry = args.id
    elif subscription is None and args.check is None:
        raise UsageError("say which silence to clear: --id, or --client/--subscription/--check")
    else:
        payload = {k: v for k, v in (("subscription", subscription), ("check", args.check)) if v is not None}
        entry = f"{subscription or '*'}:{args.check or '*'}"
    body = api.call("POST", "/silenced/clear", payload, not_found=f"no silence entry {entry}")
    return _done(args, body, f"cleared {entry}")


def stash_list_command(api: ApiClient, args: argparse.Namespace) -> int:
    body, data = api.get("/stashes")
    return _listing(args, body, fmt.stash_rows(_as_list(data)), fmt.STASH_HEADERS, "no stashes")


def _stash_path(path: str) -> str:
    # A stash path may hold slashes (`silence/web1/disk`); each part is quoted on its own.
    parts = path.strip("/").split("/")
    if not path.strip("/"):
        raise UsageError("a stash path cannot be empty")
    return _segments(*parts)


def stash_get_command(api: ApiClient, args: argparse.Namespace) -> int:
    body, data = api.get("/stashes" + _stash_path(args.path), not_found=f"no stash at {args.path}")
    if args.json:
        _print_json(body)
    else:
        print(json.dumps(data, indent=2, sort_keys=True))
    return 0


def stash_set_command(api: ApiClient, args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.content == "-" else args.content
    try:
        content = json.loads(text)
    except ValueError as error:
        raise UsageError(f"the stash content is not JSON: {error}") from None
    if not isinstance(content, dict):
        raise UsageError("the stash content must be a JSON object, like '{\"reason\": \"maintenance\"}'")
    _stash_path(args.path)
    payload: dict[str, Any] = {"path": args.path.strip("/"), "content": content}
    if args.expire is not None:
        payload["expire"] = args.expire
    body = api.call("POST", "/stashes", payload)
    after = f" (expires in {fmt.format_duration(args.expire)})" if args.expire is not None else ""
    return _done(args, body, f"stored {payload['path']}{after}")


def stash_delete_command(api: ApiClient, args: argparse.Namespace) -> int:
    body = api.call("DELETE", "/stashes" + _stash_path(args.path), not_found=f"no stash at {args.path}")
    return _done(args, body, f"deleted {args.path.strip('/')}")


# -- the parser ----------------------------------------------------------------------------------


def _handler(action: Callable[[ApiClient, argparse.Namespace], int]) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        try:
            return action(endpoint(args), args)
        except UsageError as error:
            print(f"ogi {_command_name(args)}: error: {error}", file=sys.stderr)
            return 2
        except ConfigProblem as problem:
            print(problem, file=sys.stderr)
            return 1
        except ApiFailure as failure:
            print(f"ogi {_command_name(args)}: {failure}", file=sys.stderr)
            return 1
        except BrokenPipeError:
            # `ogi events | head`: the reader left; say nothing more and keep Python quiet at exit.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 1

    handler.__name__ = action.__name__
    return handler


def _command_name(args: argparse.Namespace) -> str:
    return " ".join(str(p) for p in (getattr(args, "command", None), getattr(args, "action", None)) if p)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def api_options() -> argparse.ArgumentParser:
    """Options shared by every operator command."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("API")
    group.add_argument("--api", metavar="URL",
                       help="the API (default: OGI_API_URL, else api.host/api.port from the config, "
                            f"else {DEFAULT_URL}); user:password@ in the URL is accepted")
    group.add_argument("--json", action="store_true", help="print the API's JSON as it came, for scripts")
    group.add_argument("--timeout", type=_positive_seconds, default=10.0, metavar="SECONDS",
                       help="give up on an API that has not answered after this long (default 10)")
    group.add_argument("--cacert", metavar="FILE", help="CA certificate(s) to trust for an https:// API")
    return parent


def _add(commands: argparse._SubParsersAction, name: str, parents: list[argparse.ArgumentParser],
         action: Callable[[ApiClient, argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name, parents=parents, help=help_text, description=help_text[:1].upper() + help_text[1:] + ".",
        allow_abbrev=False,
    )
    parser.set_defaults(handler=_handler(action))
    return parser


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the operator commands to `ogi`'s subcommands; `common` brings -c/-d for the API address."""
    parents = [common, api_options()]

    events = _add(commands, "events", parents, events_command, "list open events (all, a client's, or one)")
    events.add_argument("client", nargs="?", metavar="CLIENT")
    events.add_argument("check", nargs="?", metavar="CHECK")
    _add(commands, "clients", parents, clients_command, "list clients")
    _add(commands, "checks", parents, checks_command, "list the checks the server schedules")
    results = _add(commands, "results", parents, results_command, "list the last result of each check")
    results.add_argument("client", nargs="?", metavar="CLIENT")
    results.add_argument("check", nargs="?", metavar="CHECK")

    resolve = _add(commands, "resolve", parents, resolve_command, "resolve an open event now")
    resolve.add_argument("client", metavar="CLIENT")
    resolve.add_argument("check", metavar="CHECK")

    request = _add(commands, "request", parents, request_command, "ask the subscribers to run a check now")
    request.add_argument("check", metavar="CHECK")
    request.add_argument("--subscribers", metavar="A,B", help="only these subscriptions (default: the check's)")
    request.add_argument("--reason", metavar="TEXT")
    request.add_argument("--creator", metavar="NAME", help="who asked (default: your login name)")

    silence = commands.add_parser("silence", help="silence events: add, list, clear",
                                  description="Silence a client, a subscription, a check, or a check on one of them.")
    silence_actions = silence.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = _add(silence_actions, "add", parents, silence_add_command, "silence matching events")
    _target_options(add)
    add.add_argument("--expire", type=_duration, metavar="DURATION", help=f"remove the silence after {fmt.DURATION_HELP}")
    add.add_argument("--expire-on-resolve", action="store_true", help="remove the silence when the event resolves")
    add.add_argument("--begin", type=_begin, metavar="TIME",
                     help="start later: epoch seconds, +DURATION (+30m), or ISO 8601 (2024-05-01T22:00)")
    add.add_argument("--reason", metavar="TEXT")
    add.add_argument("--creator", metavar="NAME", help="who silenced (default: your login name)")
    _add(silence_actions, "list", parents, silence_list_command, "list silence entries")
    clear = _add(silence_actions, "clear", parents, silence_clear_command, "remove a silence entry")
    clear.add_argument("--id", metavar="ID", help="the entry's id, SUBSCRIPTION:CHECK as `ogi silence list` shows")
    _target_options(clear)

    stash = commands.add_parser("stash", help="JSON kept by path: list, get, set, delete",
                                description="Stashes: small JSON documents kept by the API, by path.")
    stash_actions = stash.add_subparsers(dest="action", metavar="ACTION", required=True)
    _add(stash_actions, "list", parents, stash_list_command, "list stashes")
    get = _add(stash_actions, "get", parents, stash_get_command, "print one stash's content")
    get.add_argument("path", metavar="PATH")
    put = _add(stash_actions, "set", parents, stash_set_command, "create or replace a stash")
    put.add_argument("path", metavar="PATH")
    put.add_argument("content", metavar="JSON", help="a JSON object, or - to read it from stdin")
    put.add_argument("--expire", type=_duration, metavar="DURATION", help=f"remove it after {fmt.DURATION_HELP}")
    delete = _add(stash_actions, "delete", parents, stash_delete_command, "delete a stash")
    delete.add_argument("path", metavar="PATH")


def _target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--client", metavar="NAME", help="one client (the subscription client:NAME)")
    parser.add_argument("--subscription", metavar="SUB")
    parser.add_argument("--check", metavar="CHECK")
