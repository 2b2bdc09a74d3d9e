"""The shipped examples and the README's configuration are valid, as a user would run them."""

import json
import re

from pipeline.config.load import load_settings
from pipeline.config.validate import validate
from pipeline.registry import default_registry
from tests.helpers import EXAMPLES, ROOT


def test_the_examples_that_make_run_starts_load_without_errors():
    loaded, _warnings = load_settings([str(EXAMPLES / "config.json")], [str(EXAMPLES / "conf.d")])
    assert set(loaded.settings["checks"]) >= {"check_true", "check_minute", "metrics_load", "metrics_cpu"}


def test_every_json_block_in_the_readme_is_a_valid_configuration():
    blocks = re.findall(r"```json\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert blocks, "the README shows at least one configuration"
    for block in blocks:
        settings = json.loads(block)
        errors, _ = validate(settings, default_registry)
        assert errors == []


def test_every_json_block_in_the_distributed_docs_is_a_valid_configuration():
    blocks = re.findall(r"```json\n(.*?)```", (ROOT / "docs" / "distributed.md").read_text(), re.S)
    assert len(blocks) == 3  # a server, a client, a client over TLS (run by tests/e2e/test_rabbitmq_tls.py)
    for block in blocks:
        settings = json.loads(block)
        errors, _ = validate(settings, default_registry)
        assert errors == []


def test_the_configuration_in_the_operations_doc_is_valid_and_matches_ogi_init(tmp_path) -> None:
    from pipeline.cli.init import write

    blocks = re.findall(r"```json\n(.*?)```", (ROOT / "docs" / "operations.md").read_text(), re.S)
    assert len(blocks) == 1
    settings = json.loads(blocks[0])
    errors, _ = validate(settings, default_registry)
    assert errors == []
    write(tmp_path, "all")
    written, _ = load_settings([str(tmp_path / "config.json")], [str(tmp_path / "conf.d")])
    for key in ("transport", "rabbitmq", "store", "redis", "metrics"):
        assert settings[key] == written.settings[key]
    assert set(settings["handlers"]) == set(written.settings["handlers"])


def test_the_security_doc_example_loads_with_the_limits_it_shows(tmp_path) -> None:
    from pipeline.config.api import api_config

    blocks = re.findall(r"```json\n(.*?)```", (ROOT / "docs" / "security.md").read_text(), re.S)
    assert len(blocks) == 1
    (tmp_path / "config.json").write_text(blocks[0])
    loaded, _warnings = load_settings([str(tmp_path / "config.json")], [], env={})
    typed = loaded.typed
    assert typed is not None
    assert (typed.client_socket.max_connections, typed.client_socket.message_deadline) == (64, 10.0)
    config = api_config(loaded.settings)
    assert (config.limits.max_connections, config.limits.header_timeout, config.hosts) == (
        256, 5.0, ("monitoring.example.com",))
    assert config.cors["Origin"] == "https://dashboard.example.com"


def test_the_null_keys_example_in_the_configuration_doc_loads_with_defaults(tmp_path) -> None:
    blocks = re.findall(r"```json\n(.*?)```", (ROOT / "docs" / "configuration.md").read_text(), re.S)
    nulls = [block for block in blocks if '"ttl": null' in block]
    assert len(nulls) == 1
    file = tmp_path / "config.json"
    file.write_text(nulls[0])
    loaded, _warnings = load_settings([str(file)], [], env={})
    check = loaded.typed.checks["load"].raw
    assert "timeout" not in check and "ttl" not in check and "handlers" not in check
    assert loaded.typed.api.port == 4567
