"""Plain-text views of `ls`, `describe` and `env`: key/value blocks and one table, no rich
(they print the same on a terminal and into a pipe)."""

from __future__ import annotations

import sys
from typing import Any

from procman.cli.figures import duration, rule_text, size
from procman.cli.render import error, info

# -- ls -------------------------------------------------------------------------------------


def daemons(found: list[dict[str, Any]]) -> None:
    """`procman ls`: one line per daemon."""
    if not found:
        info("no daemons of yours run here")
        return
    lines = [["project", "pid", "uptime", "types (running/desired)", "cpu", "memory"]]
    for d in found:
        if d.get("error"):
            lines.append([d.get("project") or d["socket"], "-", "-", d["error"], "-", "-"])
            continue
        types = ", ".join(f"{t['name']} {t['running']}/{t['desired']}" for t in d["types"])
        cpu = d.get("cpu_percent")
        lines.append(
            [
                d["project"],
                str(d.get("pid") or "-"),
                duration(d.get("uptime_s")),
                types or "(no formation)",
                "-" if cpu is None else f"{cpu:.1f}%",
                size(d.get("memory_bytes")),
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for line in lines:
        info("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


# -- describe and env -----------------------------------------------------------------------


def _describe_type(t: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = [("defined in", t.get("defined_in") or "-"), ("cmd", t["cmd"]), ("cwd", t["cwd"])]
    port = t.get("port")
    if port:
        pairs.append(("port", f"{port}" + (" (held sockets, fd 3)" if t.get("socket") else "")))
    pairs.append(("ready", f"{t['ready']} (timeout {t['ready_timeout']:g}s)"))
    pairs.append(
        (
            "restart",
            f"{t['restart']}, kill_timeout {t['kill_timeout']:g}s, min_uptime "
            f"{t['min_uptime']:g}s, max_restarts {t['max_restarts']}",
        )
    )
    pairs.append(("max_memory", size(t["max_memory"]) if t.get("max_memory") else "none"))
    scale = t.get("autoscale")
    if scale:
        mode = "manual count holds" if scale["manual"] else f"target {scale['target']}"
        rule = f"{scale['min']}-{scale['max']} @{rule_text(scale)} ({mode})"
        pairs.append(("autoscale", rule + (f"; {scale['last']}" if scale.get("last") else "")))
    else:
        pairs.append(("autoscale", "none"))
    if t.get("env_files"):
        pairs.append(("env files", ", ".join(t["env_files"])))
    pairs += [("log" if n == "log" else f"log ({n})", p) for n, p in t.get("logs", {}).items()]
    return pairs


def _shell_words(argv: list[str]) -> str:
    """argv as a shell would take it back (shlex.join without importing shlex)."""
    plain = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-")
    return " ".join(
        a if a and set(a) <= plain else "'" + a.replace("'", "'\"'\"'") + "'" for a in argv
    )


def _describe_instance(i: dict[str, Any]) -> list[tuple[str, str]]:
    group = f" (process group {i['pgid']})" if i.get("pgid") is not None else ""
    pairs = [
        ("state", i["state"] + (" (runs an older definition)" if i.get("stale") else "")),
        ("pid", f"{i['pid'] or '-'}{group}"),
        ("uptime", duration(i.get("uptime_s"))),
        ("restarts", str(i.get("restarts", 0))),
    ]
    last = i.get("last_exit")
    if last:
        code = "" if last.get("code") is None else f" (exit code {last['code']})"
        pairs.append(("last exit", f"{last.get('reason') or '-'}{code}"))
    ready = i["readiness"]
    pairs.append(("readiness", f"{ready['check']}: {ready['state']}"))
    if i.get("status_text"):
        pairs.append(("status text", i["status_text"]))
    if i.get("command"):
        pairs.append(("command", _shell_words(i["command"])))
        pairs.append(("cwd", i["cwd"]))
    listener = i.get("listener")
    if listener:
        pairs.append(("listener", f"{listener['host']}:{listener['port']} on fd {listener['fd']}"))
    cpu = i.get("cpu_percent")
    pairs.append(
        ("cpu, memory", f"{'-' if cpu is None else f'{cpu:.1f}%'}, {size(i.get('memory_bytes'))}")
    )
    return pairs


def _pairs(pairs: list[tuple[str, str]], indent: str) -> None:
    width = max((len(k) for k, _ in pairs), default=0)
    for key, value in pairs:
        info(f"{indent}{key.ljust(width)}  {value}")


def description(result: dict[str, Any]) -> None:
    """`procman describe`: the type, then each instance."""
    t = result["type"]
    info(f"{t['name']}: {t['desired']} wanted")
    _pairs(_describe_type(t), "  ")
    for inst in result["instances"]:
        info(f"{inst['id']}:")
        _pairs(_describe_instance(inst), "  ")
        if inst.get("env"):
            info(f"  environment ({len(inst['env'])} variables, secret-looking values masked):")
            for key, value in inst["env"].items():
                info(f"    {key}={value}")


def environment(result: dict[str, Any]) -> None:
    """`procman env ID`: NAME=value lines, as `env` prints them."""
    for key, value in result["env"].items():
        info(f"{key}={value}")
    if result.get("masked") and any(v == "****" for v in result["env"].values()):
        sys.stderr.write("(secret-looking values masked; --reveal shows them)\n")


# -- signal ---------------------------------------------------------------------------------


def signalled(result: dict[str, Any]) -> None:
    """`procman signal`: who got it, and who had no process to get it."""
    what = result["signal"] + (" (process group)" if result.get("group") else "")
    sent = ", ".join(f"{s['id']} (pid {s['pid']})" for s in result["sent"])
    if sent:
        info(f"sent {what} to {sent}")
    for skipped in result["skipped"]:
        error(f"{skipped['id']} has no process to signal ({skipped['state']})")
    if not result["sent"] and not result["skipped"]:
        error("no instance to signal")
