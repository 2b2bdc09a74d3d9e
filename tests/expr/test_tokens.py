"""Check tokens: `:::dot.path|default:::` from the client definition, unmatched and unsafe values."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline.expr.tokens import prepare_check, substitute, unsafe_tokens

CLIENT = {
    "name": "web-1",
    "address": "10.0.0.5",
    "disk": {"warning": 80, "critical": 90, "path": "/var"},
    "enabled": True,
    "empty": "",
    "evil": "x; rm -rf /",
    "spaced": "two words",
    "password": "s3cr;t",
}


def test_a_token_takes_the_value_at_its_dot_path_in_the_client_definition() -> None:
    value, unmatched = substitute("check-disk -w :::disk.warning::: -p :::disk.path:::", CLIENT)
    assert value == "check-disk -w 80 -p /var"
    assert unmatched == []


def test_the_default_after_the_pipe_is_used_when_the_client_has_no_such_attribute() -> None:
    value, unmatched = substitute("check -c :::disk.critical|95::: -m :::mysql.port|3306:::", CLIENT)
    assert value == "check -c 90 -m 3306"
    assert unmatched == []


def test_an_empty_default_is_a_value_not_an_unmatched_token() -> None:
    value, unmatched = substitute("a:::nothing|:::b", CLIENT)
    assert (value, unmatched) == ("ab", [])


def test_an_empty_client_value_is_used_as_it_is() -> None:
    assert substitute("[:::empty|fallback:::]", CLIENT) == ("[]", [])


def test_unmatched_tokens_are_named_once_each_in_order() -> None:
    value, unmatched = substitute(":::b.x::: :::a::: :::b.x:::", CLIENT)
    assert unmatched == ["b.x", "a"]
    assert value == "  "


def test_every_string_of_a_check_is_substituted_recursively_and_keys_are_not() -> None:
    check = {
        "command": "ping :::address:::",
        ":::name:::": "key stays",
        "notes": [":::name:::", {"deep": "on :::disk.path:::"}, 5, None, True],
    }
    value, unmatched = substitute(check, CLIENT)
    assert value == {
        "command": "ping 10.0.0.5",
        ":::name:::": "key stays",
        "notes": ["web-1", {"deep": "on /var"}, 5, None, True],
    }
    assert unmatched == []


def test_booleans_and_numbers_are_written_as_json_writes_them() -> None:
    assert substitute(":::enabled::: :::disk.warning:::", CLIENT)[0] == "true 80"


def test_a_string_without_tokens_is_returned_unchanged() -> None:
    assert substitute("echo ::: not a token", CLIENT) == ("echo ::: not a token", [])


@given(st.text().filter(lambda s: ":::" not in s))
def test_text_without_the_token_marker_never_changes(text: str) -> None:
    assert substitute(text, CLIENT) == (text, [])


def test_a_check_with_an_unmatched_token_is_refused_with_sensus_message_and_handle_false() -> None:
    check = {"name": "db", "command": "check-db :::db.name::: :::db.user:::"}
    prepared = prepare_check(check, CLIENT)
    assert prepared.status == 3
    assert prepared.output == "Unmatched client token(s): db.name, db.user"
    assert prepared.handle is False
    assert prepared.check["command"] == "check-db :::db.name::: :::db.user:::"


def test_a_client_value_with_shell_metacharacters_refuses_the_command_naming_the_token() -> None:
    prepared = prepare_check({"name": "x", "command": "ls :::evil:::"}, CLIENT)
    assert prepared.status == 3
    assert prepared.output is not None
    assert "evil" in prepared.output
    assert "';'" in prepared.output
    assert '"unsafe_tokens": true' in prepared.output
    assert prepared.handle is None  # an operator should hear about it


def test_the_refusal_never_shows_the_value_itself() -> None:
    prepared = prepare_check({"name": "x", "command": "login :::password:::"}, CLIENT)
    assert prepared.status == 3
    assert prepared.output is not None
    assert "s3cr" not in prepared.output


def test_a_space_in_a_value_is_refused_too_because_it_splits_arguments() -> None:
    assert unsafe_tokens("echo :::spaced:::", CLIENT) == {"spaced": " "}


def test_unsafe_tokens_true_lets_such_values_through() -> None:
    prepared = prepare_check({"name": "x", "command": "echo :::evil:::", "unsafe_tokens": True}, CLIENT)
    assert prepared.status is None
    assert prepared.check["command"] == "echo x; rm -rf /"


def test_defaults_written_in_the_check_are_not_refused() -> None:
    prepared = prepare_check({"name": "x", "command": "echo ':::missing|a b;c:::'"}, CLIENT)
    assert prepared.status is None
    assert prepared.check["command"] == "echo 'a b;c'"


def test_unsafe_values_outside_commands_are_substituted_without_refusal() -> None:
    prepared = prepare_check({"name": "x", "command": "true", "notes": ":::evil:::"}, CLIENT)
    assert prepared.status is None
    assert prepared.check["notes"] == "x; rm -rf /"


def test_hook_commands_are_checked_like_the_command() -> None:
    check = {"name": "x", "command": "true", "hooks": {"critical": {"command": "echo :::evil:::"}}}
    assert prepare_check(check, CLIENT).status == 3


@given(st.sampled_from(list(";|&$`<>()\n'\"\\*?[]{}~#!^ \t")))
def test_every_shell_metacharacter_is_refused(char: str) -> None:
    client = {"value": f"a{char}b"}
    assert unsafe_tokens("run :::value:::", client) == {"value": char}


@given(st.from_regex(r"[A-Za-z0-9_.,:/=@+%-]*", fullmatch=True))
def test_plain_values_pass(value: str) -> None:
    assert unsafe_tokens("run :::value:::", {"value": value}) == {}
