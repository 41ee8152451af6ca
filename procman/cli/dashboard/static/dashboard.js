// procman dashboard: plain JS, no framework, no build. One EventSource per page (the
// server relays the daemon's `events` and `logs --follow` streams); no polling. Rows are
// updated in place, so a focused button keeps its focus while the numbers change.
"use strict";

const CONFIG = JSON.parse(document.getElementById("config").textContent);
const HISTORY = 60;        // samples kept per instance for the charts (2 min at 2 s)
const LOG_KEEP = 2000;     // lines kept for the filters
const LOG_SHOWN = 1000;    // lines in the view
const OUTCOMES = 6;        // outcomes kept on the page
const UP = new Set(["starting", "running", "stopping"]);

const $ = (id) => document.getElementById(id);
const S = {
  project: null, projects: [], source: null,
  types: new Map(),       // name -> type summary (desired, autoscale)
  rows: new Map(),        // id -> status row
  history: new Map(),     // id -> {cpu: [], mem: []}
  lastDecision: new Map(),// type -> text
  logs: [], paused: false, held: 0,
};

if (CONFIG.noColor) document.documentElement.classList.add("no-color");
if (CONFIG.readOnly) { document.body.classList.add("read-only"); $("mode").hidden = false; }

// -- helpers -----------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function withToken(path) {
  if (!CONFIG.token) return path;
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(CONFIG.token);
}

