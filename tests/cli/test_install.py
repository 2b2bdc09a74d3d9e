"""The wheel `python -m build` makes puts `ogi` and every plugin on PATH of a fresh venv."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from tests.helpers import ROOT


def run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding only the wheel; its dependencies come from this test run's environment."""
    work = tmp_path_factory.mktemp("install")
    built = run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", work / "dist", ROOT, cwd=work)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (work / "dist").glob("ogi-*.whl")
    venv = work / "venv"
    assert run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=work).returncode == 0
    installed = run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--no-deps",
                    "--no-index", wheel, cwd=work)
    assert installed.returncode == 0, installed.stderr[-2000:]
    # Dependencies: a path line (not a site dir), so the checkout's editable install is not picked up.
    site = Path(run(venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                    cwd=work).stdout.strip())
    (site / "zz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def env_of(venv: Path) -> dict[str, str]:
    return {**os.environ, "PATH": f"{venv / 'bin'}:/usr/bin:/bin", "PYTHONPATH": ""}


def test_ogi_and_its_code_come_from_the_wheel(fresh_venv: Path, tmp_path: Path) -> None:
    env = env_of(fresh_venv)
    version = run("ogi", "--version", cwd=tmp_path, env=env)
    assert version.returncode == 0 and version.stdout.startswith("ogi ")
    where = run("python", "-c", "import pipeline, handlers.mail; print(pipeline.__file__, handlers.mail.__file__)",
                cwd=tmp_path, env=env)
    assert where.stdout.count(str(fresh_venv)) == 2, where.stdout + where.stderr


def test_ogi_init_output_passes_check_config_with_the_installed_ogi(fresh_venv: Path, tmp_path: Path) -> None:
    env = env_of(fresh_venv)
    assert run("ogi", "init", "--dir", tmp_path / "etc", cwd=tmp_path, env=env).returncode == 0
    checked = run("ogi", "check-config", "-c", tmp_path / "etc" / "config.json", "-d", tmp_path / "etc" / "conf.d",
                  cwd=tmp_path, env=env)
    assert (checked.returncode, checked.stdout.strip()) == (0, "OK"), checked.stderr


def test_every_plugin_is_on_path(fresh_venv: Path, tmp_path: Path) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    plugins = [name for name in scripts if name.startswith(("ogi-metrics-", "ogi-check-"))]
    assert len(plugins) >= 13
    assert all((fresh_venv / "bin" / name).exists() for name in plugins)
    load = run("ogi-metrics-load", cwd=tmp_path, env=env_of(fresh_venv))
    assert load.returncode == 0
    assert any(line.split()[0].endswith(".load.load1") for line in load.stdout.splitlines())
