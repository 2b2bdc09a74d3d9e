"""Sensu 1.x's daemon flags, so a Sensu unit file or init script works or says what to change.

Accepted: `-p/--pid_file FILE` (the pid is written at start and removed at exit), `-v/--verbose`
(the same as `-L debug`), besides `-c`, `-d`, `-l` and `-L` (pipeline/cli/main.py).
Refused with what to do instead: `-b/--background` (ogi never forks: run it under systemd or a
supervisor) and `-e/--extension_dir` (Ruby extensions do not run in ogi).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator

BACKGROUND_REFUSED = ("ogi: -b/--background is not supported: ogi never forks into the background; run it in the "
                      "foreground under systemd (ogi init writes a unit) or your supervisor, with -p FILE for a pid file")
EXTENSION_DIR_REFUSED = ("ogi: -e/--extension_dir is not supported: Sensu's Ruby extensions do not run in ogi; use "
                         "a pipe handler or an ogi handler type (docs/handlers.md, docs/migrating.md)")


def add_sensu_flags(group: argparse._ArgumentGroup) -> None:
    """Add Sensu's daemon flags to the shared options."""
    group.add_argument("-p", "--pid_file", "--pid-file", dest="pid_file", metavar="FILE",
                       help="write the daemon's pid to FILE (removed when it stops), as Sensu's -p")
    group.add_argument("-v", "--verbose", action="store_true", help="the same as -L debug, as Sensu's -v")
    group.add_argument("-b", "--background", action="store_true", help=argparse.SUPPRESS)
    group.add_argument("-e", "--extension_dir", metavar="DIR", help=argparse.SUPPRESS)


def refused(args: argparse.Namespace) -> int | None:
    """Print why a refused Sensu flag cannot be honoured and return the exit code; None if all is well.

    Applies `-v` on the way (the log level becomes debug).
    """
    if getattr(args, "background", False):
        print(BACKGROUND_REFUSED, file=sys.stderr)
        return 2
    if getattr(args, "extension_dir", None):
        print(EXTENSION_DIR_REFUSED, file=sys.stderr)
        return 2
    if getattr(args, "verbose", False):
        args.log_level = "debug"
    return None


@contextlib.contextmanager
def pid_file(args: argparse.Namespace) -> Iterator[None]:
    """Hold `-p FILE` for the life of the daemon: written now, removed when it stops."""
    path = getattr(args, "pid_file", None)
    if not path:
        yield
        return
    with open(path, "w") as out:
        out.write(f"{os.getpid()}\n")
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            with open(path) as held:
                ours = held.read().strip() == str(os.getpid())
            if ours:  # not one a newer daemon wrote over ours
                os.unlink(path)
