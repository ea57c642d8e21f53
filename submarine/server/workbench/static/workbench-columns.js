// The experiment list's metric and param columns and filters: each experiment's latest
// metric values (at the highest step over its workers) and params, read from the server's
// summary only when it changed (ETag); a chooser of columns remembered in this browser;
// filters such as `loss < 0.5` (a metric) and `lr = 0.01` or `optimizer ~ sg` (a param).
"use strict";

const SUMMARY_API = "/api/metric/summary";
const COLUMNS_KEY = "submarine-workbench-columns";
const METRIC_OPS = {
  "<": (a, b) => a < b, "<=": (a, b) => a <= b, ">": (a, b) => a > b, ">=": (a, b) => a >= b,
  "=": (a, b) => a === b, "==": (a, b) => a === b, "!=": (a, b) => a !== b,
};

// The chosen columns, as "metric:<key>" or "param:<key>".
function loadColumns() {
  try {
    const stored = JSON.parse(localStorage.getItem(COLUMNS_KEY) || "[]");
    return Array.isArray(stored) ? stored.filter((c) => typeof c === "string" && /^(metric|param):./.test(c)) : [];
  } catch (_) {
    return [];
  }
}

function saveColumns(columns) {
  localStorage.setItem(COLUMNS_KEY, JSON.stringify(columns));
}

function splitColumn(column) {
  const at = column.indexOf(":");
  return { kind: column.slice(0, at), key: column.slice(at + 1) };
}

// An experiment's value in a column: a metric's number (null for NaN), a param's text,
// undefined when it has none.
function columnValue(summary, id, column) {
  const { kind, key } = splitColumn(column);
  const held = summary && summary.experiments[id];
  if (!held) return undefined;
  if (kind === "metric") return held.metrics[key] ? held.metrics[key].value : undefined;
  return held.params[key];
}

// What a column sorts by: numbers as numbers (a param such as "0.01" too), else text.
function columnSortValue(summary, id, column) {
  const value = columnValue(summary, id, column);
  if (value === undefined || value === null) return undefined;
  if (typeof value === "number") return value;
  const text = String(value);
  const number = Number(text);
  return text.trim() && Number.isFinite(number) ? number : text.toLowerCase();
}

function columnText(summary, id, column) {
  const value = columnValue(summary, id, column);
  if (value === undefined) return "";
  if (splitColumn(column).kind === "metric") return value === null ? "NaN" : fmtMetric(value);
  return typeof value === "string" ? value : JSON.stringify(value);
}

// A metric filter: "" (none) or "<key> <op> <number>"; answers a test of an experiment's
// summary, or throws an Error that says what is wrong and what would do.
function metricFilter(text) {
  const trimmed = text.trim();
  if (!trimmed) return null;
  const match = trimmed.match(/^(.+?)\s*(<=|>=|!=|==|<|>|=)\s*(\S+)$/);
  const bound = match ? Number(match[3]) : NaN;
  if (!match || !Number.isFinite(bound)) {
    throw new Error(`Metric filter "${trimmed}" is not valid: write a metric key, one of < <= > >= = != and a number, e.g. loss < 0.5`);
  }
  const [key, op] = [match[1].trim(), METRIC_OPS[match[2]]];
  return (summary, id) => {
    const value = columnValue(summary, id, `metric:${key}`);
    return typeof value === "number" && op(value, bound);
  };
}

// A param filter: "" (none), "<key> = <value>" (equals) or "<key> ~ <text>" (contains, any case).
function paramFilter(text) {
  const trimmed = text.trim();
  if (!trimmed) return null;
  const match = trimmed.match(/^([^=~]+?)\s*(=|~)\s*(.*)$/);
  if (!match || !match[1].trim()) {
    throw new Error(`Param filter "${trimmed}" is not valid: write a param key, = (equals) or ~ (contains) and a value, e.g. lr = 0.01`);
  }
  const [key, contains, wanted] = [match[1].trim(), match[2] === "~", match[3].trim()];
  return (summary, id) => {
    const value = columnValue(summary, id, `param:${key}`);
    if (value === undefined) return false;
    const held = typeof value === "string" ? value : JSON.stringify(value);
    return contains ? held.toLowerCase().includes(wanted.toLowerCase()) : held === wanted;
  };
}

