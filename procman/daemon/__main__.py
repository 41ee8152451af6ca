"""`python -m procman.daemon`: the daemon's own entry point, without click or rich, so the
long-lived process stays small. `procman daemon` and `procman start` both come here; the
user-facing options are click's, in the CLI, which builds this argv."""

from __future__ import annotations

import getopt
import sys
from dataclasses import dataclass, field
from pathlib import Path

# asyncio imports ssl when it can, which maps OpenSSL into the process: about 4 MiB of the
# daemon's memory for TLS it never speaks. Marking ssl absent makes asyncio skip it.
sys.modules.setdefault("ssl", None)  # type: ignore[arg-type]
# Likewise PyYAML's libyaml binding (0.4 MiB): procman parses with the pure-Python composer
# (config/yamlfile.py), and `import yaml` would map the extension all the same.
sys.modules.setdefault("yaml._yaml", None)  # type: ignore[arg-type]

from procman.daemon.main import plain_sink, run  # noqa: E402

SYNOPSIS = """\
usage: python -m procman.daemon [-d DIR] [-f PROCFILE] [-i N] [--metrics-port PORT]
                                [--no-prefix] [-q TYPE[,TYPE]]... [--detach]
"""
USAGE = f"""{SYNOPSIS}
The supervisor itself; `procman daemon` and `procman start` run it with these options.
  -d, --dir DIR          the project (default: the current directory)
  -f, --procfile FILE    the Procfile to run instead of the project's own
  -i, --instances N      instances of each type (a number or max)
  --metrics-port PORT    serve Prometheus metrics on this port
  --no-prefix            log lines without the time and name prefix
  -q, --quiet TYPE       leave TYPE's output out of the foreground log (repeatable)
  --detach               run in the background, logs to PROCMAN_HOME/daemon.log
"""
# getopt, not argparse: argparse's help formatter imports shutil, which imports bz2 and
# lzma: about 1 MiB of the long-lived process's memory for parsing nine options.
SHORT = "hd:f:i:q:"
LONG = [
    "help", "dir=", "procfile=", "instances=", "metrics-port=", "no-prefix", "quiet=",
    "detach", "check-update", "resume=",
]  # fmt: skip


class BadArgument(Exception):
    """exit 2 with the synopsis and what was wrong, as argparse would"""


@dataclass
class Options:
    dir: Path = field(default_factory=Path.cwd)
    procfile: Path | None = None
    instances: str | None = None
    detach: bool = False
    metrics_port: int | None = None
    no_prefix: bool = False
    quiet: list[str] = field(default_factory=list)
    # `procman update`: the dry run of the installed code, and the exec'd new image
    check_update: bool = False
    resume: int | None = None
    help: bool = False


def _number(option: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise BadArgument(f"{option}: {value!r} is not a number") from None


def parse(argv: list[str]) -> Options:
    try:
        pairs, rest = getopt.gnu_getopt(argv, SHORT, LONG)
    except getopt.GetoptError as exc:
        raise BadArgument(str(exc)) from None
    if rest:
        raise BadArgument(f"unexpected argument {rest[0]!r}")
    opts = Options()
    for option, value in pairs:
        if option in ("-h", "--help"):
            opts.help = True
        elif option in ("-d", "--dir"):
            opts.dir = Path(value)
        elif option in ("-f", "--procfile"):
            opts.procfile = Path(value)
        elif option in ("-i", "--instances"):
            opts.instances = value
        elif option in ("-q", "--quiet"):
            opts.quiet.append(value)
        elif option == "--metrics-port":
            opts.metrics_port = _number(option, value)
        elif option == "--resume":
            opts.resume = _number(option, value)
        elif option == "--detach":
            opts.detach = True
        elif option == "--no-prefix":
            opts.no_prefix = True
        elif option == "--check-update":
            opts.check_update = True
    return opts


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse(sys.argv[1:] if argv is None else argv)
    except BadArgument as exc:
        sys.stderr.write(f"{SYNOPSIS}error: {exc} (--help lists the options)\n")
        return 2
    if args.help:
        sys.stdout.write(USAGE)
        return 0
    if args.check_update:
        from procman.daemon.handover import check

        return check(sys.stdin.buffer, sys.stdout)
    if args.resume is not None:
        from procman.daemon.handover import Resume

        resume = Resume.read(args.resume)
        return run(
            resume.project,
            sink=None if resume.foreground is None else plain_sink(**resume.foreground),
            log_level=resume.log_level,
            metrics_port=resume.metrics_port,
            resume=resume,
        )
    if args.detach:
        return run(args.dir, detach=True, metrics_port=args.metrics_port)
    source = None
    if args.procfile is not None:
        source = {"procfile": str(args.procfile.resolve())}
    autostart = {"source": source, "counts": {}, "instances": args.instances}
    quiet = [n.strip() for item in args.quiet for n in item.split(",") if n.strip()]

    def report(message: str) -> None:
        sys.stderr.write(f"error: {message}\n")

    return run(
        args.dir,
        autostart=autostart,
        sink=plain_sink(prefix=not args.no_prefix, quiet=frozenset(quiet)),
        on_error=report,
        metrics_port=args.metrics_port,
        sink_options={"prefix": not args.no_prefix, "quiet": quiet},
    )


if __name__ == "__main__":
    sys.exit(main())
