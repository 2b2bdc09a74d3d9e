"""The type registry: one explicit table of built-ins, entry points for third parties, clashes refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.extension import Filter, Handler, Mutator
from pipeline.registry import BUILTINS, KINDS, Registry, UnknownType, class_name

ROOT = Path(__file__).resolve().parents[2]
BASES = {"handlers": Handler, "mutators": Mutator, "filters": Filter}


def test_the_table_and_the_folders_name_the_same_types_file_class_and_type_string_alike():
    for kind in KINDS:
        files = {p.stem for p in (ROOT / kind).glob("*.py") if not p.name.startswith("_")}
        assert set(BUILTINS[kind]) == files, kind
        registry = Registry(use_entry_points=False)
        for name, target in BUILTINS[kind].items():
            assert target == f"{kind}.{name}:{class_name(kind, name)}"
            cls = registry.get(kind, name)
            assert issubclass(cls, BASES[kind]) and cls.type_name == name, target


def test_an_unknown_type_names_the_known_ones():
    registry = Registry()
    registry.register("handlers", "mine", Handler)
    with pytest.raises(UnknownType) as err:
        registry.get("handlers", "no_such_thing")
    assert "no_such_thing" in str(err.value)
    assert "mine" in str(err.value) and "graphite" in str(err.value)


def test_explicit_registration_in_code_replaces_a_builtin():
    class Mine(Handler):
        pass

    registry = Registry()
    registry.register("handlers", "pipe", Mine)
    assert registry.get("handlers", "pipe") is Mine


def install(site: Path, dist: str, group: str, lines: list[str]) -> None:
    """A real installed distribution (a .dist-info with entry points) in `site`."""
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n" + "\n".join(lines) + "\n")


def write_plugin_module(site: Path) -> None:
    (site / "ogi_extra.py").write_text(
        "from pipeline.extension import Handler\n\n\n"
        "class EchoHandler(Handler):\n    type_name = 'echo'\n\n\n"
        "class OtherEchoHandler(Handler):\n    type_name = 'echo'\n"
    )


def test_a_third_party_type_is_found_through_its_entry_point(tmp_path, monkeypatch):
    write_plugin_module(tmp_path)
    install(tmp_path, "ogi_echo", "ogi.handlers", ["echo = ogi_extra:EchoHandler"])
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry()
    assert registry.errors() == []
    assert "echo" in registry.known("handlers")
    assert registry.get("handlers", "echo").__name__ == "EchoHandler"


def test_two_packages_declaring_one_type_name_is_an_error_naming_both(tmp_path, monkeypatch):
    write_plugin_module(tmp_path)
    install(tmp_path, "ogi_echo", "ogi.handlers", ["echo = ogi_extra:EchoHandler"])
    install(tmp_path, "ogi_other_echo", "ogi.handlers", ["echo = ogi_extra:OtherEchoHandler"])
    monkeypatch.syspath_prepend(str(tmp_path))
    errors = Registry().errors()
    assert len(errors) == 1
    text = str(errors[0])
    assert "ogi.handlers:echo" in text
    assert "ogi_echo" in text and "ogi_other_echo" in text and "OtherEchoHandler" in text


def test_a_third_party_type_naming_a_builtin_is_an_error_and_the_builtin_stays(tmp_path, monkeypatch):
    write_plugin_module(tmp_path)
    install(tmp_path, "ogi_fake_graphite", "ogi.handlers", ["graphite = ogi_extra:EchoHandler"])
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry()
    [error] = registry.errors()
    assert "ogi_fake_graphite" in str(error) and "built-in handler type 'graphite'" in str(error)
    assert registry.get("handlers", "graphite").__name__ == "GraphiteHandler"


def check_config(cwd: Path, config: Path, env_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`ogi check-config` through `python -c` in `cwd`: the working directory comes first on sys.path."""
    pythonpath = [str(ROOT)] + ([str(env_path)] if env_path else [])
    return subprocess.run(
        [sys.executable, "-c", "import sys; from pipeline.cli.main import main; sys.exit(main())",
         "check-config", "-c", str(config)],
        cwd=cwd, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(pythonpath)},
    )


METRICS_CONFIG = {
    "handlers": {
        "carbon": {"type": "graphite", "host": "127.0.0.1", "port": 2003},
        "prom": {"type": "prometheus", "expire_after": 300},
    },
    "checks": {"load": {"command": "true", "interval": 10, "type": "metric", "standalone": True,
                        "handlers": ["carbon", "prom"]}},
}


def test_check_config_from_a_directory_with_its_own_handlers_folder_still_knows_the_builtins(tmp_path):
    own = tmp_path / "handlers"
    own.mkdir()
    (own / "__init__.py").write_text("")
    (own / "graphite.py").write_text("raise SystemExit('the bogus graphite.py was imported')\n")
    (own / "local_only.py").write_text("")
    config = tmp_path / "config.json"
    config.write_text(json.dumps(METRICS_CONFIG))
    done = check_config(tmp_path, config)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "OK"
    # and a file in that folder is no type
    config.write_text(json.dumps({"handlers": {"x": {"type": "local_only"}}}))
    done = check_config(tmp_path, config)
    assert done.returncode == 1 and "local_only" in done.stderr


def test_check_config_refuses_to_pass_while_two_packages_declare_one_type(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    write_plugin_module(site)
    install(site, "ogi_echo", "ogi.handlers", ["echo = ogi_extra:EchoHandler"])
    install(site, "ogi_other_echo", "ogi.handlers", ["echo = ogi_extra:OtherEchoHandler"])
    config = tmp_path / "config.json"
    config.write_text(json.dumps(METRICS_CONFIG))
    done = check_config(tmp_path, config, site)
    assert done.returncode == 1
    assert "ogi.handlers:echo" in done.stderr and "ogi_other_echo" in done.stderr
    assert "1 configuration error" in done.stderr


def doc_section() -> str:
    text = (ROOT / "docs" / "handlers.md").read_text()
    return text.split("## Types from other packages")[1]


def test_the_third_party_example_in_the_handlers_doc_installs_builds_and_clashes_as_shown(tmp_path, monkeypatch):
    import re
    import tomllib

    section = doc_section()
    [code] = re.findall(r"```python\n(.*?)```", section, re.S)
    [toml] = re.findall(r"```toml\n(.*?)```", section, re.S)
    [shown] = re.findall(r"```\n(entry point .*?)\n```", section, re.S)
    (tmp_path / "ogi_echo.py").write_text(code)
    groups = tomllib.loads(toml)["project"]["entry-points"]
    [(group, declared)] = groups.items()
    install(tmp_path, "ogi-echo", group, [f"{k} = {v}" for k, v in declared.items()])
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry()
    assert registry.errors() == []
    cls = registry.get("handlers", "echo")
    definition = json.loads(re.search(r"`(\{\"type\": \"echo\".*?\})`", section)[1])
    assert set(definition) <= (cls.allowed_keys or set()) | Handler.common_keys
    from pipeline.config.validate import validate
    from pipeline.extension import Context

    assert isinstance(cls("e", definition, Context()), Handler)
    assert validate({"handlers": {"e": definition}}, registry)[0] == []
    # a second package declaring the same name: the error the doc shows
    (tmp_path / "other_echo.py").write_text(code)
    install(tmp_path, "other-echo", group, ["echo = other_echo:EchoHandler"])
    assert [str(e) for e in Registry().errors()] == [shown]
