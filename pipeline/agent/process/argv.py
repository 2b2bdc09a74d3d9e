"""Split a command line into words when no shell is needed to do it, as Nagios 4's runcmd does.

Sensu ran every command as `sh -c COMMAND`: one extra fork and exec per check. Most check
commands are a plugin and its arguments (`check_disk -w 10% -c 5% -p /`), which need no shell;
Nagios 4 execs those directly and keeps the shell for the rest. `simple_argv` returns the words
only when the shell would produce exactly those words and nothing else: printable ASCII, blanks
between words, single quotes, double quotes without `$`, backticks or backslashes inside, and a
backslash escaping one plain character. Anything a shell would expand or interpret (`$`,
backticks, redirections, pipes, globs, `;`, `&`, `~`, `#`, braces, parentheses, `!`, newlines,
an assignment or a shell builtin or keyword as the first word) gives None: run it with `sh -c`.
Pure: no I/O; the caller decides what a failed exec means (it falls back to the shell, whose
message and exit code are then exactly Sensu's).
"""

from __future__ import annotations

__all__ = ["SHELL_WORDS", "simple_argv"]

#: Characters a POSIX shell gives a meaning when unquoted (blanks aside).
_SPECIAL = frozenset("$`|&;<>()*?[]{}~#!=\\\"'")
_BLANKS = " \t"

#: Builtins and keywords of dash (Debian's /bin/sh) and POSIX: the shell runs these itself,
#: so `echo`, `test` or `kill` from PATH would not behave the same.
SHELL_WORDS = frozenset({
    ".", ":", "[", "alias", "bg", "break", "cd", "chdir", "command", "continue", "echo", "eval",
    "exec", "exit", "export", "false", "fc", "fg", "getopts", "hash", "jobs", "kill", "local",
    "printf", "pwd", "read", "readonly", "return", "set", "shift", "test", "times", "trap", "true",
    "type", "ulimit", "umask", "unalias", "unset", "wait", "!", "{", "}", "case", "do", "done",
    "elif", "else", "esac", "fi", "for", "if", "in", "then", "until", "while", "function",
    "select", "time",
})


def simple_argv(command: str) -> list[str] | None:
    """The words of `command` when splitting needs no shell expansion; None when it does."""
    words: list[str] = []
    word: list[str] = []
    in_word = False
    i, n = 0, len(command)
    if not command.isascii() or not command.replace("\t", " ").isprintable():
        return None  # newlines, control characters and non-ASCII: leave them to the shell
    while i < n:
        c = command[i]
        if c in _BLANKS:
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
            i += 1
            continue
        in_word = True
        if c == "'":
            end = command.find("'", i + 1)
            if end < 0:
                return None
            word.append(command[i + 1 : end])
            i = end + 1
        elif c == '"':
            end = command.find('"', i + 1)
            if end < 0:
                return None
            inner = command[i + 1 : end]
            if any(x in inner for x in "$`\\"):
                return None
            word.append(inner)
            i = end + 1
        elif c == "\\":
            if i + 1 >= n:
                return None
            word.append(command[i + 1])
            i += 2
        elif c in _SPECIAL and not (c == "=" and words):
            return None  # `=` is literal past the first word (`--warning=80`)
        else:
            word.append(c)
            i += 1
    if in_word:
        words.append("".join(word))
    if not words or _needs_shell(command, words[0]):
        return None
    return words


def _needs_shell(command: str, first: str) -> bool:
    """True when the first word is a builtin, keyword or assignment (the shell runs those)."""
    head = command.lstrip(_BLANKS)
    if head[:1] in "'\"\\":
        # A quoted first word is still looked up as a command, but keep it simple and exact.
        return True
    return first in SHELL_WORDS or "=" in first or not first
