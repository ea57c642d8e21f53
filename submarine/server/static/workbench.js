// The Submarine workbench: experiments, their logs and metrics, and a form to create them.
// Plain JavaScript, no dependencies; every request goes to this server (same origin).
"use strict";

const API = "/api/v1/experiment";
const TOKEN_KEY = "submarine-workbench-token";
const TERMINAL = new Set(["Succeeded", "Failed", "Deleted"]);
const STATUSES = ["Accepted", "Created", "Running", "Succeeded", "Failed"];
const ROLES = {
  TensorFlow: ["Ps", "Worker", "Chief", "Master", "Evaluator"],
  PyTorch: ["Master", "Worker"],
  XGBoost: ["Master", "Worker"],
};
const PALETTE = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#1b7c83", "#e16f24", "#6e7781"];

let view = null; // the current view's cleanup

// -- small helpers --------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  return node;
}

function toast(text) {
  const box = document.getElementById("toast");
  box.textContent = text;
  box.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => box.classList.remove("show"), 3500);
}

function fmtTime(text) {
  if (!text) return "–";
  const date = new Date(text);
  return isNaN(date) ? text : date.toLocaleString();
}

function duration(experiment) {
  const start = experiment.runningTime || experiment.createdTime || experiment.acceptedTime;
  if (!start) return "–";
  const end = experiment.finishedTime ? new Date(experiment.finishedTime) : new Date();
  if (!experiment.finishedTime && TERMINAL.has(experiment.status)) return "–";
  let seconds = Math.max(0, Math.round((end - new Date(start)) / 1000));
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  return hours ? `${hours}h ${minutes}m` : minutes ? `${minutes}m ${seconds}s` : `${seconds}s`;
}

function badge(status) {
  return h("span", { class: `badge status-${(status || "").toLowerCase()}`, text: status || "?" });
}

// A small YAML writer for showing specs (no parser is needed: the server reads YAML).
function toYaml(value, indent = "") {
  const scalar = (v) => {
    if (v === null || v === undefined) return "null";
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    const s = String(v);
    return /^[\w./@-][\w ./:=,@+-]*$/.test(s) && !/^(true|false|null|yes|no|[-\d.]+)$/i.test(s)
      ? s : JSON.stringify(s);
  };
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return value.map((item) => {
      const inner = toYaml(item, indent + "  ");
      return `\n${indent}- ${typeof item === "object" && item !== null ? inner.trimStart() : inner}`;
    }).join("");
  }
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (!keys.length) return "{}";
    return keys.map((key) => {
      const item = value[key];
      const nested = item !== null && typeof item === "object" && Object.keys(item).length;
      return `\n${indent}${scalar(key)}:${nested ? toYaml(item, indent + "  ") : " " + toYaml(item, indent + "  ")}`;
    }).join("");
  }
  return scalar(value);
}

// -- the API --------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, body, contentType = "application/json") {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = contentType;
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let data = null;
  try {
    data = await response.json();
  } catch (_) {
    data = null;
  }
  if (response.status === 401 && !path.startsWith("/api/auth/")) {
    await login();
    return api(method, path, body, contentType);
  }
  if (!response.ok || !data || data.success !== true) {
    const message = (data && data.message) || `${method} ${path}: HTTP ${response.status}`;
    throw new ApiError(response.status, message, data);
  }
  return data.result;
}

let loginWaiters = null;

function login() {
  if (loginWaiters) return new Promise((resolve) => loginWaiters.push(resolve));
  loginWaiters = [];
  const dialog = document.getElementById("login");
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  error.textContent = sessionStorage.getItem(TOKEN_KEY) ? "That token was not accepted." : "";
  sessionStorage.removeItem(TOKEN_KEY);
  return new Promise((resolve) => {
    loginWaiters.push(resolve);
    form.onsubmit = async (event) => {
      event.preventDefault();
      const token = form.token.value.trim();
      const username = form.username.value.trim();
      error.textContent = "";
      let chosen = token;
      if (!chosen && username) {
        try {
          chosen = await api("POST", "/api/auth/token", { username, password: form.password.value });
        } catch (exc) {
          error.textContent = exc.message;
          return;
        }
      }
      if (!chosen) {
        error.textContent = "Give the token, or a user name and password.";
        return;
      }
      sessionStorage.setItem(TOKEN_KEY, chosen);
      form.reset();
      dialog.close();
      document.getElementById("logout").hidden = false;
      const waiters = loginWaiters;
      loginWaiters = null;
      waiters.forEach((done) => done());
    };
    dialog.addEventListener("cancel", (event) => event.preventDefault());
    dialog.showModal();
    form.token.focus();
  });
}

