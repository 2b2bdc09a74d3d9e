"""Sensu 1.x's daemon flags and the environment Sensu gives every child process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.agent.process.execute import run_command
from pipeline.cli import child_env
from pipeline.cli.main import build_parser
from pipeline.cli.sensu_flags import refused
from tests.helpers import ROOT

OGI = [str(Path(sys.executable).parent / "ogi")]


@pytest.mark.parametrize(("flag", "advice"), [
    (["-b"], "run it in the foreground under systemd"),
    (["--background"], "run it in the foreground under systemd"),
    (["-e", "/etc/sensu/extensions"], "Ruby extensions do not run in ogi"),
])
def test_sensu_flags_ogi_cannot_honour_are_refused_with_what_to_do_instead(flag: list[str], advice: str) -> None:
    for daemon in ("server", "client", "api", "run"):
        done = subprocess.run([*OGI, daemon, *flag], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, (daemon, done.stderr)
        assert advice in done.stderr


def test_dash_v_is_sensus_verbose_the_debug_level() -> None:
    args = build_parser().parse_args(["server", "-v", "-p", "/run/ogi.pid", "-l", "/tmp/x.log"])
    assert refused(args) is None
    assert (args.log_level, args.pid_file, args.log) == ("debug", "/run/ogi.pid", "/tmp/x.log")


async def test_every_child_finds_the_loaded_files_through_sensu_loaded_tempfile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(child_env.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.delenv(child_env.LOADED_TEMPFILE, raising=False)
    monkeypatch.delenv(child_env.CONFIG_FILES, raising=False)
    monkeypatch.setattr(child_env, "_exported", [])
    first = [str(tmp_path / "config.json"), str(tmp_path / "conf.d" / "a.json")]
    child_env.export_loaded_files(first, "server")
    done = await run_command('cat "$SENSU_LOADED_TEMPFILE"; echo; echo "$SENSU_CONFIG_FILES"')
    assert done.output.splitlines() == [":".join(first), ":".join(first)]
    child_env.reexport_loaded_files(first[:1])  # a SIGHUP after a file went away
    again = await run_command('cat "$SENSU_LOADED_TEMPFILE"')
    assert again.output == first[0]
    assert os.environ[child_env.LOADED_TEMPFILE] == str(tmp_path / f"ogi_server_{os.getuid()}_loaded_files")

