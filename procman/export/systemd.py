"""Formation -> systemd units: `<app>.target`, one template `<app>-<type>@.service` per type
and, for a type whose listener procman holds (`socket: true`), a template
`<app>-<type>@.socket`. Instance `<app>-web@2` is procman's `web.3` (PROCMAN_INSTANCE=2), and
the target wants instances 0..N-1 of each type. Pure: no systemd, no files.

Why one socket unit per instance: procman binds one SO_REUSEPORT listener per instance and
keeps it while the instance restarts, so connections wait in its backlog. `<app>-web@2.socket`
is that listener under systemd: ReusePort=yes lets every instance bind the same port, the socket
outlives restarts of `<app>-web@2.service`, and systemd passes it on fd 3 with LISTEN_FDS,
LISTEN_PID and LISTEN_FDNAMES exactly as procman does.

Quoting follows systemd.service(5) and systemd.exec(5): inside quotes C escapes are decoded,
`%` starts a specifier everywhere (so `%%`), and ExecStart= substitutes `$NAME` (so `$$`).
"""

from __future__ import annotations

import re
import shlex
import signal

from procman.config.envfiles import instance_share
from procman.errors import ProcmanError, UsageError
from procman.export.common import (
    binary_size,
    generated_by,
    safe_name,
)
from procman.model import Formation, ProcessType, RestartPolicy
from procman.shell import exec_script
from procman.signames import signal_name

SHELL = "/bin/sh"  # absolute: systemd does not search PATH the way a shell does
LISTEN_HOST = "0.0.0.0"  # procman's default PROCMAN_HOST
RESTART = {
    RestartPolicy.ALWAYS: "always",
    RestartPolicy.ON_FAILURE: "on-failure",
    RestartPolicy.NEVER: "no",
}
RESTART_SEC = 0.1  # procman's first back-off delay, and systemd's default
_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\$?|[0-9]+")
_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_C_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}

#: A piece of a value: text to escape, or a specifier such as %i to keep.
Piece = tuple[str, bool]


def unit_prefix(app: str) -> str:
    """`app` as the start of a unit name (letters, digits, '_', '.', '-')."""
    return safe_name(app, "--app", lower=False, allowed="A-Za-z0-9_.-")


def render(formation: Formation, app: str, user: str | None = None) -> dict[str, str]:
    """Unit file name -> text: the target, then per type its service and socket templates."""
    if user is not None and not _USER.fullmatch(user):
        raise UsageError(f"{user!r} is not a user name")
    prefix = unit_prefix(app)
    header = f"# {generated_by('systemd', formation)}\n"
    files = {f"{prefix}.target": header + _target(formation, prefix)}
    for ptype in formation.types:
        unit = f"{prefix}-{ptype.name}"  # type names are unit-name safe as they are
        files[f"{unit}@.service"] = header + _service(formation, ptype, prefix, unit, user)
        if ptype.socket and ptype.port is not None:
            files[f"{unit}@.socket"] = header + _socket(ptype, prefix, unit)
    return files


def _target(formation: Formation, prefix: str) -> str:
    counts = ", ".join(f"{t.name}={t.instances}" for t in formation.types)
    lines = ["[Unit]", f"Description={prefix} (procman formation: {counts})"]
    for ptype in formation.types:
        if ptype.instances == 0:
            lines.append(f"# {ptype.name}: 0 instances")
            continue
        wanted = " ".join(f"{prefix}-{ptype.name}@{i}.service" for i in range(ptype.instances))
        lines.append(f"Wants={wanted}")
    lines += ["", "[Install]", "WantedBy=multi-user.target"]
    return "\n".join(lines) + "\n"


def _service(
    formation: Formation, ptype: ProcessType, prefix: str, unit: str, user: str | None
) -> str:
    after = ["network.target"]
    unit_lines = [f"Description={prefix}: {ptype.name}, instance %i", f"PartOf={prefix}.target"]
    if ptype.socket and ptype.port is not None:
        unit_lines.append(f"Requires={unit}@%i.socket")
        after.append(f"{unit}@%i.socket")
    unit_lines.append(f"After={' '.join(after)}")
    # procman marks an instance errored after max_restarts exits in a row, each sooner than
    # min_uptime; systemd's nearest rule is a start rate limit. min_uptime 0 means "never give
    # up" in both (StartLimitIntervalSec=0 turns the limit off).
    window = ptype.max_restarts * (ptype.min_uptime + RESTART_SEC) if ptype.min_uptime else 0
    unit_lines += [
        f"StartLimitIntervalSec={_timespan(window)}",
        f"StartLimitBurst={ptype.max_restarts}",
    ]

    notify = ptype.ready.kind == "notify"
    service = [f"Type={'notify' if notify else 'exec'}"]
    if notify:
        # procman takes READY=1 from the instance or any descendant, and gives up after
        # ready_timeout; these are the same two rules.
        service += ["NotifyAccess=all", f"TimeoutStartSec={_timespan(ptype.ready_timeout)}"]
    service.append(f"WorkingDirectory={_path(ptype.cwd or formation.root)}")
    if user is not None:
        service.append(f"User={user}")
    service += [f"EnvironmentFile={_path(path)}" for path in formation.env_files]
    env, prologue = _environment(formation, ptype)
    service += [f"Environment={_env_assignment(pieces)}" for pieces in env]
    script: list[Piece] = [*prologue, (exec_script(ptype.cmd), False)]
    service += [
        f"ExecStart={SHELL} -c {_exec_word(script)}",
        f"Restart={RESTART[ptype.restart]}",
        f"RestartSec={_timespan(RESTART_SEC)}",
        # 0 would mean "no timeout" to systemd; procman's 0 means SIGKILL right after SIGTERM.
        f"TimeoutStopSec={_timespan(ptype.kill_timeout) if ptype.kill_timeout else '1ms'}",
    ]
    if ptype.stop_signal != signal.SIGTERM:
        service.append(f"KillSignal={signal_name(ptype.stop_signal)}")
    if ptype.max_memory is not None:
        service.append(f"MemoryMax={binary_size(ptype.max_memory, ('', 'K', 'M', 'G', 'T'))}")
    service.append(f"SyslogIdentifier={unit}")
    return _unit_text([("Unit", unit_lines), ("Service", service)])


