"""Log files read back: the line format of both streams, and `logs -n` / `--since` /
`--err` across a type's rotated files (no processes, files written by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest

from procman.daemon.logfiles import BLOCK, LogQuery, blocks_backwards, parse, read_tail, type_files

T0 = 1_796_000_000  # a whole second, in UTC below


def stamp(t: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds")


def line(t: float, label: str, text: str, stream: str = "out") -> str:
    return f"{stamp(t)} {label} {'!' if stream == 'err' else '|'} {text}\n"


def texts(rows: list[tuple[float, str, str, str]]) -> list[str]:
    return [text for _, _, text, _ in rows]


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("2026-11-28T10:00:01.123+00:00 web.1 | hello", (1795860001.123, "web.1", "hello", "out")),
        ("2026-11-28T10:00:01.123+00:00 web.1 ! boom", (1795860001.123, "web.1", "boom", "err")),
        ("2026-11-28T10:00:01.000+00:00 web.1 | ", (1795860001.0, "web.1", "", "out")),
        ("2026-11-28T10:00:01.000+00:00 web.1 !", (1795860001.0, "web.1", "", "err")),  # stripped
        ("2026-11-28T10:00:01.000+00:00 w.1 |  a | b ", (1795860001.0, "w.1", " a | b ", "out")),
        ("2026-11-28T11:00:01.000+01:00 procman | x", (1795860001.0, "procman", "x", "out")),
    ],
)
def test_parse(text: str, parsed: tuple[float, str, str, str]) -> None:
    assert parse(text) == parsed


@pytest.mark.parametrize(
    "text",
    ["", "garbage", "2026-11-28T10:00:01.000+00:00 web.1", "nottime web.1 | x",
     "2026-11-28T10:00:01.000+00:00 web.1 ? x", "2026-11-28T10:00:01.000+00:00 web.1 |x"],
)  # fmt: skip
def test_parse_refuses_what_is_not_a_log_line(text: str) -> None:
    assert parse(text) is None


def test_blocks_backwards_cover_the_file_once_with_lines_longer_than_a_block(
    tmp_path: Path,
) -> None:
    path = tmp_path / "web.log"
    sizes = [0, 1, BLOCK - 3, BLOCK - 2, BLOCK, BLOCK + 1, 2 * BLOCK + 7, 5, 3 * BLOCK, 0]
    lines = [f"{n} " + "x" * size for n, size in enumerate(sizes + [n * 37 for n in range(200)])]
    path.write_text("".join(f"{text}\n" for text in lines))
    got = [text for block in reversed(list(blocks_backwards(path))) for text in block]
    assert got == lines


def test_blocks_backwards_of_a_missing_or_empty_file(tmp_path: Path) -> None:
    assert list(blocks_backwards(tmp_path / "nope.log")) == []
    (tmp_path / "empty.log").write_text("")
    assert list(blocks_backwards(tmp_path / "empty.log")) == []


@pytest.fixture
def rotated(tmp_path: Path) -> Path:
    """web: 3 files, a line a second (web.1 out, web.2 out, web.1 err in turn), 3000 lines;
    worker: one file, a line every 10 s."""
    logs = tmp_path / "logs"
    logs.mkdir()
    rows = []
    for n in range(3000):
        label, stream = [("web.1", "out"), ("web.2", "out"), ("web.1", "err")][n % 3]
        rows.append(line(T0 + n, label, f"{label} {stream} {n}", stream))
    for name, part in (("web.log.2", rows[:1000]), ("web.log.1", rows[1000:2000]),
                       ("web.log", rows[2000:])):  # fmt: skip
        (logs / name).write_text("".join(part))
    (logs / "worker.log").write_text(
        "".join(line(T0 + n * 10 + 5, "worker.1", f"job {n}") for n in range(300))
    )
    return logs


def test_type_files_newest_first(rotated: Path) -> None:
    (rotated / "web.log.12").write_text("")
    (rotated / "web.log.gz").write_text("")
    (rotated / "webby.log.1").write_text("")
    names = [p.name for p in type_files(rotated, "web")]
    assert names == ["web.log", "web.log.1", "web.log.2", "web.log.12"]


def test_tail_reaches_into_rotated_files(rotated: Path) -> None:
    rows = read_tail(rotated, LogQuery(1500, "web"))
    assert texts(rows)[0] == "web.1 out 1500" and texts(rows)[-1] == "web.1 err 2999"
    assert [t for t, _, _, _ in rows] == [float(T0 + n) for n in range(1500, 3000)]


def test_a_filtered_tail_skips_nothing_in_the_middle_of_a_file(rotated: Path) -> None:
    """The matches of an instance or a stream are spread through the files: all of them."""
    rows = read_tail(rotated, LogQuery(1500, label="web.2"))
    assert texts(rows) == [f"web.2 out {n}" for n in range(1, 3000, 3)]  # 1000: every one
    rows = read_tail(rotated, LogQuery(900, "web", stream="err"))
    assert texts(rows) == [f"web.1 err {n}" for n in range(2, 3000, 3)][-900:]
    rows = read_tail(rotated, LogQuery(10, label="web.1", stream="out"))
    assert texts(rows) == [f"web.1 out {n}" for n in range(2970, 3000, 3)]


def test_since_stops_at_the_first_older_line(rotated: Path) -> None:
    rows = read_tail(rotated, LogQuery(100_000, "web", since=T0 + 1995.5))
    assert texts(rows) == [texts_of(n) for n in range(1996, 3000)]  # across web.log.1
    assert read_tail(rotated, LogQuery(3, "web", since=T0 + 1995.5)) == read_tail(
        rotated, LogQuery(3, "web")
    )
    assert read_tail(rotated, LogQuery(100, "web", since=T0 + 5000)) == []
    assert len(read_tail(rotated, LogQuery(100_000, "web", since=T0 - 1))) == 3000


def texts_of(n: int) -> str:
    label, stream = [("web.1", "out"), ("web.2", "out"), ("web.1", "err")][n % 3]
    return f"{label} {stream} {n}"


def test_types_merge_in_time_order(rotated: Path) -> None:
    web = [(T0 + n, texts_of(n)) for n in range(2980, 3000)]
    worker = [(T0 + 2985, "job 298"), (T0 + 2995, "job 299")]
    expected = sorted(web + worker, key=lambda row: row[0])  # stable: web first on a tie
    rows = read_tail(rotated, LogQuery(12, since=T0 + 2980))
    assert [(t, text) for t, _, text, _ in rows] == expected[-12:]
    assert len(read_tail(rotated, LogQuery(100, since=T0 + 2980))) == 22


def test_nothing_to_read(tmp_path: Path) -> None:
    assert read_tail(tmp_path / "none", LogQuery(10)) == []
    assert read_tail(tmp_path, LogQuery(0)) == []
