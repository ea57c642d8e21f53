// The workbench's views of experiments: one experiment, charts, comparing (the list is in
// workbench-list.js).
"use strict";

// Asks before deleting; an experiment unless told what else (title and sentence).
function confirmDelete(label, what = null) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = (what && what.title) || "Delete experiment?";
  document.getElementById("confirm-text").textContent =
    (what && what.text) || `“${label}” will be stopped and deleted, with its logs.`;
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
  const logs = logViewer(id, () => experiment);
  const actions = runActions(id, () => experiment);
  const params = h("tbody");
  const charts = h("div", { class: "grid", id: "charts" });
  const noMetrics = h("p", { class: "muted", id: "no-metrics", text: "No metrics recorded yet." });
  main.append(header, actions.node, facts,
    h("h2", { text: "Metrics" }), noMetrics, charts,
    h("h2", { text: "Logs" }), logs.view,
    h("h2", { text: "Pods" }), logs.pods,
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

  // Metrics and params, read a page at a time: each look asks only for what is new.
  const chartsByKey = new Map();
  const tracked = trackingReader(id);
  const refreshMetrics = async () => {
    const changed = await tracked.read();
    noMetrics.hidden = tracked.metrics.size > 0;
    for (const [key, series] of tracked.metrics) {
      if (!chartsByKey.has(key)) {
        const box = h("figure", { class: "chart", "data-key": key });
        chartsByKey.set(key, box);
        charts.append(box);
      } else if (!changed.has(key)) continue;
      drawChart(chartsByKey.get(key), key, series);
    }
    if (changed.has(PARAMS) || !params.childElementCount) {
      params.replaceChildren(...tracked.params.map((p) =>
        h("tr", {}, h("td", { text: p.key }), h("td", { text: p.value }), h("td", { text: p.workerIndex }))));
      if (!tracked.params.length) params.append(h("tr", {}, h("td", { colspan: "3", class: "muted", text: "No params recorded." })));
    }
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
    logs.refresh();
    actions.refresh();
    await refreshMetrics();
    if (TERMINAL.has(experiment.status)) finishedReads += 1;
    return finishedReads < 2;
  }, 1500);
  logs.start();
  return () => {
    logs.stop();
    stopPolling();
  };
}

// An experiment's metrics and params as they are recorded, read through the paged routes
// (GET /api/metric/page, /api/param/page): each read asks only for what came after the
// cursor of the last one. Metrics are kept per key, then per worker, as [x, y] points.
const PARAMS = Symbol("params");
const PAGES_PER_READ = 20;

function trackingReader(id) {
  const metrics = new Map();
  const params = [];
  const cursors = { metric: "", param: "" };
  const readKind = async (kind, take) => {
    for (let pages = 0; pages < PAGES_PER_READ; pages += 1) {
      const query = new URLSearchParams({ id });
      if (cursors[kind]) query.set("cursor", cursors[kind]);
      const page = await api("GET", `/api/${kind}/page?${query}`);
      for (const series of page.series || []) take(series);
      cursors[kind] = page.cursor || cursors[kind];
      if (!page.more) return;
    }
  };
  return {
    metrics,
    params,
    // Reads what is new; answers the keys whose series changed (PARAMS for the params).
    async read() {
      const changed = new Set();
      await Promise.all([
        readKind("metric", (series) => {
          if (!metrics.has(series.key)) metrics.set(series.key, new Map());
          const byWorker = metrics.get(series.key);
          const name = series.workerIndex || "worker-0";
          if (!byWorker.has(name)) byWorker.set(name, []);
          const points = byWorker.get(name);
          for (const [step, value] of series.points || []) {
            // A metric logged without a step has step 0 (null from older servers): such
            // points are drawn in the order they came.
            const unstepped = step === null || step === undefined || (step === 0 && points.length);
            const x = unstepped ? points.length : step;
            // NaN comes as null, an infinity as +-Number.MAX_VALUE: neither can be drawn.
            const drawn = Number.isFinite(value) && Math.abs(value) !== Number.MAX_VALUE;
            if (drawn) points.push([x, value]);
          }
          changed.add(series.key);
        }),
        readKind("param", (series) => {
          for (const value of series.values || []) params.push({ key: series.key, value, workerIndex: series.workerIndex });
          changed.add(PARAMS);
        }),
      ]);
      return changed;
    },
  };
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
  const readers = new Map(ids.map((id) => [id, trackingReader(id)]));
  return poller(async () => {
    const results = await Promise.all(ids.map(async (id) => {
      const reader = readers.get(id);
      const [experiment] = await Promise.all([api("GET", `${API}/${encodeURIComponent(id)}`), reader.read()]);
      return { experiment, reader };
    }));
    const byKey = new Map();
    for (const { experiment, reader } of results) {
      const label = (experiment.spec.meta && experiment.spec.meta.name) || experiment.experimentId;
      for (const [key, series] of reader.metrics) {
        if (!byKey.has(key)) byKey.set(key, new Map());
        for (const [worker, points] of series) byKey.get(key).set(`${label} ${worker}`.trim(), points);
      }
    }
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