def _socket(ptype: ProcessType, prefix: str, unit: str) -> str:
    unit_lines = [
        f"Description={prefix}: {ptype.name}, listener of instance %i (port {ptype.port})",
        f"PartOf={prefix}.target",
    ]
    socket = [
        f"ListenStream={LISTEN_HOST}:{ptype.port}",
        "ReusePort=yes",
        f"FileDescriptorName={ptype.name}",
    ]
    return _unit_text([("Unit", unit_lines), ("Socket", socket)])


def _environment(formation: Formation, ptype: ProcessType) -> tuple[list[list[Piece]], list[Piece]]:
    """Environment= assignments, and the script prologue that fixes the layering.

    systemd lets EnvironmentFile= override Environment=, the reverse of procman, where the
    type's env, PORT and PROCMAN_* win over the env files. A variable that both set (as the
    files read now say) is therefore also assigned in the script. PROCMAN_ID and PS are
    1-based, which no specifier gives, so the shell computes them from %i.
    """
    # The env files stay files (EnvironmentFile=): their values, secrets included, are not
    # copied into the unit.
    own = dict(ptype.env)
    if ptype.port is not None and not ptype.instance_ports:
        own["PORT"] = str(ptype.port)
    own["PROCMAN_NAME"] = ptype.name
    own.update(instance_share(ptype))  # the exported count: as many units as you enable
    assignments: list[list[Piece]] = []
    if "PYTHONUNBUFFERED" not in own:
        assignments.append([("PYTHONUNBUFFERED=1", False)])  # procman's default; files win
    prologue: list[Piece] = []
    exported: list[str] = []
    for key, value in own.items():
        assignments.append([(f"{key}={value}", False)])
        if key in formation.env and formation.env[key] != value:
            if not _SHELL_NAME.fullmatch(key):
                raise ProcmanError(
                    f"{ptype.name}: {key} is set both in an env file and for the type, and "
                    "systemd would let the file win; a shell cannot set that name to fix it"
                )
            prologue.append((f"{key}={shlex.quote(value)}; ", False))
            exported.append(key)
    instance: list[Piece] = [("PROCMAN_INSTANCE=", False), ("%i", True)]
    assignments.append(instance)
    if "PROCMAN_INSTANCE" in formation.env:
        prologue += [*instance, ("; ", False)]
        exported.append("PROCMAN_INSTANCE")
    if ptype.port is not None and ptype.instance_ports:  # Foreman's: port + instance index
        prologue += [
            (f"PORT=$(({ptype.port} + ", False),
            ("%i", True),
            ("))", False),
            ("; ", False),
        ]
        exported.append("PORT")
    ident = [(f"{ptype.name}.$((", False), ("%i", True), (" + 1))", False)]
    prologue += [("PROCMAN_ID=", False), *ident, ("; PS=", False), *ident, ("; ", False)]
    exported += ["PROCMAN_ID", "PS"]
    prologue.append((f"export {' '.join(exported)}; ", False))
    return assignments, prologue


def _escape(text: str, quote: str, dollar: bool) -> str:
    out = []
    for char in text:
        if char in _C_ESCAPES:
            out.append(_C_ESCAPES[char])
        elif char == quote:
            out.append("\\" + quote)
        elif char == "%":
            out.append("%%")
        elif char == "$" and dollar:
            out.append("$$")
        elif ord(char) < 32 or char == "\x7f":
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


def _join(pieces: list[Piece], quote: str, dollar: bool) -> str:
    return "".join(text if keep else _escape(text, quote, dollar) for text, keep in pieces)


def _exec_word(pieces: list[Piece]) -> str:
    """One ExecStart= argument: single-quoted, `$` doubled so systemd leaves it to the shell."""
    return "'" + _join(pieces, "'", dollar=True) + "'"


def _env_assignment(pieces: list[Piece]) -> str:
    """One Environment= assignment; systemd does not expand `$` there."""
    return '"' + _join(pieces, '"', dollar=False) + '"'


def _path(path: object) -> str:
    # Paths take specifiers but no quotes or escapes (spaces are fine as they are).
    return str(path).replace("%", "%%")


def _timespan(seconds: float) -> str:
    if seconds == 0:
        return "0"
    if seconds == int(seconds):
        return str(int(seconds))
    return f"{round(seconds * 1000)}ms"


def _unit_text(sections: list[tuple[str, list[str]]]) -> str:
    blocks = ["\n".join([f"[{name}]", *lines]) for name, lines in sections]
    return "\n\n".join(blocks) + "\n"
