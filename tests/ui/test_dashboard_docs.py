"""docs/dashboard.md: its configuration is valid as written and its screenshots exist."""

import json
import re

from pipeline.api.ui import dashboard_config
from pipeline.config.validate import validate
from pipeline.registry import default_registry
from tests.helpers import ROOT

DOC = ROOT / "docs" / "dashboard.md"


def test_the_configuration_in_the_dashboard_docs_is_valid_and_means_what_the_table_says():
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1
    settings = json.loads(blocks[0])
    errors, _ = validate(settings, default_registry)
    assert errors == []
    config = dashboard_config(settings)
    assert [site.name for site in config.apis] == ["berlin", "lab"]
    assert config.apis[1].verify_tls is False and config.graphite_url == "http://127.0.0.1:8080"


def test_every_screenshot_the_docs_show_is_there():
    images = re.findall(r"!\[[^\]]*\]\((img/[^)]+)\)", DOC.read_text())
    assert len(images) >= 7
    for image in images:
        assert (DOC.parent / image).stat().st_size > 10_000, image
