"""Draw a results file's HTTP scaling and log throughput figures into a PNG.

    python bench/plot.py RESULTS.json OUT.png

RESULTS.json may be the pointer bench/results/latest.json (`{"latest": "X.json"}`): the run
it names is drawn.

Standalone (stdlib + matplotlib, no import of bench or procman), so that `python -m bench
plot` can run it with whichever interpreter has matplotlib: the project's if it has it,
else the peers' throwaway venv, where it is installed on demand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"procman": "#1f77b4", "pm2": "#2ca02c", "supervisord": "#9467bd",
           "circus": "#8c564b", "honcho": "#e377c2"}  # fmt: skip


def http_panel(ax, rows) -> bool:
    series: dict[str, list[tuple[int, float, float, float]]] = {}
    for row in rows:
        n = int(row["metric"].split(", ")[1].split()[0])
        figures = {**row["tools"], **row["baselines"]}
        for name, stats in figures.items():
            series.setdefault(name, []).append((n, stats["median"], stats["min"], stats["max"]))
    if not series:
        return False
    for name, points in series.items():
        points.sort()
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        err = [[p[1] - p[2] for p in points], [p[3] - p[1] for p in points]]
        colour, style = COLOURS.get(name), "-"
        if name.startswith("shell"):  # the ceilings: their tool's colour, dashed
            colour, style = COLOURS["procman"], "--"
        elif name.startswith("same, setsid"):
            colour, style = COLOURS["procman"], ":"
        elif name.startswith("node"):
            colour, style = COLOURS["pm2"], "--"
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=name, linestyle=style,
                    color=colour, alpha=1.0 if style == "-" else 0.7)  # fmt: skip
    ax.set_xlabel("instances")
    ax.set_xticks(sorted({p[0] for pts in series.values() for p in pts}))
    ax.set_ylabel("requests/s (median, min–max)")
    ax.set_title("HTTP through the shared port")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return True


def logs_panel(ax, rows) -> bool:
    if not rows:
        return False
    first = rows[0]
    # /dev/null is a floor whose writes cost nothing: it would only squash the scale
    names = list(first["tools"]) + [b for b in first["baselines"] if "/dev/null" not in b]
    values = {**first["tools"], **first["baselines"]}
    e2e = rows[1]["tools"] if len(rows) > 1 else {}
    ys = range(len(names))
    ax.barh(list(ys), [values[n]["median"] for n in names],
            color=[COLOURS.get(n, "#bbbbbb") for n in names], label="child's own rate")  # fmt: skip
    for i, name in enumerate(names):
        if name in e2e:
            ax.plot(e2e[name]["median"], i, "k|", markersize=14)
    ax.set_yticks(list(ys))
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("MB/s, log scale (bar: child's own rate; | : until the log file has it all)")
    ax.set_title("200 MB of 100-byte lines")
    ax.grid(alpha=0.3, axis="x")
    return True


def read(path: Path) -> dict:
    """A results file, following a pointer (bench/report.py's resolve(), repeated here
    because this script imports nothing of bench)."""
    results = json.loads(path.read_text())
    if isinstance(results, dict) and set(results) == {"latest"}:
        results = json.loads((path.parent / results["latest"]).read_text())
    return results


def main() -> None:
    results = read(Path(sys.argv[1]))
    workloads = results["workloads"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    drew = http_panel(axes[0], workloads.get("http", {}).get("compare", []))
    drew |= logs_panel(axes[1], workloads.get("logs", {}).get("compare", []))
    if not drew:
        raise SystemExit("nothing to plot (no http or logs figures in this file)")
    fig.suptitle(f"procman bench {results.get('started_utc', '')}, "
                 f"{results.get('machine', {}).get('nproc', '?')} CPUs")  # fmt: skip
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