// Every metric and param key the summary knows, as columns, sorted (metrics first).
function knownColumns(summary) {
  const metrics = new Set();
  const params = new Set();
  for (const held of Object.values((summary && summary.experiments) || {})) {
    Object.keys(held.metrics).forEach((k) => metrics.add(k));
    Object.keys(held.params).forEach((k) => params.add(k));
  }
  return [...[...metrics].sort().map((k) => `metric:${k}`), ...[...params].sort().map((k) => `param:${k}`)];
}

// The list's tracking side: the summary (polled; a 304 while unchanged), the chosen
// columns and their chooser, the metric and param filters. `changed` is called whenever
// what the table shows may differ.
function listTracking(changed) {
  let summary = null;
  let columns = loadColumns();
  let tests = [];
  const choices = h("div", { class: "column-choices", id: "column-choices" });
  const chooser = h("details", { class: "columns", id: "columns" }, h("summary", { text: "Columns" }), choices);
  const metric = h("input", { id: "filter-metric", type: "search", placeholder: "loss < 0.5", "aria-label": "Metric filter",
    title: "A metric key, one of < <= > >= = != and a number" });
  const param = h("input", { id: "filter-param", type: "search", placeholder: "lr = 0.01", "aria-label": "Param filter",
    title: "A param key, = (equals) or ~ (contains) and a value" });
  const problem = h("p", { class: "error", id: "filter-error", role: "alert" });

  const renderChoices = () => {
    const all = [...new Set([...knownColumns(summary), ...columns])];
    const wanted = all.join("\u0000");
    if (choices.dataset.all === wanted) return;
    choices.dataset.all = wanted;
    choices.replaceChildren(...(all.length ? all.map((column) => {
      const { kind, key } = splitColumn(column);
      const box = h("input", { type: "checkbox", value: column, checked: columns.includes(column), onchange: () => {
        columns = box.checked ? [...columns, column] : columns.filter((c) => c !== column);
        saveColumns(columns);
        changed();
      } });
      return h("label", { class: "column-choice" }, box, ` ${key} `, h("span", { class: "muted", text: `(${kind})` }));
    }) : [h("span", { class: "muted", text: "No metric or param logged yet" })]));
  };

  const readFilters = () => {
    const found = [];
    const messages = [];
    for (const [input, make] of [[metric, metricFilter], [param, paramFilter]]) {
      try {
        const test = make(input.value);
        if (test) found.push(test);
        input.removeAttribute("aria-invalid");
      } catch (exc) {
        input.setAttribute("aria-invalid", "true");
        messages.push(exc.message);
      }
    }
    tests = found;
    problem.textContent = messages.join(" ");
  };
  metric.addEventListener("input", () => { readFilters(); changed(true); });
  param.addEventListener("input", () => { readFilters(); changed(true); });
  renderChoices();

  let etag = null;
  const stop = poller(async () => {
    let read;
    try {
      read = await apiIfChanged(SUMMARY_API, etag);
    } catch (exc) {
      if (exc.status === 404) return false; // a server without the summary
      throw exc;
    }
    if (!read.changed) return true;
    etag = read.etag;
    summary = read.result;
    renderChoices();
    changed();
    return true;
  }, 2000);

  return {
    nodes: [h("label", {}, "Metric", metric), h("label", {}, "Param", param), chooser],
    problem,
    stop,
    columns: () => columns,
    keep: (experiment) => tests.every((test) => test(summary, experiment.experimentId)),
    sortValue: (experiment, column) => columnSortValue(summary, experiment.experimentId, column),
    text: (experiment, column) => columnText(summary, experiment.experimentId, column),
    label: (column) => splitColumn(column).key,
  };
}
