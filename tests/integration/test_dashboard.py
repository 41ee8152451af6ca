"""`procman dashboard` end to end: a real daemon and its children, the dashboard server, and
the page in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright; no browser
is ever downloaded). Every wait is on a fact the page shows, with a deadline."""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from procman import paths
from tests.harness import PROGRAMS, PY, Harness, interrupt, wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SAY = f"{PY} {PROGRAMS / 'say.py'}"
LIVE = "#connection.live"


def _playwright() -> Any:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):  # .ci/run installs it: a CI run without it is broken
            pytest.fail(f"no {CHROMIUM} on CI; .ci/run should have installed chromium")
        pytest.skip(
            f"no {CHROMIUM}: the dashboard tests need Debian's chromium package "
            "(apt-get install chromium; .ci/run installs it)"
        )
    try:
        from playwright import sync_api
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail('playwright is missing on CI; make setup installs it (".[test]")')
        pytest.skip('playwright is not installed (pip install -e ".[test]")')
    return sync_api


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Chromium for the module, on a fresh, empty profile."""
    sync_api = _playwright()
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1200, "height": 900},
        )
        context.set_default_timeout(10_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield tab
    finally:
        tab.close()
    assert not errors, f"the page threw: {errors}"


def expect(locator: Any) -> Any:
    return _playwright().expect(locator)


class Dashboard:
    def __init__(self, proc: subprocess.Popen, url: str) -> None:
        self.proc, self.url = proc, url
        parts = urlsplit(url)
        self.base = f"{parts.scheme}://{parts.netloc}"
        self.token = parts.query.partition("token=")[2] or None

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        return self.request(path, headers=headers)

    def request(
        self, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                return res.status, res.read(200_000).decode()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read().decode()


@pytest.fixture
def dashboard(pm: Harness) -> Iterator[Callable[..., Dashboard]]:
    """Start `procman dashboard --port 0 ...` in the project; read the URL it prints."""
    started: list[subprocess.Popen] = []
    runtime = Path(tempfile.mkdtemp(prefix="pm-dash-", dir="/tmp"))

    def start(
        *args: str, harness: Harness | None = None, env: dict[str, str] | None = None
    ) -> Dashboard:
        h = harness or pm
        env = {**h.env, **(env or {})}
        env.setdefault("XDG_RUNTIME_DIR", str(runtime))  # no other daemon in the picker
        proc = subprocess.Popen(
            [PY, "-m", "procman", "dashboard", "--port", "0", *args],
            cwd=h.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        started.append(proc)
        assert proc.stdout is not None
        out = b""
        deadline = time.monotonic() + 20
        while b"http://" not in out or not out.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
                raise AssertionError(f"the dashboard printed no URL: {out!r}")
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                raise AssertionError(f"the dashboard exited: {out!r}")
            out += chunk
        line = next(w for w in out.decode().split() if w.startswith("http://"))
        return Dashboard(proc, line)

    try:
        yield start
    finally:
        for proc in started:
            interrupt(proc)
            assert proc.stdout is not None
            proc.stdout.close()
        shutil.rmtree(runtime, ignore_errors=True)


def formation(pm: Harness, web: int = 2, worker: int = 1) -> None:
    pm.procfile(f"web: {SAY}\nworker: {SAY}\n")
    pm.run("start", f"web={web}", f"worker={worker}")


def instance_row(page: Any, ident: str) -> Any:
    return page.locator("#instances tbody tr", has=page.locator(f"th:text-is('{ident}')"))


def cell(page: Any, ident: str, name: str) -> Any:
    return instance_row(page, ident).locator(f".{name}")


def opened(page: Any, url: str) -> Any:
    page.goto(url)
    expect(page.locator(LIVE)).to_be_visible()
    return page


# -- what the page shows ------------------------------------------------------------------------


def test_the_page_lists_the_instances_of_a_running_formation(
    pm: Harness, dashboard: Callable[..., Dashboard], page: Any, tmp_path: Path
) -> None:
    formation(pm)
    rows = pm.by_id()
    opened(page, dashboard().url)

    ids = page.locator("#instances tbody th")
    expect(ids).to_have_text(["web.1", "web.2", "worker.1"])
    for ident, row in rows.items():
        expect(cell(page, ident, "state")).to_have_text("running")  # spelled out
        expect(cell(page, ident, "pid")).to_have_text(str(row["pid"]))
        expect(cell(page, ident, "restarts")).to_have_text("0")
    types = page.locator("#types tbody tr")
    expect(types.locator("th")).to_have_text(["web", "worker"])
    expect(types.locator(".counts")).to_have_text(["2/2 running", "1/1 running"])
    expect(types.locator(".autoscale")).to_have_text(["off", "off"])
    # the project picker names the project the command ran in
    expect(page.locator("#project option")).to_have_count(1)
    expect(page.locator("#project")).to_contain_text(str(pm.root))
    # every action is a real, labelled button
    expect(page.get_by_role("button", name="Restart web.2")).to_be_visible()
    expect(page.get_by_role("button", name="Scale web up by one")).to_be_visible()
    # the cpu and memory charts fill from the metrics events (one every 2 s)
    expect(cell(page, "web.1", "mem").locator("span")).not_to_have_text("-")
    expect(cell(page, "web.1", "cpu").locator("svg")).to_have_attribute(
        "aria-label", "cpu of web.1, last 2 samples: 0.0% to 0.0%", timeout=15_000
    )
    # NO_COLOR (the harness sets it) takes every colour off; the words stay
    expect(page.locator("html")).to_have_class("no-color")
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 2_000


def test_autoscale_state_and_its_last_decision(
    pm: Harness, dashboard: Callable[..., Dashboard], page: Any
) -> None:
    pm.yaml(
        "sample_interval: 0.5\nprocesses:\n  web:\n"
        f"    cmd: {SAY}\n    instances: 2\n"
        "    autoscale: {min: 1, max: 3, cpu: 50, window: 0}\n"
    )
    pm.run("start")
    opened(page, dashboard().url)
    web = page.locator("#types tbody tr").first
    expect(web.locator(".autoscale")).to_contain_text("1–3 at cpu 50%")
    # idle: the rule takes web down to its min, and the page shows the decision as it is made
    expect(web.locator(".decision")).not_to_have_text("-", timeout=15_000)
    expect(web.locator(".counts")).to_have_text("1/1 running")
    last = pm.client.call("status")["types"][0]["autoscale"]["last"]
    assert last.startswith("autoscale web 2 → 1: ")
    expect(web.locator(".decision")).to_have_text(last)
    rule = pm.client.call("status")["types"][0]["autoscale"]
    expect(web.locator(".autoscale")).to_have_text(
        re.compile(r"^1–3 at cpu 50% \(now \d+%\), target 1 \(automatic\)(; .+)?$")
    )
    assert rule["target"] == 1 and not rule["manual"]
    # a manual scale holds the rule off, and the page says so
    page.get_by_role("button", name="Scale web up by one").click()
    expect(web.locator(".autoscale")).to_contain_text("(held by a manual scale)")


def test_plus_one_adds_a_row_that_reaches_running(
    pm: Harness, dashboard: Callable[..., Dashboard], page: Any
) -> None:
    formation(pm, web=1, worker=0)
    opened(page, dashboard(env={"NO_COLOR": ""}).url)  # empty: colour stays on
    expect(page.locator("#instances tbody th")).to_have_text(["web.1"])
    expect(page.locator("html")).not_to_have_class("no-color")

    page.get_by_role("button", name="Scale web up by one").click()
    expect(cell(page, "web.2", "state")).to_have_text("running")
    assert pm.by_id()["web.2"]["state"] == "running"
    expect(page.locator("#types tbody tr .counts").first).to_have_text("2/2 running")
    # the outcome in the CLI's words: the command, then the table `procman scale` prints
    outcome = page.locator("#outcomes .outcome").first
    expect(outcome.locator(".verdict")).to_have_text("$ procman scale web=+1 — done")
    table = outcome.locator("pre")
    expect(table).to_contain_text("id")
    lines = table.inner_text().splitlines()
    assert lines[0].split() == ["id", "pid", "state", "uptime", "restarts", "cpu", "memory", "port"]
    assert [line.split()[0] for line in lines[1:3]] == ["web.1", "web.2"]

    # -1 stops something: it asks first, and Cancel leaves the count alone
    page.get_by_role("button", name="Scale web down by one").click()
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_contain_text("Scale web from 2 to 1?")
    page.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert pm.by_id()["web.2"]["state"] == "running"

    # set a count by typing it (Enter in the field, as a keyboard user would)
    page.get_by_label("count for web").fill("3")
    page.get_by_label("count for web").press("Enter")
    expect(cell(page, "web.3", "state")).to_have_text("running")
    expect(page.locator("#outcomes .outcome .verdict").first).to_have_text(
        "$ procman scale web=3 — done"
    )

    # files edited since the daemon read them: the page says so in status's words
    pm.procfile(f"web: {SAY}\nworker: {SAY}\n# edited\n")
    page.get_by_role("button", name="Scale web up by one").click()
    expect(cell(page, "web.4", "state")).to_have_text("running")
    note = [line for line in pm.run("status").stdout.splitlines() if "changed since" in line]
    assert len(note) == 1
    expect(page.locator("#changed")).to_have_text(note[0])


def test_restart_on_an_instance_changes_its_pid_and_stop_start_ask_and_answer(
    pm: Harness, dashboard: Callable[..., Dashboard], page: Any
) -> None:
    formation(pm)
    before = pm.by_id()
    opened(page, dashboard().url)
    expect(cell(page, "web.1", "pid")).to_have_text(str(before["web.1"]["pid"]))

    page.get_by_role("button", name="Restart web.1").click()
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_contain_text("Restart web.1?")
    expect(page.get_by_role("button", name="Cancel")).to_be_focused()  # the safe choice first
    dialog.get_by_role("button", name="Restart web.1").click()
    expect(cell(page, "web.1", "pid")).not_to_have_text(str(before["web.1"]["pid"]))
    expect(cell(page, "web.1", "state")).to_have_text("running")
    now = pm.by_id()
    assert now["web.1"]["pid"] != before["web.1"]["pid"]
    expect(cell(page, "web.1", "pid")).to_have_text(str(now["web.1"]["pid"]))
    assert now["web.2"]["pid"] == before["web.2"]["pid"]  # only the one asked for

    # stop asks too; the row says "stopped" in words, the type says 1/2
    page.get_by_role("button", name="Stop web.2").click()
    dialog.get_by_role("button", name="Stop web.2").click()
    expect(cell(page, "web.2", "state")).to_have_text("stopped")
    expect(page.locator("#types tbody tr .counts").first).to_have_text("1/2 running")
    assert pm.by_id()["web.2"]["state"] == "stopped"

    # start does not ask; it starts what is down and leaves web.1 alone
    web1 = pm.by_id()["web.1"]["pid"]
    page.get_by_role("button", name="Start web", exact=True).click()
    expect(cell(page, "web.2", "state")).to_have_text("running")
    expect(page.locator("#outcomes .outcome .verdict").first).to_have_text(
        "$ procman start web — done"
    )
    assert pm.by_id()["web.1"]["pid"] == web1
    assert not dialog.is_visible()
    # one instance: the protocol's start takes types, so a down instance is restarted
    page.get_by_role("button", name="Stop worker.1").click()
    dialog.get_by_role("button", name="Stop worker.1").click()
    expect(cell(page, "worker.1", "state")).to_have_text("stopped")
    page.get_by_role("button", name="Start worker.1", exact=True).click()
    expect(cell(page, "worker.1", "state")).to_have_text("running")
    expect(page.locator("#outcomes .outcome .verdict").first).to_have_text(
        "$ procman restart worker.1 — done"
    )
    # already up: nothing to do
    page.get_by_role("button", name="Start worker.1", exact=True).click()
    expect(page.locator("#outcomes .outcome pre").first).to_have_text(
        "nothing to start: worker.1 is running"
    )

    # a refused action shows the daemon's message as the CLI prints it
    page.get_by_label("count for worker").fill("-5")
    page.get_by_label("count for worker").press("Enter")
    verdict = page.locator("#outcomes .outcome").first
    expect(verdict).to_contain_text("failed")
    cli = pm.run("scale", "worker=-5", expect=2).stderr.strip()
    assert cli.startswith("error: ") and "below 0" in cli
    expect(verdict.locator("pre")).to_have_text(cli)


def test_a_log_line_written_by_an_instance_appears_within_a_second(
    pm: Harness, dashboard: Callable[..., Dashboard], page: Any
) -> None:
    formation(pm)
    rows = pm.by_id()
    opened(page, dashboard().url)
    logs = page.locator("#logs")
    expect(logs).to_contain_text("web.1 ready")  # the recent lines come first

    began = time.monotonic()
    os.kill(rows["web.1"]["pid"], signal.SIGUSR1)
    expect(logs).to_contain_text("web.1 says 1", timeout=1000)
    took = time.monotonic() - began
    assert took < 1.0, f"the line took {took:.3f}s"

    # filters: by type, by instance, by stream
    os.kill(rows["worker.1"]["pid"], signal.SIGUSR1)
    expect(logs).to_contain_text("worker.1 says 1")
    page.get_by_label("type", exact=True).select_option("worker")
    expect(logs).not_to_contain_text("web.1 says 1")
    expect(logs).to_contain_text("worker.1 says 1")
    page.get_by_label("type", exact=True).select_option("")
    page.get_by_label("instance", exact=True).select_option("web.1")
    expect(logs).to_contain_text("web.1 says 1")
    expect(logs).not_to_contain_text("worker.1 says 1")
    page.get_by_label("instance", exact=True).select_option("")
    os.kill(rows["web.2"]["pid"], signal.SIGUSR2)  # a line on stderr
    expect(logs).to_contain_text("web.2 warns 1")
    page.get_by_label("stream", exact=True).select_option("out")
    expect(logs).to_contain_text("web.1 says 1")
    expect(logs).not_to_contain_text("web.2 warns 1")
    page.get_by_label("stream", exact=True).select_option("err")
    expect(logs.locator(".line")).to_have_text([_warn_line("web.2", 1)])  # `!` marks it
    page.get_by_label("stream", exact=True).select_option("")

    # pause holds new lines (and says how many); resume shows them
    pause = page.get_by_role("button", name="Pause")
    pause.click()
    expect(page.get_by_role("button", name="Resume")).to_have_attribute("aria-pressed", "true")
    os.kill(rows["web.1"]["pid"], signal.SIGUSR1)
    expect(page.locator("#log-held")).to_have_text("paused: 1 new line held")
    expect(logs).not_to_contain_text("web.1 says 2")
    page.get_by_role("button", name="Resume").click()
    expect(logs).to_contain_text("web.1 says 2")


def test_the_page_says_when_the_daemon_stops_and_refresh_reconnects(
    pm: Harness, dashboard: Callable[..., Dashboard], page: Any
) -> None:
    formation(pm, web=1, worker=0)
    opened(page, dashboard().url)
    expect(cell(page, "web.1", "state")).to_have_text("running")
    pm.run("shutdown")
    connection = page.locator("#connection")
    expect(connection).to_have_class("down")
    expect(connection).to_contain_text("(it has stopped)")
    pm.run("start", "web=2", "worker=0")
    page.get_by_role("button", name="Refresh list").click()
    expect(page.locator(LIVE)).to_be_visible()
    expect(page.locator("#instances tbody th")).to_have_text(["web.1", "web.2"])
    expect(cell(page, "web.2", "state")).to_have_text("running")


def _warn_line(ident: str, n: int) -> Any:
    return re.compile(rf"^\d\d:\d\d:\d\d {re.escape(ident)} ! {ident} warns {n}$")


# -- who may use it -----------------------------------------------------------------------------


def test_off_loopback_every_request_needs_the_token(
    pm: Harness, dashboard: Callable[..., Dashboard], page: Any
) -> None:
    formation(pm, web=1, worker=0)
    dash = dashboard("--host", "127.0.0.2")  # a loopback address, but not the local default
    assert dash.base.startswith("http://127.0.0.2:") and dash.token and len(dash.token) >= 32
    ident = paths.project_key(str(pm.sock))
    for path in ("/", "/static/dashboard.js", "/api/projects", f"/api/p/{ident}/live"):
        status, text = dash.get(path)
        assert status == 401 and "token is required" in text, (path, status, text)
    assert dash.get("/?token=" + "x" * len(dash.token))[0] == 401
    assert dash.get("/", {"Authorization": "Bearer nope"})[0] == 401
    status, text = dash.request(f"/api/p/{ident}/action", {"verb": "stop", "target": "web"})
    assert status == 401 and pm.by_id()["web.1"]["state"] == "running"

    assert dash.get(f"/?token={dash.token}")[0] == 200
    assert dash.get("/api/projects", {"X-Procman-Token": dash.token})[0] == 200
    status, text = dash.get("/api/projects", {"Authorization": f"Bearer {dash.token}"})
    assert status == 200 and json.loads(text)["projects"][0]["project"] == str(pm.root)
    # an action from another site's page is refused even with the token
    status, _ = dash.request(
        f"/api/p/{ident}/action",
        {"verb": "stop", "target": "web"},
        {"X-Procman-Token": dash.token, "Origin": "http://evil.example"},
    )
    assert status == 403 and pm.by_id()["web.1"]["state"] == "running"

    # the page opened with the printed URL carries the token on its stream and its actions
    opened(page, dash.url)
    expect(cell(page, "web.1", "state")).to_have_text("running")
    page.get_by_role("button", name="Scale web up by one").click()
    expect(cell(page, "web.2", "state")).to_have_text("running")


def test_on_loopback_no_token_but_the_host_must_be_loopback(
    pm: Harness, dashboard: Callable[..., Dashboard]
) -> None:
    formation(pm, web=1, worker=0)
    dash = dashboard()
    assert dash.base.startswith("http://127.0.0.1:") and dash.token is None
    assert dash.get("/")[0] == 200
    port = urlsplit(dash.base).port
    assert dash.get("/", {"Host": f"localhost:{port}"})[0] == 200
    status, text = dash.get("/", {"Host": f"rebound.example:{port}"})  # DNS rebinding
    assert status == 421 and "answers to 127.0.0.1" in text
    ident = paths.project_key(str(pm.sock))
    status, text = dash.request(f"/api/p/{ident}/action", {"verb": "explode"})
    assert status == 400 and "unknown action 'explode'" in text
    status, text = dash.request(f"/api/p/{ident}/action", {"verb": "scale", "target": "web"})
    assert status == 400 and "scale needs a count" in text
    req = urllib.request.Request(
        f"{dash.base}/api/p/{ident}/action", data=b"verb=stop", method="POST"
    )  # a form post (what another site can send without asking) is not JSON
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=10)
    refused.value.close()
    assert refused.value.code == 415 and pm.by_id()["web.1"]["state"] == "running"


def test_open_hands_the_url_to_the_browser(
    pm: Harness, dashboard: Callable[..., Dashboard], tmp_path: Path
) -> None:
    told = tmp_path / "browser-was-told"
    # webbrowser runs $BROWSER with the URL for %s
    browser = f"{PY} -c 'import sys; open(sys.argv[1], \"w\").write(sys.argv[2])' {told} %s"
    dash = dashboard("--open", env={"BROWSER": browser})
    wait_until(lambda: told.exists() and told.read_text(), 10, "the browser to be started")
    assert told.read_text() == dash.url
    assert dash.get("/")[0] == 200


def test_read_only_refuses_actions_and_shows_none(
    pm: Harness, dashboard: Callable[..., Dashboard], page: Any
) -> None:
    formation(pm, web=1, worker=0)
    dash = dashboard("--read-only")
    ident = paths.project_key(str(pm.sock))
    status, text = dash.request(f"/api/p/{ident}/action", {"verb": "stop", "target": "web"})
    assert status == 403 and "read-only" in text
    assert pm.by_id()["web.1"]["state"] == "running"
    opened(page, dash.url)
    expect(page.locator("#mode")).to_have_text("read-only: actions are refused")
    expect(cell(page, "web.1", "state")).to_have_text("running")
    expect(page.get_by_role("button", name="Restart web.1")).to_be_hidden()
    expect(page.get_by_role("button", name="Scale web up by one")).to_be_hidden()


# -- several projects ---------------------------------------------------------------------------


def test_the_picker_switches_between_the_daemons_ls_finds(
    projects: Callable[[str], Harness], dashboard: Callable[..., Dashboard], page: Any
) -> None:
    one, two = projects("one"), projects("two")
    one.procfile(f"web: {SAY}\n")
    two.procfile(f"clock: {SAY}\nmailer: {SAY}\n")
    one.run("start")
    two.run("start")
    opened(page, dashboard(harness=one).url)
    expect(page.locator("#instances tbody th")).to_have_text(["web.1"])
    options = page.locator("#project option")
    expect(options).to_have_count(2)
    expect(options.nth(0)).to_contain_text(f"{one.root} — web 1/1")
    expect(options.nth(1)).to_contain_text(f"{two.root} — clock 1/1, mailer 1/1")

    page.get_by_label("Project").select_option(index=1)
    expect(page.locator("#instances tbody th")).to_have_text(["clock.1", "mailer.1"])
    expect(page.locator("h1")).to_contain_text(str(two.root))
    mailer = two.by_id()["mailer.1"]["pid"]
    page.get_by_role("button", name="Restart mailer.1").click()
    page.locator("dialog#confirm").get_by_role("button", name="Restart mailer.1").click()
    expect(cell(page, "mailer.1", "pid")).not_to_have_text(str(mailer))
    assert two.by_id()["mailer.1"]["pid"] != mailer
    assert one.by_id()["web.1"]["state"] == "running"