// -- routing --------------------------------------------------------------------------------

function route() {
  if (view) view();
  view = null;
  const main = document.getElementById("main");
  main.replaceChildren();
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  document.getElementById("nav-list").toggleAttribute("aria-current", path === "/");
  document.getElementById("nav-new").toggleAttribute("aria-current", path === "/new");
  document.querySelectorAll("nav a[aria-current]").forEach((a) => a.setAttribute("aria-current", "page"));
  let match;
  if (path === "/new") view = newExperimentView(main);
  else if ((match = path.match(/^\/experiment\/([\w-]+)$/))) view = experimentView(main, match[1]);
  else if (path === "/compare") view = compareView(main, (params.get("ids") || "").split(",").filter(Boolean));
  else view = listView(main);
  if (document.activeElement && document.activeElement.closest && !document.activeElement.closest("main")) {
    main.focus({ preventScroll: true });
  }
}

function poller(task, interval) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    let again = true;
    try {
      again = (await task()) !== false;
    } catch (exc) {
      if (!stopped) toast(exc.message);
    }
    if (again && !stopped) timer = setTimeout(tick, interval);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// -- the experiment list ---------------------------------------------------------------------

function listView(main) {
  document.title = "Experiments · Submarine workbench";
  const selected = new Set();
  const rows = new Map();
  const status = h("select", { id: "filter-status", "aria-label": "Status" },
    h("option", { value: "", text: "All statuses" }),
    STATUSES.map((s) => h("option", { value: s, text: s })));
  const name = h("input", { id: "filter-name", type: "search", placeholder: "Filter by name", "aria-label": "Name" });
  const compare = h("button", { id: "compare", type: "button", disabled: true, onclick: () => {
    location.hash = `#/compare?ids=${[...selected].join(",")}`;
  } }, "Compare selected");
  const count = h("span", { class: "muted", id: "count" });
  const body = h("tbody");
  const empty = h("p", { class: "muted", hidden: true, text: "No experiments yet. Create one with “New experiment”." });
  main.append(
    h("h1", { text: "Experiments" }),
    h("div", { class: "toolbar" },
      h("label", {}, "Status", status), h("label", {}, "Name", name), compare, count),
    h("div", { class: "table-wrap" }, h("table", { id: "experiments" },
      h("caption", { class: "skip", text: "Experiments" }),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, h("span", { class: "skip", text: "Compare" })),
        ["Id", "Name", "Framework", "Status", "Accepted", "Running", "Finished", "Duration", ""].map(
          (title, i) => h("th", { scope: "col", class: i >= 4 && i <= 6 ? "hide-narrow" : null, text: title })))),
      body)),
    empty);
  let experiments = [];

  const refreshCompare = () => {
    compare.disabled = selected.size < 2;
  };

  const render = () => {
    const wantedStatus = status.value;
    const wantedName = name.value.trim().toLowerCase();
    const shown = experiments.filter((e) =>
      (!wantedStatus || e.status === wantedStatus) &&
      (!wantedName || ((e.spec && e.spec.meta && e.spec.meta.name) || "").includes(wantedName)));
    const seen = new Set();
    shown.forEach((experiment, index) => {
      const id = experiment.experimentId;
      seen.add(id);
      let row = rows.get(id);
      if (!row) {
        row = makeRow(experiment);
        rows.set(id, row);
      }
      updateRow(row, experiment);
      if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null);
    });
    for (const [id, row] of rows) {
      if (!seen.has(id)) {
        row.remove();
        rows.delete(id);
      }
    }
    count.textContent = `${shown.length} of ${experiments.length}`;
    empty.hidden = experiments.length > 0;
  };

  const makeRow = (experiment) => {
    const id = experiment.experimentId;
    const meta = (experiment.spec && experiment.spec.meta) || {};
    const check = h("input", { type: "checkbox", "aria-label": `Select ${meta.name || id} to compare`,
      onchange: () => {
        if (check.checked) selected.add(id); else selected.delete(id);
        refreshCompare();
      } });
    const remove = h("button", { type: "button", class: "danger", "aria-label": `Delete ${meta.name || id}`,
      onclick: () => removeExperiment(id, meta.name || id) }, "Delete");
    const row = h("tr", { "data-id": id },
      h("td", {}, check),
      h("td", { class: "id" }, h("a", { href: `#/experiment/${id}`, text: id })),
      h("td", { "data-col": "name", text: meta.name || "" }),
      h("td", { text: meta.framework || "" }),
      h("td", { "data-col": "status" }),
      h("td", { "data-col": "accepted", class: "hide-narrow" }),
      h("td", { "data-col": "running", class: "hide-narrow" }),
      h("td", { "data-col": "finished", class: "hide-narrow" }),
      h("td", { "data-col": "duration" }),
      h("td", {}, remove));
    return row;
  };

  const updateRow = (row, experiment) => {
    const cell = (col) => row.querySelector(`[data-col="${col}"]`);
    if (cell("status").textContent !== experiment.status) cell("status").replaceChildren(badge(experiment.status));
    cell("accepted").textContent = fmtTime(experiment.acceptedTime);
    cell("running").textContent = fmtTime(experiment.runningTime);
    cell("finished").textContent = fmtTime(experiment.finishedTime);
    cell("duration").textContent = duration(experiment);
  };

  const removeExperiment = async (id, label) => {
    if (!(await confirmDelete(label))) return;
    try {
      await api("DELETE", `${API}/${encodeURIComponent(id)}`);
      experiments = experiments.filter((e) => e.experimentId !== id);
      selected.delete(id);
      refreshCompare();
      render();
      toast(`Deleted ${label}`);
    } catch (exc) {
      toast(exc.message);
    }
  };

  status.addEventListener("change", render);
  name.addEventListener("input", render);
  return poller(async () => {
    experiments = (await api("GET", API)) || [];
    experiments.sort((a, b) => (a.acceptedTime < b.acceptedTime ? 1 : a.acceptedTime > b.acceptedTime ? -1 : 0));
    render();
  }, 2000);
}

