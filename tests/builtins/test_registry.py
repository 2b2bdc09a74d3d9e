"""The registry finds built-ins by naming convention and lists known names on a miss."""

import pytest

from pipeline.extension import Handler
from pipeline.registry import Registry, UnknownType, class_name


def test_class_names_follow_the_type_string():
    assert class_name("handlers", "graphite") == "GraphiteHandler"
    assert class_name("mutators", "only_check_output") == "OnlyCheckOutputMutator"
    assert class_name("filters", "check_dependencies") == "CheckDependenciesFilter"


def test_an_unknown_type_names_the_known_ones():
    registry = Registry()
    registry.register("handlers", "mine", Handler)
    with pytest.raises(UnknownType) as err:
        registry.get("handlers", "no_such_thing")
    assert "no_such_thing" in str(err.value)
    assert "mine" in str(err.value)


def test_explicit_registration_wins():
    class Mine(Handler):
        pass

    registry = Registry()
    registry.register("handlers", "pipe", Mine)
    assert registry.get("handlers", "pipe") is Mine
