"""How a formation command becomes a /bin/sh script (stdlib only; the daemon and every
export format share it).

Debian's dash does not exec the last command of a script, so a simple command (no ; | &
newline ` or $( outside a redirection, not starting with a shell keyword) is written as
`exec CMD`, after any leading VAR=value words: the server then replaces the shell and keeps
its pid, which is what LISTEN_PID must name and what receives SIGTERM. A plain command
(nothing but words a shell would leave as they are) needs no shell at all: plain_argv().
"""

from __future__ import annotations

import re

# VAR=value words, where a value may hold quoted parts ('a b', "a b") and escapes
_VALUE = r"""(?:[^\s'"\\]|\\.|'[^']*'|"(?:[^"\\]|\\.)*")*"""
_ASSIGNMENTS = re.compile(rf"^((?:[A-Za-z_][A-Za-z0-9_]*={_VALUE}\s+)*)(.*)$", re.S)
# ; | & newline ` $( make a compound command; the & of a redirection (2>&1, <&3) does not
_COMPOUND = re.compile(r"[;|\n`]|\$\(|(?<![<>])&")
_KEYWORDS = {"if", "for", "while", "until", "case", "{", "(", "!", "exec", "function"}
# builtins with no program of that name: `exec exit 3` would fail where `exit 3` works
_BUILTINS = {"cd", "export", "ulimit", "umask", "set", "trap", "eval", ".", "source", "exit"}
_BUILTINS |= {"return", "shift", "readonly", "unset", "wait", "times", ":", "break", "continue"}
_BUILTINS |= {"alias", "unalias", "read", "getopts", "hash", "type", "command", "local"}


def exec_script(cmd: str) -> str:
    """The /bin/sh -c script for `cmd`: `exec CMD` for a simple command, else CMD as written."""
    script = cmd.strip()
    if not _COMPOUND.search(script):
        assignments, rest = _ASSIGNMENTS.match(script).groups()  # type: ignore[union-attr]
        first = rest.split(None, 1)[0] if rest else ""
        if rest and first not in _KEYWORDS | _BUILTINS and rest[0] not in "({!":
            script = f"{assignments}exec {rest}"
    return script


# Words a command may hold and still mean the same without a shell: no quotes, $, globs,
# ~, redirections or separators. Such a command is exec'd directly (one exec fewer a spawn).
_PLAIN = re.compile(r"[A-Za-z0-9_./:,@%+-][A-Za-z0-9_./:,@%+=-]*(?: +[A-Za-z0-9_./:,@%+=-]+)*")


def plain_argv(cmd: str) -> list[str] | None:
    """argv for a command that needs no shell, else None."""
    text = cmd.strip()
    if not _PLAIN.fullmatch(text):
        return None
    argv = text.split()
    shell_words = _BUILTINS | _KEYWORDS
    return None if argv[0] in shell_words or "=" in argv[0] else argv