function confirmDelete(label) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent =
    `“${label}” will be stopped and deleted, with its logs.`;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "cancel";
    dialog.showModal();
    document.getElementById("confirm-cancel").focus();
  });
}

// -- one experiment -------------------------------------------------------------------------

function experimentView(main, id) {
  document.title = `${id} · Submarine workbench`;
  const header = h("div");
  const facts = h("dl", { class: "facts" });
  const specBox = h("pre", { id: "spec", tabindex: "0" });
  let specFormat = "yaml";
  let experiment = null;
  const specTabs = h("div", { class: "tabs", role: "tablist", "aria-label": "Spec format" },
    ["yaml", "json"].map((format) => h("button", { type: "button", role: "tab", "data-format": format,
      "aria-selected": String(format === specFormat), onclick: () => {
        specFormat = format;
        specTabs.querySelectorAll("button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.format === format)));
        showSpec();
      } }, format.toUpperCase())));
  const pods = h("tbody");
  const logTabs = h("div", { class: "tabs", role: "tablist", "aria-label": "Pods" });
  const logBox = h("pre", { class: "log", id: "log", tabindex: "0", "aria-live": "off" });
  const params = h("tbody");
  const charts = h("div", { class: "grid", id: "charts" });
  const noMetrics = h("p", { class: "muted", id: "no-metrics", text: "No metrics recorded yet." });
  main.append(header, facts,
    h("h2", { text: "Metrics" }), noMetrics, charts,
    h("h2", { text: "Logs" }), logTabs, logBox,
    h("h2", { text: "Pods" }), h("div", { class: "table-wrap" }, h("table", { id: "pods" },
      h("thead", {}, h("tr", {}, ["Pod", "Role", "Status", "Lines"].map((t) => h("th", { scope: "col", text: t })))), pods)),
    h("h2", { text: "Params" }), h("div", { class: "table-wrap" }, h("table", { id: "params" },
      h("thead", {}, h("tr", {}, ["Key", "Value", "Worker"].map((t) => h("th", { scope: "col", text: t })))), params)),
    h("h2", { text: "Spec" }), specTabs, specBox);

  const showSpec = () => {
    if (!experiment) return;
    specBox.textContent = specFormat === "json"
      ? JSON.stringify(experiment.spec, null, 2)
      : toYaml(experiment.spec).replace(/^\n/, "");
  };

  const showExperiment = () => {
    const meta = experiment.spec.meta || {};
    header.replaceChildren(h("h1", {}, `${meta.name || id} `, badge(experiment.status)));
    facts.replaceChildren(...[
      ["Id", id], ["Framework", meta.framework], ["Command", meta.cmd],
      ["Accepted", fmtTime(experiment.acceptedTime)], ["Running", fmtTime(experiment.runningTime)],
      ["Finished", fmtTime(experiment.finishedTime)], ["Duration", duration(experiment)],
    ].map(([k, v]) => h("div", {}, h("dt", { text: k }), h("dd", { text: v || "–" }))));
    showSpec();
  };

  // Logs, followed through the log-stream extension (a cursor and a long poll).
  const lines = new Map();
  let shownPod = null;
  const podStatus = (name) => {
    const text = (lines.get(name) || []).slice(-3).join("\n");
    if (/exited with 0|exit code 0|succeeded/i.test(text) && experiment && TERMINAL.has(experiment.status)) return "Succeeded";
    return experiment ? experiment.status : "";
  };
  const showPods = () => {
    for (const name of lines.keys()) {
      let row = pods.querySelector(`tr[data-pod="${name}"]`);
      if (!row) {
        const role = (name.match(/-([a-z]+)-(\d+)$/) || [])[1] || "";
        row = h("tr", { "data-pod": name }, h("td", { class: "id", text: name }), h("td", { text: role }),
          h("td", { "data-col": "status" }), h("td", { "data-col": "lines" }));
        pods.append(row);
        logTabs.append(h("button", { type: "button", role: "tab", "data-pod": name, "aria-selected": "false",
          onclick: () => selectPod(name) }, name.slice(id.length + 1) || name));
      }
      row.querySelector('[data-col="status"]').replaceChildren(badge(podStatus(name)));
      row.querySelector('[data-col="lines"]').textContent = String(lines.get(name).length);
    }
    if (!shownPod && lines.size) selectPod([...lines.keys()][0]);
  };
  const selectPod = (name) => {
    shownPod = name;
    logTabs.querySelectorAll("button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.pod === name)));
    logBox.textContent = (lines.get(name) || []).join("\n");
    logBox.scrollTop = logBox.scrollHeight;
  };
  const appendLines = (name, added) => {
    if (!lines.has(name)) lines.set(name, []);
    lines.get(name).push(...added);
    if (name === shownPod && added.length) {
      const atEnd = logBox.scrollTop + logBox.clientHeight >= logBox.scrollHeight - 4;
      logBox.append((logBox.textContent ? "\n" : "") + added.join("\n"));
      if (atEnd) logBox.scrollTop = logBox.scrollHeight;
    }
  };

  let stopped = false;
  const follow = async () => {
    let cursor = "";
    while (!stopped) {
      let chunk;
      try {
        const query = new URLSearchParams({ wait: "10" });
        if (cursor) query.set("cursor", cursor);
        chunk = await api("GET", `${API}/${encodeURIComponent(id)}/log-stream?${query}`);
      } catch (exc) {
        if (stopped) return;
        if (exc.status === 404) return;
        toast(exc.message);
        await new Promise((r) => setTimeout(r, 2000));
        continue;
      }
      if (stopped) return;
      for (const pod of chunk.pods) appendLines(pod.podName, pod.lines);
      cursor = chunk.cursor || cursor;
      showPods();
      if (TERMINAL.has(chunk.status) && !chunk.more) return;
    }
  };

  // Metrics and params, read again while the experiment runs.
  const chartsByKey = new Map();
  const refreshMetrics = async () => {
    const [metrics, recorded] = await Promise.all([
      api("POST", "/api/metric/selective", { id }),
      api("POST", "/api/param/selective", { id }),
    ]);
    const byKey = groupMetrics(metrics || [], (m) => m.workerIndex || "worker-0");
    noMetrics.hidden = byKey.size > 0;
    for (const [key, series] of byKey) {
      if (!chartsByKey.has(key)) {
        const box = h("figure", { class: "chart", "data-key": key });
        chartsByKey.set(key, box);
        charts.append(box);
      }
      drawChart(chartsByKey.get(key), key, series);
    }
    params.replaceChildren(...(recorded || []).map((p) =>
      h("tr", {}, h("td", { text: p.key }), h("td", { text: p.value }), h("td", { text: p.workerIndex }))));
    if (!recorded || !recorded.length) params.append(h("tr", {}, h("td", { colspan: "3", class: "muted", text: "No params recorded." })));
  };

  let finishedReads = 0;
  const stopPolling = poller(async () => {
    try {
      experiment = await api("GET", `${API}/${encodeURIComponent(id)}`);
    } catch (exc) {
      if (exc.status === 404) {
        header.replaceChildren(h("h1", { text: id }), h("p", { class: "error", text: "There is no such experiment (deleted?)." }));
        return false;
      }
      throw exc;
    }
    showExperiment();
    showPods();
    await refreshMetrics();
    if (TERMINAL.has(experiment.status)) finishedReads += 1;
    return finishedReads < 2;
  }, 1500);
  follow();
  return () => {
    stopped = true;
    stopPolling();
  };
}

function groupMetrics(metrics, seriesName) {
  const byKey = new Map();
  for (const metric of metrics) {
    if (!byKey.has(metric.key)) byKey.set(metric.key, new Map());
    const series = byKey.get(metric.key);
    const name = seriesName(metric);
    if (!series.has(name)) series.set(name, []);
    const points = series.get(name);
    const x = metric.step === null || metric.step === undefined ? points.length : metric.step;
    if (metric.value !== null && metric.value !== undefined) points.push([x, metric.value]);
  }
  return byKey;
}

// A line chart: one polyline per series, axes with a few ticks, a legend.
function drawChart(box, title, series) {
  const width = 560;
  const height = 260;
  const pad = { left: 52, right: 12, top: 10, bottom: 28 };
  const all = [...series.values()].flat();
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (!all.length) [x0, x1, y0, y1] = [0, 1, 0, 1];
  if (x0 === x1) x1 = x0 + 1;
  if (y0 === y1) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const sx = (x) => pad.left + ((x - x0) / (x1 - x0)) * (width - pad.left - pad.right);
  const sy = (y) => height - pad.bottom - ((y - y0) / (y1 - y0)) * (height - pad.top - pad.bottom);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `${title}: ${series.size} line(s), ${all.length} points` });
  chart.append(svg("line", { class: "axis", x1: pad.left, y1: height - pad.bottom, x2: width - pad.right, y2: height - pad.bottom }));
  chart.append(svg("line", { class: "axis", x1: pad.left, y1: pad.top, x2: pad.left, y2: height - pad.bottom }));
  for (let i = 0; i <= 4; i += 1) {
    const y = y0 + ((y1 - y0) * i) / 4;
    const label = svg("text", { x: pad.left - 6, y: sy(y) + 4, "text-anchor": "end" });
    label.textContent = Math.abs(y) >= 10000 || (Math.abs(y) < 0.01 && y !== 0) ? y.toExponential(1) : String(+y.toPrecision(3));
    chart.append(label, svg("line", { class: "axis", x1: pad.left - 3, y1: sy(y), x2: pad.left, y2: sy(y) }));
  }
  // Steps are whole numbers: ticks on whole numbers, at most five.
  const whole = xs.every(Number.isInteger);
  const ticks = new Set();
  for (let i = 0; i <= 4; i += 1) {
    const x = x0 + ((x1 - x0) * i) / 4;
    ticks.add(whole ? Math.round(x) : +x.toPrecision(3));
  }
  for (const x of ticks) {
    const xl = svg("text", { x: sx(x), y: height - 8, "text-anchor": "middle" });
    xl.textContent = String(x);
    chart.append(xl);
  }
  const legend = h("figcaption", { class: "legend" });
  let index = 0;
  for (const [name, points] of series) {
    const color = PALETTE[index % PALETTE.length];
    index += 1;
    const sorted = [...points].sort((a, b) => a[0] - b[0]);
    const line = svg("polyline", { fill: "none", stroke: color, "stroke-width": "2", "data-series": name,
      points: sorted.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ") });
    chart.append(line);
    if (sorted.length === 1) chart.append(svg("circle", { cx: sx(sorted[0][0]), cy: sy(sorted[0][1]), r: 3, fill: color }));
    const item = h("span", { text: `${name} (${points.length})` });
    item.style.setProperty("--swatch", color);
    legend.append(item);
  }
  box.replaceChildren(h("h3", { text: title }), chart, legend);
}

// -- comparing experiments ------------------------------------------------------------------

function compareView(main, ids) {
  document.title = "Compare · Submarine workbench";
  const charts = h("div", { class: "grid", id: "compare-charts" });
  main.append(h("h1", { text: `Comparing ${ids.length} experiments` }),
    h("p", {}, ids.map((id, i) => [i ? ", " : "", h("a", { href: `#/experiment/${id}`, text: id })])),
    charts);
  const boxes = new Map();
  return poller(async () => {
    const results = await Promise.all(ids.map(async (id) => {
      const [experiment, metrics] = await Promise.all([
        api("GET", `${API}/${encodeURIComponent(id)}`),
        api("POST", "/api/metric/selective", { id }),
      ]);
      return { experiment, metrics: metrics || [] };
    }));
    const merged = [];
    for (const { experiment, metrics } of results) {
      const label = (experiment.spec.meta && experiment.spec.meta.name) || experiment.experimentId;
      for (const metric of metrics) merged.push({ ...metric, series: `${label} ${metric.workerIndex || ""}`.trim() });
    }
    const byKey = groupMetrics(merged, (m) => m.series);
    if (!byKey.size) charts.replaceChildren(h("p", { class: "muted", text: "None of these experiments recorded metrics." }));
    for (const [key, series] of byKey) {
      if (!boxes.has(key)) {
        boxes.set(key, h("figure", { class: "chart", "data-key": key }));
        charts.append(boxes.get(key));
      }
      drawChart(boxes.get(key), key, series);
    }
    return results.some(({ experiment }) => !TERMINAL.has(experiment.status));
  }, 2000);
}

// -- a new experiment -----------------------------------------------------------------------

const EXAMPLE = `meta:
  name: my-experiment
  framework: TensorFlow
  cmd: python train.py
environment:
  image: local
spec:
  Worker:
    replicas: 1
    resources: cpu=1,memory=1024M
`;

function newExperimentView(main) {
  document.title = "New experiment · Submarine workbench";
  let mode = "form";
  const problemsBox = h("ul", { class: "problems", id: "problems", role: "alert" });
  const field = (id, label, input, hint) => h("div", { class: "field" },
    h("label", { for: id, text: label }), input, hint ? h("span", { class: "muted", text: hint }) : null,
    h("p", { class: "error", id: `${id}-error` }));
  const name = h("input", { id: "f-name", required: true, autocomplete: "off", value: "" });
  const framework = h("select", { id: "f-framework" }, Object.keys(ROLES).map((f) => h("option", { value: f, text: f })));
  const cmd = h("input", { id: "f-cmd", placeholder: "python train.py" });
  const image = h("input", { id: "f-image", value: "local" });
  const envVars = h("textarea", { id: "f-env", rows: "3", placeholder: "KEY=value, one a line" });
  const gitUrl = h("input", { id: "f-git", placeholder: "https://github.com/you/repo.git (optional)" });
  const roles = h("div", { id: "f-roles" });
  const rolesError = h("p", { class: "error", id: "f-roles-error" });
  const addRole = (role = "Worker", replicas = "1", resources = "cpu=1,memory=1024M") => {
    const index = roles.children.length;
    const roleSelect = h("select", { "aria-label": `Role ${index + 1}`, class: "role-name" });
    const fill = () => {
      const chosen = roleSelect.value || role;
      roleSelect.replaceChildren(...ROLES[framework.value].map((r) => h("option", { value: r, text: r })));
      roleSelect.value = ROLES[framework.value].includes(chosen) ? chosen : ROLES[framework.value][0];
    };
    fill();
    roleSelect.fill = fill;
    const row = h("div", { class: "role" },
      roleSelect,
      h("input", { type: "number", min: "0", value: replicas, class: "role-replicas", "aria-label": `Replicas of role ${index + 1}` }),
      h("input", { value: resources, class: "role-resources", "aria-label": `Resources of role ${index + 1}` }),
      h("button", { type: "button", "aria-label": `Remove role ${index + 1}`, onclick: () => { row.remove(); check(); } }, "Remove"),
      h("p", { class: "error role-error" }));
    roles.append(row);
  };
  addRole();
  framework.addEventListener("change", () => roles.querySelectorAll(".role-name").forEach((s) => s.fill()));

  const form = h("form", { class: "spec-form panel", id: "spec-form", novalidate: true },
    h("div", { class: "row" },
      field("f-name", "Name", name, "letters, digits, '-', '_' and '.'; stored lower-case"),
      field("f-framework", "Framework", framework)),
    h("div", { class: "row" },
      field("f-cmd", "Command", cmd, "run in every replica"),
      field("f-image", "Image", image)),
    h("fieldset", {}, h("legend", { text: "Roles: replicas and resources" }), roles,
      h("button", { type: "button", onclick: () => { addRole(); check(); } }, "Add role"), rolesError),
    h("div", { class: "row" }, field("f-env", "Environment variables", envVars), field("f-git", "Git repository", gitUrl)));

  const text = h("textarea", { id: "spec-text", rows: "18", spellcheck: "false", "aria-label": "Spec as YAML or JSON" });
  text.value = EXAMPLE;
  const upload = h("input", { type: "file", id: "spec-file", accept: ".yaml,.yml,.json,application/json,application/yaml" });
  upload.addEventListener("change", async () => {
    if (upload.files.length) {
      text.value = await upload.files[0].text();
      check();
    }
  });
  const editor = h("div", { class: "panel", id: "spec-editor", hidden: true },
    h("div", { class: "field" }, h("label", { for: "spec-file", text: "Upload a spec file" }), upload),
    h("div", { class: "field" }, h("label", { for: "spec-text", text: "Or paste it (YAML or JSON)" }), text));

  const tabs = h("div", { class: "tabs", role: "tablist", "aria-label": "How to give the spec" },
    [["form", "Form"], ["text", "YAML / JSON"]].map(([key, label]) => h("button", {
      type: "button", role: "tab", "data-mode": key, "aria-selected": String(key === mode),
      onclick: () => {
        mode = key;
        tabs.querySelectorAll("button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.mode === mode)));
        form.hidden = mode !== "form";
        editor.hidden = mode !== "text";
        check();
      } }, label)));
  const create = h("button", { type: "button", class: "primary", id: "create", onclick: () => submit() }, "Create experiment");
  main.append(h("h1", { text: "New experiment" }), tabs, form, editor, problemsBox, h("div", { class: "actions" }, create));

  const document_ = () => {
    if (mode === "text") {
      const raw = text.value;
      return raw.trim().startsWith("{") ? [raw, "application/json"] : [raw, "application/yaml"];
    }
    const spec = {};
    for (const row of roles.children) {
      spec[row.querySelector(".role-name").value] = {
        replicas: Number(row.querySelector(".role-replicas").value),
        resources: row.querySelector(".role-resources").value.trim(),
      };
    }
    const meta = { name: name.value.trim(), framework: framework.value, cmd: cmd.value.trim() };
    const env = {};
    for (const line of envVars.value.split("\n")) {
      if (!line.trim()) continue;
      const at = line.indexOf("=");
      env[at < 0 ? line.trim() : line.slice(0, at).trim()] = at < 0 ? "" : line.slice(at + 1);
    }
    if (Object.keys(env).length) meta.envVars = env;
    const documentBody = { meta, environment: { image: image.value.trim() }, spec };
    if (gitUrl.value.trim()) documentBody.code = { syncMode: "git", git: { url: gitUrl.value.trim() } };
    return [documentBody, "application/json"];
  };

  const fieldFor = (loc) => {
    const [top, second] = loc;
    if (top === "meta" && second === "name") return name;
    if (top === "meta" && second === "framework") return framework;
    if (top === "meta" && second === "cmd") return cmd;
    if (top === "meta" && second === "envVars") return envVars;
    if (top === "environment") return image;
    if (top === "code") return gitUrl;
    if (top === "spec" && second !== undefined) {
      const row = [...roles.children].find((r) => r.querySelector(".role-name").value === second);
      if (row) {
        if (loc[2] === "replicas") return row.querySelector(".role-replicas");
        if (loc[2] === "resources") return row.querySelector(".role-resources");
        return row.querySelector(".role-name");
      }
    }
    return null;
  };

  const show = (problems) => {
    main.querySelectorAll(".error").forEach((e) => { e.textContent = ""; });
    main.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
    problemsBox.replaceChildren();
    for (const problem of problems) {
      const input = mode === "form" ? fieldFor(problem.loc || []) : null;
      if (input) {
        input.setAttribute("aria-invalid", "true");
        const box = input.id ? document.getElementById(`${input.id}-error`) : input.closest(".role").querySelector(".role-error");
        box.textContent = (box.textContent ? box.textContent + " " : "") + problem.message;
        if (input.id) input.setAttribute("aria-describedby", `${input.id}-error`);
      } else if (mode === "form" && (problem.loc || [])[0] === "spec") {
        rolesError.textContent = `${problem.path}: ${problem.message}`;
      } else {
        problemsBox.append(h("li", { text: `${problem.path}: ${problem.message}` }));
      }
    }
    create.disabled = problems.length > 0;
  };

  let checking = 0;
  const check = async () => {
    const ticket = ++checking;
    const [body, type] = document_();
    try {
      const result = await api("POST", `${API}/validate`, body, type);
      if (ticket === checking) show(result.problems);
      return result.valid;
    } catch (exc) {
      if (ticket === checking) show([{ path: "(spec)", loc: [], message: exc.message }]);
      return false;
    }
  };
  let timer = null;
  main.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(check, 250);
  });
  main.addEventListener("change", () => {
    clearTimeout(timer);
    timer = setTimeout(check, 50);
  });

  const submit = async () => {
    if (!(await check())) {
      const first = main.querySelector("[aria-invalid='true']");
      if (first) first.focus();
      return;
    }
    const [body, type] = document_();
    create.disabled = true;
    try {
      const experiment = await api("POST", API, body, type);
      location.hash = `#/experiment/${experiment.experimentId}`;
    } catch (exc) {
      show([{ path: "(server)", loc: [], message: exc.message }]);
    } finally {
      create.disabled = false;
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  name.focus();
  return () => clearTimeout(timer);
}

// -- start ----------------------------------------------------------------------------------

document.getElementById("logout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  document.getElementById("logout").hidden = true;
  route();
});
document.getElementById("logout").hidden = !sessionStorage.getItem(TOKEN_KEY);
window.addEventListener("hashchange", route);
route();