async function api(path, body) {
  const opts = { headers: {} };
  if (CONFIG.token) opts.headers["X-Procman-Token"] = CONFIG.token;
  if (body !== undefined) {
    opts.method = "POST";
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  const type = res.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await res.json() : { lines: [await res.text()] };
  return { status: res.status, data };
}

// The CLI's figures (cli/figures.py: duration, size), so the page and `procman status` agree.
function duration(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  const s = Math.floor(seconds);
  const pad = (n) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${pad(Math.floor(s % 3600 / 60))}m`;
  return `${Math.floor(s / 86400)}d${pad(Math.floor(s % 86400 / 3600))}h`;
}

function size(bytes) {
  if (bytes === null || bytes === undefined) return "-";
  let value = bytes;
  for (const unit of ["B", "KB", "MB", "GB"]) {
    if (value < 1024 || unit === "GB") return unit === "B" ? `${value.toFixed(0)} B` : `${value.toFixed(1)} ${unit}`;
    value /= 1024;
  }
  return `${value.toFixed(1)} GB`;
}

const cpuText = (v) => (v === null || v === undefined ? "-" : `${v.toFixed(1)}%`);
const stamp = (t) => new Date(t * 1000).toTimeString().slice(0, 8);
const typeOf = (label) => (label.includes(".") ? label.slice(0, label.lastIndexOf(".")) : label);

function spark(values, floor, label) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", `0 0 ${HISTORY - 1} 20`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  const known = values.filter((v) => v !== null);
  const top = Math.max(floor, ...known) * 1.25;  // headroom: a flat line is not the ceiling
  svg.setAttribute("aria-label", known.length ? label(known) : "no samples yet");
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  const start = HISTORY - values.length;
  line.setAttribute("points", values
    .map((v, i) => (v === null ? null : `${start + i},${(20 - (v / top) * 19).toFixed(2)}`))
    .filter(Boolean).join(" "));
  svg.append(line);
  return svg;
}

// -- the model -----------------------------------------------------------------------------

function resetProject() {
  S.types.clear(); S.rows.clear(); S.history.clear(); S.lastDecision.clear();
  S.logs = []; S.held = 0;
  $("logs").replaceChildren();
  $("types").tBodies[0].replaceChildren();
  $("instances").tBodies[0].replaceChildren();
}

function setTypes(types) {
  S.types = new Map((types || []).map((t) => [t.name, t]));
  for (const t of types || []) {
    if (t.autoscale && t.autoscale.last) S.lastDecision.set(t.name, t.autoscale.last);
  }
}

// `procman status`'s note (render._notes), word for word
function setChanged(files) {
  const note = $("changed");
  note.hidden = !(files && files.length);
  note.textContent = note.hidden ? "" : `${files.join(", ")} changed since the daemon read it; `
    + '"procman restart" (or reload) runs what the files say now';
}

function setRow(row, sampled) {
  const old = S.rows.get(row.id);
  if (!sampled && old && old.pid === row.pid) {  // a state change: keep the last figures
    row = { ...row, cpu_percent: old.cpu_percent, memory_bytes: old.memory_bytes };
  }
  S.rows.set(row.id, row);
}

function setRows(rows, sampled) {
  const seen = new Set(rows.map((r) => r.id));
  for (const id of [...S.rows.keys()]) if (!seen.has(id)) { S.rows.delete(id); S.history.delete(id); }
  for (const row of rows) setRow(row, sampled);
}

function sample(rows) {
  for (const row of rows) {
    const h = S.history.get(row.id) || { cpu: [], mem: [] };
    h.cpu.push(row.cpu_percent ?? null); h.mem.push(row.memory_bytes ?? null);
    if (h.cpu.length > HISTORY) { h.cpu.shift(); h.mem.shift(); }
    S.history.set(row.id, h);
  }
}

function onDaemon(ev) {
  if (ev.event === "subscribed") setRows(ev.instances, false);
  else if (ev.event === "state") { const { event, old, ...row } = ev; setRow(row, false); }
  else if (ev.event === "metrics") { setRows(ev.instances, true); sample(ev.instances); setTypes(ev.types); }
  else if (ev.event === "autoscale") {
    S.lastDecision.set(ev.type, `autoscale ${ev.type} ${ev.from} → ${ev.to}: ${ev.reason}`);
  }
  render();
}

// -- the view ------------------------------------------------------------------------------

function typeNames() {
  const names = [...S.types.keys()];
  for (const row of S.rows.values()) if (!names.includes(row.type)) names.push(row.type);
  return names;
}

// Put trs in tbody in order, moving only what is out of place (a moved node loses focus).
function sync(tbody, trs) {
  trs.forEach((tr, i) => { if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null); });
  while (tbody.children.length > trs.length) tbody.lastElementChild.remove();
}

function keyed(tbody, key, make) {
  let tr = tbody.querySelector(`tr[data-key="${CSS.escape(key)}"]`);
  if (!tr) { tr = make(); tr.dataset.key = key; }
  return tr;
}

function actionButton(label, verb, target, extra = {}) {
  const what = target || "every instance";
  return el("button", { type: "button", "aria-label": `${label} ${what}`, text: label,
    onclick: () => act(verb, target, extra.count) });
}

function makeTypeRow(name) {
  const count = el("input", { type: "text", size: "5", id: `count-${name}`, autocomplete: "off",
    title: "N, max, +N or -N" });
  const set = el("button", { type: "button", text: "Set", "aria-label": `Set the count of ${name}`,
    onclick: () => act("scale", name, count.value.trim()) });
  count.addEventListener("keydown", (e) => { if (e.key === "Enter") set.click(); });
  return el("tr", {},
    el("th", { scope: "row", text: name }),
    el("td", { class: "counts" }), el("td", { class: "autoscale" }), el("td", { class: "decision reason" }),
    el("td", { class: "actions" }, el("div", { class: "buttons" },
      el("label", { for: `count-${name}`, class: "visually-hidden", text: `count for ${name}` }),
      count, set,
      el("button", { type: "button", text: "+1", "aria-label": `Scale ${name} up by one`,
        onclick: () => act("scale", name, "+1") }),
      el("button", { type: "button", text: "−1", "aria-label": `Scale ${name} down by one`,
        onclick: () => act("scale", name, "-1") }))),
    el("td", { class: "actions" }, el("div", { class: "buttons" },
      actionButton("Restart", "restart", name), actionButton("Reload", "reload", name),
      actionButton("Stop", "stop", name), actionButton("Start", "start", name))));
}

// cli/figures.py's figure(): 93%, 300.0 MB, 3.5
function figure(metric, value) {
  if (value === null || value === undefined) return "-";
  if (metric === "memory") return size(value);
  return metric === "cpu" ? `${value.toFixed(0)}%` : `${Number(value.toFixed(1))}`;
}

function autoscaleText(t) {
  const a = t && t.autoscale;
  if (!a) return "off";
  const now = new Map((a.metrics || []).map((m) => [m.metric, m.current]));
  const goals = ["cpu", "memory", "queue"]  // the rule's targets, each with its last reading
    .filter((metric) => a[metric] !== null && a[metric] !== undefined)
    .map((metric) => `${metric} ${figure(metric, a[metric])}`
      + (now.get(metric) !== null && now.get(metric) !== undefined ? ` (now ${figure(metric, now.get(metric))})` : ""));
  const mode = a.manual ? "held by a manual scale" : "automatic";
  const text = `${a.min}–${a.max} at ${goals.join(", ")}, target ${a.target ?? t.desired} (${mode})`;
  return a.condition ? `${text}; ${a.condition}` : text;
}

function renderTypes() {
  const tbody = $("types").tBodies[0];
  const names = typeNames();
  $("no-types").hidden = names.length > 0;
  const rows = names.map((name) => {
    const tr = keyed(tbody, name, () => makeTypeRow(name));
    const t = S.types.get(name);
    const members = [...S.rows.values()].filter((r) => r.type === name);
    const running = members.filter((r) => r.state === "running").length;
    const desired = t ? t.desired : members.length;
    const counts = tr.querySelector(".counts");
    counts.textContent = `${running}/${desired} running`;
    counts.classList.toggle("short", running !== desired);
    tr.querySelector(".autoscale").textContent = autoscaleText(t);
    tr.querySelector(".decision").textContent = S.lastDecision.get(name) || "-";
    const input = tr.querySelector("input");
    if (document.activeElement !== input) input.placeholder = String(desired);
    return tr;
  });
  sync(tbody, rows);
}

function makeInstanceRow(id) {
  return el("tr", {},
    el("th", { scope: "row", text: id }),
    el("td", {}, el("span", { class: "state" })),
    el("td", { class: "num pid" }), el("td", { class: "num uptime" }), el("td", { class: "num restarts" }),
    el("td", { class: "reason" }),
    el("td", { class: "cpu" }, el("div", { class: "metric" }, el("span"))),
    el("td", { class: "mem" }, el("div", { class: "metric" }, el("span"))),
    el("td", { class: "actions" }, el("div", { class: "buttons" },
      actionButton("Restart", "restart", id), actionButton("Stop", "stop", id),
      actionButton("Start", "start", id))));
}

function lastExit(row) {
  if (row.reason) return row.reason;
  if (row.exit_code !== null && row.exit_code !== undefined) return `exit code ${row.exit_code}`;
  return "-";
}

function metricCell(td, text, values, floor, label) {
  const box = td.firstChild;
  box.firstChild.textContent = text;
  const chart = spark(values, floor, label);
  if (box.childNodes.length > 1) box.replaceChild(chart, box.lastChild); else box.append(chart);
}

function renderInstances() {
  const tbody = $("instances").tBodies[0];
  const rows = [...S.rows.values()];
  const order = typeNames();
  rows.sort((a, b) => order.indexOf(a.type) - order.indexOf(b.type) || a.index - b.index);
  $("no-instances").hidden = rows.length > 0;
  sync(tbody, rows.map((row) => {
    const tr = keyed(tbody, row.id, () => makeInstanceRow(row.id));
    const state = tr.querySelector(".state");
    state.className = `state ${row.state}`;
    state.textContent = row.state + (row.stale ? " (older definition)" : "")
      + (row.status_text ? ` — ${row.status_text}` : "");
    tr.querySelector(".pid").textContent = row.pid ?? "-";
    tr.querySelector(".uptime").textContent = duration(row.uptime_s);
    tr.querySelector(".restarts").textContent = row.restarts ?? 0;
    tr.querySelector(".reason").textContent = lastExit(row);
    const h = S.history.get(row.id) || { cpu: [], mem: [] };
    metricCell(tr.querySelector(".cpu"), cpuText(row.cpu_percent), h.cpu, 4,
      (v) => `cpu of ${row.id}, last ${v.length} samples: ${cpuText(Math.min(...v))} to ${cpuText(Math.max(...v))}`);
    metricCell(tr.querySelector(".mem"), size(row.memory_bytes), h.mem, 1,
      (v) => `memory of ${row.id}, last ${v.length} samples: ${size(Math.min(...v))} to ${size(Math.max(...v))}`);
    return tr;
  }));
}

function renderFilters() {
  const types = [...typeNames(), "procman"];
  fillSelect($("log-type"), "all types", types);
  const type = $("log-type").value;
  const ids = [...S.rows.keys()].filter((id) => !type || typeOf(id) === type);
  fillSelect($("log-id"), "all instances", ids);
}

function fillSelect(select, all, values) {
  const current = select.value;
  const wanted = ["", ...values];
  const have = [...select.options].map((o) => o.value);
  if (wanted.join("\n") === have.join("\n")) return;
  select.replaceChildren(...wanted.map((v) => el("option", { value: v, text: v || all })));
  select.value = wanted.includes(current) ? current : "";
}

function render() {
  renderTypes();
  renderInstances();
  renderFilters();
}

// -- logs ----------------------------------------------------------------------------------

function logMatches(line) {
  const type = $("log-type").value, id = $("log-id").value, stream = $("log-stream").value;
  return (!type || typeOf(line.label) === type) && (!id || line.label === id)
    && (!stream || line.stream === stream);
}

function logNode(line) {
  const err = line.stream === "err";
  return el("div", { class: "line" + (err ? " err" : "") },
    el("span", { class: "t", text: stamp(line.time) }), " ",
    el("span", { class: "l", text: line.label }), " ",
    el("span", { class: "m", text: err ? "!" : "|", title: err ? "stderr" : "stdout" }), " ",
    line.text);
}

function showLogs(lines) {
  const view = $("logs");
  const atEnd = view.scrollTop + view.clientHeight >= view.scrollHeight - 4;
  view.append(...lines.filter(logMatches).map(logNode));
  while (view.childElementCount > LOG_SHOWN) view.firstElementChild.remove();
  if (atEnd) view.scrollTop = view.scrollHeight;
}

function onLogs(chunk) {
  // [time, id, text] from a daemon without the stream split, [time, id, text, stream] after it
  const lines = chunk.lines.map(([time, label, text, stream]) => ({ time, label, text, stream: stream || "out" }));
  S.logs.push(...lines);
  if (S.logs.length > LOG_KEEP) S.logs.splice(0, S.logs.length - LOG_KEEP);
  if (S.paused) {
    S.held += lines.filter(logMatches).length;
    $("log-held").textContent = `paused: ${S.held} new line${S.held === 1 ? "" : "s"} held`;
  } else showLogs(lines);
}

function refilter() {
  $("logs").replaceChildren();
  S.held = 0; $("log-held").textContent = S.paused ? "paused" : "";
  showLogs(S.logs);
}

$("log-type").addEventListener("change", () => { renderFilters(); refilter(); });
$("log-id").addEventListener("change", refilter);
$("log-stream").addEventListener("change", refilter);
$("log-clear").addEventListener("click", () => { S.logs = []; refilter(); });
$("log-pause").addEventListener("click", (e) => {
  S.paused = !S.paused;
  e.target.setAttribute("aria-pressed", String(S.paused));
  e.target.textContent = S.paused ? "Resume" : "Pause";
  if (!S.paused) refilter(); else $("log-held").textContent = "paused";
});

// -- actions -------------------------------------------------------------------------------

function confirmText(verb, target, count) {
  const what = target || "every instance";
  if (verb === "stop") return [`Stop ${what}? Its processes get SIGTERM, then SIGKILL after kill_timeout; the counts stay.`, `Stop ${what}`];
  if (verb === "restart") return [`Restart ${what}? Each process is stopped, then started again.`, `Restart ${what}`];
  if (verb === "scale") {
    const t = S.types.get(target);
    const current = t ? t.desired : 0;
    // N, max, +N or -N, as `procman scale` takes them; the daemon checks and refuses
    const n = Number(count);
    const next = /^[+-]/.test(count) ? current + n : n;
    if (!Number.isInteger(next) || next < 0 || next >= current) return null;
    return [`Scale ${target} from ${current} to ${next}? The highest-numbered instances are stopped.`, `Scale ${target} to ${next}`];
  }
  return null;
}

function askConfirm(text, ok) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = ok;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}

function outcomeBox(command) {
  const box = el("div", { class: "outcome waiting" },
    el("div", { class: "verdict", text: `$ ${command} — waiting for the daemon…` }), el("pre"));
  const list = $("outcomes");
  list.querySelector(".empty")?.remove();
  list.prepend(box);
  while (list.childElementCount > OUTCOMES) list.lastElementChild.remove();
  return box;
}

function showOutcome(box, command, answer) {
  box.className = "outcome" + (answer.ok ? "" : " failed");
  box.firstChild.textContent = `$ ${command} — ${answer.ok ? "done" : "failed"}`;
  box.lastChild.textContent = (answer.lines || []).join("\n");
}

// What the server answers with too (actions.Action.command); shown while the daemon works.
function commandOf(verb, target, count) {
  if (verb === "scale") return `procman scale ${target}=${count}`;
  if (verb === "start" && target && target.includes(".")) return `procman restart ${target}`;
  return `procman ${verb}${target ? " " + target : ""}`;
}

async function act(verb, target, count) {
  if (CONFIG.readOnly || !S.project) return;
  if (verb === "scale" && !count) return;
  const ask = confirmText(verb, target, count);
  if (ask && !(await askConfirm(...ask))) return;
  const command = commandOf(verb, target, count);
  const box = outcomeBox(command);
  try {
    const { data } = await api(`api/p/${S.project}/action`, { verb, target, count });
    showOutcome(box, data.command || command, data);
    if (data.instances) {
      setRows(data.instances, true); setTypes(data.types); setChanged(data.changed_files); render();
    }
  } catch (err) {
    showOutcome(box, command, { ok: false, lines: [`error: the dashboard did not answer (${err})`] });
  }
}

for (const button of $("all-actions").querySelectorAll("button")) {
  button.addEventListener("click", () => act(button.dataset.verb, null));
}

// -- projects and the live stream ----------------------------------------------------------

function projectLabel(p) {
  const types = (p.types || []).map((t) => `${t.name} ${t.running}/${t.desired}`).join(", ");
  if (p.error) return `${p.project || p.socket} — ${p.error}`;
  return `${p.project} — ${types || "no types"} (pid ${p.pid})`;
}

async function loadProjects() {
  const { status, data } = await api("api/projects");
  if (status !== 200) { setConnection(false, (data.lines || []).join(" ")); return; }
  S.projects = data.projects;
  const select = $("project");
  select.replaceChildren(...S.projects.map((p) => el("option", { value: p.id, text: projectLabel(p) })));
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("project");
  const live = S.projects.filter((p) => !p.error);
  const pick = [fromHash, S.project, CONFIG.defaultProject, live[0] && live[0].id]
    .find((id) => id && S.projects.some((p) => p.id === id && !p.error))
    || (S.projects[0] && S.projects[0].id);
  if (pick) { select.value = pick; if (pick !== S.project || !S.source) connect(pick); }
  else setConnection(false, 'no daemon of yours runs; start one with "procman start"');
}

function setConnection(live, text) {
  const c = $("connection");
  c.className = live ? "live" : "down";
  c.textContent = text;
}

function connect(id) {
  if (S.source) S.source.close();
  S.project = id;
  history.replaceState(null, "", `#project=${id}`);
  resetProject();
  const p = S.projects.find((x) => x.id === id);
  $("project-name").textContent = p ? p.project : "";
  document.title = `procman — ${p ? p.project : "dashboard"}`;
  setConnection(false, "connecting…");
  const source = new EventSource(withToken(`api/p/${id}/live`));
  S.source = source;
  const on = (name, handler) => source.addEventListener(name, (e) => handler(JSON.parse(e.data)));
  on("hello", (h) => {
    resetProject();
    setTypes(h.types); setRows(h.instances, true); sample(h.instances); setChanged(h.changed_files);
    render();
    setConnection(true, `live: daemon pid ${h.pid}, procman ${h.version}`);
  });
  on("daemon", onDaemon);
  on("logs", onLogs);
  on("ended", (e) => {  // the daemon went: no retry loop; Refresh list reconnects
    source.close();
    if (S.source === source) S.source = null;
    setConnection(false, e.message);
  });
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) setConnection(false, "the dashboard closed the stream");
    else setConnection(false, "reconnecting…");
  };
}

$("project").addEventListener("change", (e) => connect(e.target.value));
$("refresh-projects").addEventListener("click", loadProjects);
loadProjects();
