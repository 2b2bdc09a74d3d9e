"""simple_argv: the words a shell would make of a command, or None when it would expand anything."""

from __future__ import annotations

import shlex
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.agent.process.argv import simple_argv

#: Plain word characters, blanks, quotes, a backslash and a few shell metacharacters, so the
#: generator reaches both answers.
_ALPHABET = "ab09-_./:,+@%=^ \t'\"\\$*~;|&<>#"


def _sh_words(command: str) -> list[str]:
    """How /bin/sh itself splits `command`: printf (a builtin) prints each word NUL-terminated."""
    out = subprocess.run(["/bin/sh", "-c", f"printf '%s\\0' x {command}"], capture_output=True, check=True).stdout
    return out.decode().split("\0")[1:-1]  # x: printf without words would still print one


@given(st.text(alphabet=_ALPHABET, min_size=1, max_size=30))
@settings(max_examples=300, deadline=None)
def test_the_words_are_shlexs_whenever_no_shell_is_needed(command: str) -> None:
    words = simple_argv(command)
    if words is not None:
        assert words == shlex.split(command)


@given(st.text(alphabet=_ALPHABET, min_size=1, max_size=20))
@settings(max_examples=60, deadline=None)
def test_the_words_are_the_shells_whenever_no_shell_is_needed(command: str) -> None:
    words = simple_argv("x " + command)
    if words is not None:
        assert words[1:] == _sh_words(command)


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("/usr/lib/nagios/plugins/check_dummy 0 ok", ["/usr/lib/nagios/plugins/check_dummy", "0", "ok"]),
        ("check_disk -w 10% -c 5% -p /", ["check_disk", "-w", "10%", "-c", "5%", "-p", "/"]),
        ("check_http -H 'a b' --url=\"/x y\"", ["check_http", "-H", "a b", "--url=/x y"]),
        ("check_x  a\\ b\t''", ["check_x", "a b", ""]),
    ],
)
def test_plugin_command_lines_are_split_like_nagios(command: str, words: list[str]) -> None:
    assert simple_argv(command) == words


@pytest.mark.parametrize(
    "command",
    [
        "check_x $HOME", "check_x `id`", "check_x > /tmp/x", "a | b", "a; b", "a && b", "sleep 1 &",
        "ls *.py", "ls ~", "echo hi", "true", "exit 2", "FOO=1 check_x", "check_x # note", "a\nb",
        "check_x \"$USER\"", "check_x 'unclosed", "check_x trailing\\", "{ a; }", "(a)", "", "   ",
        "check_x caf\u00e9", "if true", "[ -e x ]", "'quoted' first",
    ],
)
def test_anything_a_shell_would_interpret_goes_to_the_shell(command: str) -> None:
    assert simple_argv(command) is None
