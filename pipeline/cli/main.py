"""The `ogi` command: `ogi check-config`, `ogi run`, and later `server`, `client`, `api`.

Every daemon-like subcommand takes Sensu's options: `-c FILE` and `-d DIR` (repeatable,
comma lists accepted), `-l FILE`, `-L LEVEL`, plus `--log-format json|text`. Configuration
errors are printed one per line on stderr and the command exits 1 before doing anything.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

import pipeline
from pipeline.cli import daemons, sensu_flags
from pipeline.cli import init as initcli
from pipeline.cli import ops as opscli
from pipeline.cli import status as statuscli
from pipeline.cli.child_env import export_loaded_files
from pipeline.cli.sensu_flags import add_sensu_flags
from pipeline.cli.signals import EarlyStop, hold_early_signals
from pipeline.config.load import LoadedConfig, load_settings, redact
from pipeline.errors import ConfigErrors
from pipeline.logs import LEVELS, setup_logging

__all__ = ["build_parser", "common_options", "load_or_report", "load_settings", "main"]


def common_options() -> argparse.ArgumentParser:
    """The options every daemon-like subcommand shares; use as `parents=[common_options()]`."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("configuration and logging")
    group.add_argument("-c", "--config", action="append", default=[], metavar="FILE",
                       help="JSON config file (repeatable, or a comma list)")
    group.add_argument("-d", "--config-dir", action="append", default=[], metavar="DIR",
                       help="directory of *.json files, read recursively (repeatable, or a comma list)")
    group.add_argument("-l", "--log", metavar="FILE", help="log to FILE instead of stderr")
    group.add_argument("-L", "--log-level", default="info", choices=sorted(LEVELS), metavar="LEVEL",
                       help="debug, info, warn, error or fatal (default info)")
    group.add_argument("--log-format", default="json", choices=("json", "text"),
                       help="one JSON object per line (default) or plain text")
    add_sensu_flags(group)
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ogi", description="Monitoring in the design of Sensu 1.x.")
    parser.add_argument("--version", action="version", version=f"ogi {pipeline.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = common_options()

    check = commands.add_parser("check-config", parents=[common], help="validate the configuration and exit",
                                description="Print OK, or every configuration error one per line (exit 1).")
    check.add_argument("--print-config", action="store_true",
                       help="print the merged configuration (secrets redacted) as JSON")
    check.add_argument("--role", choices=("server", "client"), default="server",  # validate.ROLES
                       help="judge it as `ogi client` would (handler names are the server's) or as a server (default)")
    check.set_defaults(handler=check_config)

    run = commands.add_parser("run", parents=[common], help="all of ogi in one process, in memory",
                              description="Server, local checks and handlers in one process, no broker needed.")
    run.add_argument("--quiet", action="store_true", help="do not print each event")
    run.set_defaults(handler=run_all_in_one)
    daemons.register(commands, common)
    opscli.register(commands, common)
    initcli.register(commands)
    statuscli.register(commands, common)
    return parser


def load_or_report(args: argparse.Namespace, log: logging.Logger | None = None) -> LoadedConfig | None:
    """Load and validate for a subcommand; on errors print every one to stderr and return None.

    A daemon also logs them (with `-l FILE` stderr may go nowhere).
    """
    try:
        loaded, warnings = load_settings(args.config, args.config_dir, role=getattr(args, "role", "server"))
    except ConfigErrors as errors:
        for error in errors.errors:
            print(error, file=sys.stderr)
            if log is not None:
                log.critical("invalid configuration: %s", error.message,
                             extra={"fields": {"file": error.file, "path": error.path, "error": str(error)}})
        n = len(errors.errors)
        print(f"{n} configuration error{'s' if n != 1 else ''}", file=sys.stderr)
        return None
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
        if log is not None:
            log.warning("configuration warning", extra={"fields": {"warning": warning}})
    return loaded


def check_config(args: argparse.Namespace) -> int:
    loaded = load_or_report(args)
    if loaded is None:
        return 1
    if args.print_config:
        print(json.dumps(redact(loaded.settings), indent=2))
    else:
        print("OK")
    return 0


def run_all_in_one(args: argparse.Namespace) -> int:
    if (code := sensu_flags.refused(args)) is not None:
        return code
    hold_early_signals()
    log = setup_logging(args.log, args.log_level, args.log_format)
    try:
        loaded = load_or_report(args, log if args.log else None)
        if loaded is None:
            return 1
        log.info("configuration loaded", extra={"fields": {"files": loaded.files}})
        export_loaded_files(loaded.files, "run")
        from pipeline.cli import run as app  # the whole engine: not for `ogi check-config` or `ogi events`

        with sensu_flags.pid_file(args):
            return app.run(args, loaded)
    except EarlyStop as stopped:
        log.info("stopping: %s", stopped, extra={"fields": {"signal": str(stopped)}})
        return 0


def _innermost(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)command parser `args` were parsed by: `ogi silence add`'s, not `ogi`'s."""
    while True:
        for action in parser._actions:  # argparse keeps its subcommands nowhere public
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(getattr(args, action.dest, None) or "")
                if chosen is not None:
                    parser = chosen
                    break
        else:
            return parser


def main(argv: Sequence[str] | None = None) -> int | None:
    """Console entry point (`ogi`)."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # said by the subcommand's parser, so its usage is the one printed (exit 2)
        _innermost(parser, args).error(f"unrecognized arguments: {' '.join(unknown)}")
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        return 130
    return code
