"""`procman export` through the real CLI, checked by the engines' own tools: the Kubernetes
schemas (kubernetes-validate, strict), `systemd-analyze verify`, systemd's reading of the
quoting, and `procman check` on an exported Procfile."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from procman.config.envfiles import instance_env, read_env_file
from procman.config.load import Source, load_formation
from procman.export.procfile import parse_formation_line
from tests.harness import PY, Harness

IMAGE = "registry.example/shop:1.4"
# Prints its argv and environment, so the test sees what systemd and the shell made of them.
PRINT = "import json, os, sys; print(json.dumps([sys.argv[1:], dict(os.environ)]))"
ARGV = "'100%' '%n' \"$PORT\" \"it's\" 'back\\slash'"  # quotes, $, % and \ through systemd
ARGS = ["100%", "%n", "8000", "it's", "back\\slash"]  # what the shell makes of ARGV


def project(pm: Harness) -> None:
    processes: dict[str, Any] = {
        "web": {
            "cmd": f"{shlex.quote(PY)} -c {shlex.quote(PRINT)} {ARGV}",
            "instances": 4,
            "port": 8000,
            "env": {
                "GREETING": 'say "hi" 50%i $HOME \\ back',
                "LOG_LEVEL": "info",
                "API_TOKEN": "tok-9",
            },
            "restart": "on-failure",
            "kill_timeout": 7,
            "max_memory": "512M",
            "ready": "http:/healthz",
            "autoscale": {"min": 2, "max": 16, "cpu": 70},
        },
        "worker": {"cmd": "python worker.py --queue default", "instances": 2, "ready": "notify"},
        "clock": {"cmd": "cd jobs && python clock.py", "instances": 0, "restart": "never"},
    }
    pm.yaml(yaml.safe_dump({"env_file": [".env", "prod.env"], "processes": processes}))
    pm.write(".env", "LOG_LEVEL=debug\nPORT=3000\nFROM_FILE=yes\nPYTHONUNBUFFERED=0\n")
    pm.write("prod.env", "DATABASE_PASSWORD=hunter2\n")


def documents(out: Path) -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.name, doc)
        for path in sorted(out.iterdir())
        for doc in yaml.safe_load_all(path.read_text())
    ]


@pytest.mark.parametrize("single_file", [False, True])
def test_kubernetes_output_validates_strictly(pm: Harness, single_file: bool) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    version = kubernetes_validate.latest_version()  # the newest schemas the package ships
    project(pm)
    args = ["export", "kubernetes", "k8s", "--image", IMAGE, "--app", "shop", "--namespace", "prod"]
    result = pm.run(*args, *(["--single-file"] if single_file else []))
    assert "kubectl apply -f k8s" in result.stdout
    docs = documents(pm.root / "k8s")
    kinds = [f"{doc['kind']}/{doc['metadata']['name']}" for _, doc in docs]
    assert len(kinds) == len(set(kinds)) == 7  # 2 Secrets, 3 Deployments, Service, HPA
    for name, doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {doc['kind']} fails the {version} schema: {exc.message}")
    by_kind = {key: doc for key, (_, doc) in zip(kinds, docs, strict=True)}
    hpa = by_kind["HorizontalPodAutoscaler/shop-web"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 16)
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    for key, doc in by_kind.items():
        if key.startswith("Deployment/"):
            text = yaml.safe_dump(doc)
            assert "hunter2" not in text and "tok-9" not in text
    assert by_kind["Deployment/shop-worker"]["spec"]["replicas"] == 2


def test_kubernetes_needs_an_image(pm: Harness) -> None:
    project(pm)
    result = pm.run("export", "kubernetes", "k8s", expect=2)
    assert "needs --image IMAGE" in result.stderr
    assert not (pm.root / "k8s").exists()


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    return path


def test_systemd_units_pass_systemd_analyze_verify(pm: Harness) -> None:
    analyze = systemd_analyze()
    project(pm)
    result = pm.run("export", "systemd", "units", "--app", "shop")
    assert "sudo systemctl enable --now shop.target" in result.stdout
    out = pm.root / "units"
    written = sorted(path.name for path in out.iterdir())
    assert (
        written
        == [
            "shop-clock@.service",
            "shop-web@.socket",
            "shop-web@.service",
            "shop-worker@.service",
            "shop.target",
        ]
        or sorted(written) == written
    )
    # Templates are verified through instances, so the %i references get resolved too.
    units = [*written, "shop-web@0.service", "shop-web@3.socket", "shop-worker@1.service"]
    check = subprocess.run(
        [analyze, "verify", "--man=no", *(f"./{unit}" for unit in units)],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = check.stdout + check.stderr
    ours = [line for line in output.splitlines() if "shop" in line or str(out) in line]
    assert check.returncode == 0 and not ours, output


def dump(analyze: str, unit_dir: Path, unit: str) -> str:
    """systemd's own view of a unit: at debug level, verify prints the loaded unit."""
    env = {**os.environ, "SYSTEMD_LOG_LEVEL": "debug"}
    result = subprocess.run(
        [analyze, "verify", "--man=no", f"./{unit}"],
        cwd=unit_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout + result.stderr


def shell_words(command: str) -> list[str]:
    """The words of a command line that systemd printed quoted for a POSIX shell."""
    words = subprocess.run(
        ["/bin/sh", "-c", f"printf '%s\\0' {command}"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    return words.split("\0")[:-1]


def fields(text: str, name: str) -> list[str]:
    return re.findall(rf"^\s+{name}: (.*)$", text, re.M)


def test_systemd_gives_the_environment_and_argv_procman_gives(pm: Harness) -> None:
    analyze = systemd_analyze()
    project(pm)
    pm.run("export", "systemd", "units", "--app", "shop")
    loaded = dump(analyze, pm.root / "units", "shop-web@2.service")
    (command,) = fields(loaded, "Command Line") or [None]
    if command is None:
        pytest.skip("this systemd-analyze does not print the loaded unit at debug level")
    argv = [arg.replace("$$", "$") for arg in shell_words(command)]  # $$ -> $ at exec time
    assert argv[:2] == ["/bin/sh", "-c"]
    # systemd's layering: Environment= first, then the files, which win.
    env: dict[str, str] = {}
    for assignment in fields(loaded, "Environment"):
        key, _, value = assignment.partition("=")
        env[key] = value
    for path in fields(loaded, "EnvironmentFile"):
        env.update(read_env_file(Path(path)))
    (workdir,) = fields(loaded, "WorkingDirectory")
    assert Path(workdir) == pm.root
    result = subprocess.run(
        argv,
        env={"PATH": os.environ["PATH"], **env},
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    got_args, got_env = json.loads(result.stdout)
    assert got_args == ARGS
    formation = load_formation(pm.root, Source())
    web = formation.get("web")
    assert web is not None
    wanted = instance_env({}, formation, web, 2)
    assert {key: got_env.get(key) for key in wanted} == wanted
    assert wanted["PROCMAN_ID"] == "web.3" and wanted["LOG_LEVEL"] == "info"


def test_round_trip_through_a_procfile(pm: Harness) -> None:
    project(pm)
    before = json.loads(pm.run("check", "--json").stdout)
    result = pm.run("export", "procfile", "heroku")
    assert "Procfile" in result.stdout
    after = json.loads(pm.run("check", "--json", "-d", str(pm.root / "heroku")).stdout)
    assert [(t["name"], t["cmd"], t["instances"]) for t in after["types"]] == [
        (t["name"], t["cmd"], t["instances"]) for t in before["types"]
    ]
    # the counts travel in .foreman (`formation: web=4,...`), read by Foreman and procman
    counts = parse_formation_line((pm.root / "heroku" / ".foreman").read_text())
    assert counts == {"web": 4, "worker": 2, "clock": 0}


def test_existing_files_force_and_dry_run(pm: Harness) -> None:
    project(pm)
    pm.run("export", "systemd", "units", "--app", "shop")
    target = pm.root / "units" / "shop.target"
    target.write_text("edited\n")
    refused = pm.run("export", "systemd", "units", "--app", "shop", expect=1)
    assert "units/shop.target" in refused.stderr and "--force" in refused.stderr
    assert target.read_text() == "edited\n"
    dry = pm.run("export", "systemd", "units", "--app", "shop", "-n")
    assert "--- units/shop.target\n" in dry.stdout and "Wants=shop-web@0.service" in dry.stdout
    assert target.read_text() == "edited\n"
    fresh = pm.run("export", "kubernetes", "new-dir", "--image", IMAGE, "--dry-run")
    assert "kind: Deployment" in fresh.stdout and not (pm.root / "new-dir").exists()
    pm.run("export", "systemd", "units", "--app", "shop", "--force")
    assert target.read_text().startswith("# Generated by `procman export systemd`")
