"""`python -m procman.daemon`: the daemon's own entry point, without click or rich, so the
long-lived process stays small. `procman daemon` and `procman start` both come here."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# asyncio imports ssl when it can, which maps OpenSSL into the process: about 4 MiB of the
# daemon's memory for TLS it never speaks. Marking ssl absent makes asyncio skip it.
sys.modules.setdefault("ssl", None)  # type: ignore[arg-type]

from procman.daemon.main import plain_sink, run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="procman daemon")
    parser.add_argument("-d", "--dir", type=Path, default=Path.cwd())
    parser.add_argument("-f", "--procfile", type=Path)
    parser.add_argument("-i", "--instances")
    parser.add_argument("--detach", action="store_true")
    parser.add_argument("--metrics-port", type=int)
    parser.add_argument("--no-prefix", action="store_true")
    parser.add_argument("-q", "--quiet", action="append", default=[])
    # `procman update`: the dry run of the installed code, and the exec'd new image
    parser.add_argument("--check-update", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--resume", type=int, metavar="FD", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
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
