"""Procfile export, and what every format shares: writing files (--force, -n), the summary,
unknown formats."""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

import pytest

from procman.config.procfile import parse_procfile
from procman.errors import ProcmanError, UsageError
from procman.export import ExportOptions, render_export, summary, write_export
from procman.export.procfile import formation_line, parse_formation_line
from procman.model import Formation, ProcessType, ReadyCheck

ROOT = Path("/srv/shop")
WEB = ProcessType(
    name="web",
    cmd="gunicorn app:app --bind 0.0.0.0:$PORT",
    instances=4,
    port=8000,
    socket=True,
    env={"LOG_LEVEL": "info", "API_TOKEN": "tok-123"},
    ready=ReadyCheck("port"),
)
WORKER = ProcessType(name="worker", cmd="python worker.py", instances=2)
CLOCK = ProcessType(name="clock", cmd="python clock.py", instances=0)


def formation(*types: ProcessType) -> Formation:
    return Formation(root=ROOT, types=types or (WEB, WORKER, CLOCK), source=ROOT / "procman.yaml")


def export(form: Formation) -> dict[str, str]:
    return render_export(form, "procfile", ExportOptions(app="shop"))


def test_procfile_and_formation_line() -> None:
    files = export(formation())
    assert list(files) == ["Procfile", ".foreman"]
    entries = [line for line in files["Procfile"].splitlines() if not line.startswith("#")]
    assert entries == [
        "web: gunicorn app:app --bind 0.0.0.0:$PORT",
        "worker: python worker.py",
        "clock: python clock.py",
    ]
    assert "formation: web=4,worker=2,clock=0" in files[".foreman"].splitlines()
    assert "heroku ps:scale web=4 worker=2 clock=0" in files[".foreman"]
    assert parse_formation_line(files[".foreman"]) == {"web": 4, "worker": 2, "clock": 0}
    assert formation_line(formation(WORKER)) == "worker=2"


def test_the_procfile_parses_back_to_the_same_types() -> None:
    types = parse_procfile(export(formation())["Procfile"], "Procfile")
    assert [(t.name, t.cmd) for t in types] == [(t.name, t.cmd) for t in formation().types]


def test_what_a_procfile_cannot_say_is_a_comment() -> None:
    text = export(formation())["Procfile"]
    (note,) = [line for line in text.splitlines() if line.startswith("# web:")]
    assert "port 8000" in note and "LOG_LEVEL=info" in note and "API_TOKEN=****" in note
    assert "tok-123" not in text
    multiline = replace(WORKER, env={"CERT": "line1\nline2"})
    assert "CERT=(not shown)" in export(formation(multiline))["Procfile"]


def test_cwd_becomes_cd_and_multiline_commands_are_refused() -> None:
    text = export(formation(replace(WORKER, cwd=ROOT / "jobs dir")))["Procfile"]
    assert "worker: cd 'jobs dir' && python worker.py" in text.splitlines()
    with pytest.raises(ProcmanError, match="worker: a command of several lines"):
        export(formation(replace(WORKER, cmd="echo one\necho two")))


def test_parse_formation_line_errors() -> None:
    with pytest.raises(ValueError, match="no `formation:` line"):
        parse_formation_line("port: 5000\n")
    with pytest.raises(ValueError, match="TYPE=N"):
        parse_formation_line("formation: web=many\n")


def test_unknown_format() -> None:
    with pytest.raises(UsageError, match="'nomad' is not an export format"):
        render_export(formation(), "nomad", ExportOptions(app="shop"))


# --- writing files, shared by every format ---------------------------------------------------


FILES = {"a.yaml": "one\n", "b.yaml": "apiVersion: v1\nkind: Secret\n"}


def test_write_creates_the_directory_and_files(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "k8s"
    written = write_export(FILES, out, force=False, dry_run=False)
    assert written == [(str(out / "a.yaml"), "one\n"), (str(out / "b.yaml"), FILES["b.yaml"])]
    assert (out / "a.yaml").read_text() == "one\n"
    # A Secret is for its owner's eyes only.
    assert stat.S_IMODE((out / "b.yaml").stat().st_mode) == 0o600
    assert sorted(p.name for p in out.iterdir()) == ["a.yaml", "b.yaml"]  # no temp files left


def test_existing_files_need_force_and_nothing_is_written_without_it(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("old\n")
    with pytest.raises(ProcmanError, match=r"b\.yaml already exists; use --force") as caught:
        write_export(FILES, tmp_path, force=False, dry_run=False)
    assert str(tmp_path / "b.yaml") in str(caught.value)
    assert not (tmp_path / "a.yaml").exists() and (tmp_path / "b.yaml").read_text() == "old\n"
    write_export(FILES, tmp_path, force=True, dry_run=False)
    assert (tmp_path / "b.yaml").read_text() == FILES["b.yaml"]


def test_dry_run_writes_nothing_and_ignores_existing_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("old\n")
    out = tmp_path / "new"
    assert write_export(FILES, out, force=False, dry_run=True)[0] == (str(out / "a.yaml"), "one\n")
    assert not out.exists()
    assert len(write_export(FILES, tmp_path, force=False, dry_run=True)) == 2
    assert (tmp_path / "a.yaml").read_text() == "old\n"


def test_output_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("")
    with pytest.raises(ProcmanError, match="not a directory"):
        write_export(FILES, tmp_path / "out", force=True, dry_run=False)


def test_summaries() -> None:
    options = ExportOptions(app="My Shop", namespace="prod")
    systemd = summary("systemd", options, Path("units"))
    assert "sudo cp units/My-Shop.target units/My-Shop-* /etc/systemd/system/" in systemd
    assert "sudo systemctl enable --now My-Shop.target" in systemd
    kubernetes = summary("kubernetes", options, Path("k8s dir"))
    assert (
        "kubectl apply -f 'k8s dir'" in kubernetes and "kubectl create namespace prod" in kubernetes
    )
    assert "Procfile" in summary("procfile", options, Path("."))
