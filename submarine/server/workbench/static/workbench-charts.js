// The workbench's charts: an experiment's metrics and params as they are recorded, and
// drawing them with uPlot (built into the package from npm: static/vendor/).
"use strict";

// The metrics and params of one experiment's page: the nodes to show (metrics, params) and
// a refresh that reads what is new and draws what changed.
function trackingSection(id) {
  const params = h("tbody");
  const board = chartBoard("charts", async (key, start, end) => tracked.readRange(key, start, end));
  const noMetrics = h("p", { class: "muted", id: "no-metrics", text: "No metrics recorded yet." });
  const tracked = trackingReader(id);
  const refresh = async () => {
    const changed = await tracked.read();
    noMetrics.hidden = tracked.metrics.size > 0;
    board.controls.hidden = !tracked.metrics.size;
    const byKey = new Map();
    for (const [key, workers] of tracked.metrics) {
      if (!changed.has(key)) continue;
      byKey.set(key, [...workers].map(([worker, series]) => ({ id: worker, label: worker, start: tracked.start, ...series })));
    }
    board.update(byKey);
    if (changed.has(PARAMS) || !params.childElementCount) {
      params.replaceChildren(...tracked.params.map((p) =>
        h("tr", {}, h("td", { text: p.key }), h("td", { text: p.value }), h("td", { text: p.workerIndex }))));
      if (!tracked.params.length) params.append(h("tr", {}, h("td", { colspan: "3", class: "muted", text: "No params recorded." })));
    }
  };
  return {
    metricNodes: [h("h2", { text: "Metrics" }), noMetrics, board.controls, board.grid],
    paramNodes: [h("h2", { text: "Params" }), h("div", { class: "table-wrap" }, h("table", { id: "params" },
      h("thead", {}, h("tr", {}, ["Key", "Value", "Worker"].map((t) => h("th", { scope: "col", text: t })))), params))],
    refresh,
    stop: () => board.stop(),
  };
}

// An experiment's metrics and params as they are recorded. The first read of metrics asks
// the server for them thinned to a few points a pixel (GET /api/metric/page?buckets=N:
// each bucket's first, last, lowest and highest), then each read asks only for what came
// after the cursor of the last one (the paged reads). A series that grew well past what a
// chart shows is read thinned again. Metrics are kept per key, then per worker:
// { points: [[x, value, ms]], count, thinned } (x: the step, or for a metric logged
// without steps its place in the order it came).
const PARAMS = Symbol("params");
const PAGES_PER_READ = 20;
const BUCKETS = 1000;
const REREAD_AFTER = 8 * BUCKETS; // points added since a thinned read that call for another

function trackingReader(id) {
  const metrics = new Map();
  const params = [];
  const cursors = { metric: "", param: "" };
  let added = 0; // points added by pages since the last thinned read
  const reader = { metrics, params, start: null };

  const take = (series, changed) => {
    if (!metrics.has(series.key)) metrics.set(series.key, new Map());
    const byWorker = metrics.get(series.key);
    const name = series.workerIndex || "worker-0";
    if (!byWorker.has(name)) byWorker.set(name, { points: [], count: 0, thinned: false });
    const kept = byWorker.get(name);
    for (const [step, value, ms, index] of series.points || []) {
      const place = index === undefined ? kept.count : index;
      kept.count = Math.max(kept.count, place + 1);
      if (ms && (reader.start === null || ms < reader.start)) reader.start = ms;
      // A metric logged without a step has step 0 (null from older servers): such points
      // are drawn in the order they came.
      const unstepped = step === null || step === undefined || (step === 0 && place > 0);
      // NaN comes as null, an infinity as +-Number.MAX_VALUE: neither can be drawn.
      if (Number.isFinite(value) && Math.abs(value) !== Number.MAX_VALUE) kept.points.push([unstepped ? place : step, value, ms]);
    }
    if (series.count !== undefined) {
      kept.count = series.count;
      kept.thinned = series.count > (series.points || []).length;
    }
    changed.add(series.key);
  };

  const readKind = async (kind, changed, takeOne) => {
    for (let pages = 0; pages < PAGES_PER_READ; pages += 1) {
      const query = new URLSearchParams({ id });
      if (cursors[kind]) query.set("cursor", cursors[kind]);
      const page = await api("GET", `/api/${kind}/page?${query}`);
      for (const series of page.series || []) takeOne(series, changed);
      cursors[kind] = page.cursor || cursors[kind];
      if (!page.more) return;
    }
  };

  // Every metric, thinned; what the reader held is replaced.
  const readThinned = async (changed) => {
    const answer = await api("GET", `/api/metric/page?${new URLSearchParams({ id, buckets: String(BUCKETS) })}`);
    for (const key of metrics.keys()) changed.add(key);
    metrics.clear();
    for (const series of answer.series || []) take(series, changed);
    cursors.metric = answer.cursor || "";
    added = 0;
  };

  // A key's points between two steps, thinned again: what a zoomed chart shows. Answers
  // per worker the points [[step, value, ms]].
  reader.readRange = async (key, start, end) => {
    const query = new URLSearchParams({ id, key, buckets: String(BUCKETS), start: String(start), end: String(end) });
    const answer = await api("GET", `/api/metric/page?${query}`);
    const out = new Map();
    for (const series of answer.series || []) {
      out.set(series.workerIndex || "worker-0", (series.points || [])
        .filter(([, value]) => Number.isFinite(value) && Math.abs(value) !== Number.MAX_VALUE)
        .map(([step, value, ms]) => [step, value, ms]));
    }
    return out;
  };

  // Reads what is new; answers the keys whose series changed (PARAMS for the params).
  reader.read = async () => {
    const changed = new Set();
    const metricRead = async () => {
      if (!cursors.metric || added > REREAD_AFTER) return readThinned(changed);
      return readKind("metric", changed, (series, into) => {
        added += (series.points || []).length;
        take(series, into);
      });
    };
    await Promise.all([
      metricRead(),
      readKind("param", changed, (series, into) => {
        for (const value of series.values || []) params.push({ key: series.key, value, workerIndex: series.workerIndex });
        into.add(PARAMS);
      }),
    ]);
    return changed;
  };
  return reader;
}

// -- drawing ----------------------------------------------------------------------------------

// Charts of several keys sharing their controls: smoothing, the x axis, a log scale.
// update(byKey) draws each key given: a list of series { id, label, points: [[x, y, ms]],
// start (ms, the x of relative time 0), count, thinned, and optionally color and dash }.
function chartBoard(gridId, refine = null) {
  const grid = h("div", { class: "grid", id: gridId });
  const settings = { smoothing: 0, x: "step", log: false };
  const charts = new Map();
  const smoothing = h("input", { type: "range", id: `${gridId}-smoothing`, class: "smoothing", min: "0", max: "0.99", step: "0.01", value: "0",
    "aria-label": "Smoothing" });
  const shown = h("output", { for: smoothing.id, text: "0" });
  const xAxis = h("select", { id: `${gridId}-x-axis`, class: "x-axis", "aria-label": "X axis" },
    [["step", "Step"], ["relative", "Relative time"], ["wall", "Wall time"]].map(([value, text]) => h("option", { value, text })));
  const log = h("input", { type: "checkbox", id: `${gridId}-log`, class: "log-scale" });
  const controls = h("div", { class: "toolbar chart-controls", id: `${gridId}-controls` },
    h("label", {}, "Smoothing", h("span", { class: "smoothing-box" }, smoothing, shown)),
    h("label", {}, "X axis", xAxis),
    h("label", { class: "check" }, log, "Log scale"));
  const redraw = () => { for (const chart of charts.values()) chart.draw(settings); };
  smoothing.addEventListener("input", () => {
    settings.smoothing = Number(smoothing.value);
    shown.textContent = smoothing.value;
    redraw();
  });
  xAxis.addEventListener("change", () => { settings.x = xAxis.value; redraw(); });
  log.addEventListener("change", () => { settings.log = log.checked; redraw(); });
  let width = 0;
  let attached = false;
  const stop = () => {
    resize.disconnect();
    for (const chart of charts.values()) chart.destroy();
  };
  // Charts of a page left are let go (uPlot listens on the window).
  const resize = new ResizeObserver(() => {
    if (!grid.isConnected) {
      if (attached) stop();
      return;
    }
    attached = true;
    const first = grid.querySelector("figure.chart");
    const now = first ? first.clientWidth : 0;
    if (now && Math.abs(now - width) > 4) {
      width = now;
      for (const chart of charts.values()) chart.resize();
    }
  });
  resize.observe(grid);
  return {
    grid,
    controls,
    update(byKey) {
      for (const [key, series] of byKey) {
        if (!charts.has(key)) {
          const chart = keyChart(key, refine);
          charts.set(key, chart);
          grid.append(chart.box);
        }
        charts.get(key).setSeries(series, settings);
      }
    },
    stop,
  };
}

// Exponential moving average, debiased as TensorBoard's (the first points are not pulled
// towards zero); weight 0 is the series itself.
function emaSmoothed(ys, weight) {
  if (!weight) return ys;
  const out = new Array(ys.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < ys.length; i += 1) {
    const y = ys[i];
    if (y === null || !Number.isFinite(y)) { out[i] = null; continue; }
    last = last * weight + (1 - weight) * y;
    n += 1;
    out[i] = last / (1 - weight ** n);
  }
  return out;
}

// A series' points as sorted columns for an x axis mode: xs, ys (and raw times).
function seriesColumns(series, mode) {
  const points = series.points.slice();
  const start = series.start || (points.length ? Math.min(...points.slice(0, 1000).map((p) => p[2] || Infinity)) : 0);
  const xOf = mode === "wall" ? (p) => p[2] / 1000 : mode === "relative" ? (p) => (p[2] - start) / 1000 : (p) => p[0];
  const sortable = points.map((p) => [xOf(p), p[1]]).filter((p) => Number.isFinite(p[0]));
  sortable.sort((a, b) => a[0] - b[0]);
  return { xs: sortable.map((p) => p[0]), ys: sortable.map((p) => p[1]) };
}

// The value a sorted series has at x: its last point at or before x (none before its first).
function seriesValueAt(xs, ys, x) {
  let low = 0;
  let high = xs.length - 1;
  if (high < 0 || x < xs[0]) return null;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (xs[mid] <= x) low = mid; else high = mid - 1;
  }
  return ys[low];
}

function fmtMetric(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  const size = Math.abs(value);
  return size !== 0 && (size >= 1e6 || size < 1e-3) ? value.toExponential(3) : String(+value.toPrecision(5));
}

function fmtChartX(x, mode) {
  if (x === null || !Number.isFinite(x)) return "–";
  if (mode === "wall") return new Date(x * 1000).toLocaleString();
  if (mode === "relative") return `${+x.toFixed(1)} s`;
  return `step ${+x.toPrecision(10)}`;
}

function chartCssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

// One key's chart: a uPlot canvas (drag to zoom, double-click or "Reset zoom" to see it
// all), the values under the cursor and each series' last, min and max in a table.
function keyChart(key, refine = null) {
  const plot = h("div", { class: "plot", role: "img" });
  const reset = h("button", { type: "button", class: "reset-zoom", hidden: true }, "Reset zoom");
  const at = h("span", { class: "muted hover-x", text: "" });
  const rows = h("tbody");
  const note = h("p", { class: "muted chart-note", hidden: true });
  const box = h("figure", { class: "chart", "data-key": key },
    h("div", { class: "chart-head" }, h("h3", { text: key }), at, reset),
    plot, note,
    h("table", { class: "stats" }, h("thead", {}, h("tr", {},
      ["Series", "Value", "Last", "Min", "Max"].map((t) => h("th", { scope: "col", text: t })))), rows));
  let u = null;
  let shape = "";
  let series = [];
  let settings = null;
  let cols = []; // per series: { xs, ys, smooth }
  let extent = [0, 1];
  let zoomed = false;
  let detail = null; // { start, end, points: Map(series id -> points) } read for a zoom
  let asked = 0;

  // Zoomed into a thinned series by step: its points in the window, read thinned again.
  const sharpen = () => {
    const ticket = ++asked;
    if (!zoomed || !refine || settings.x !== "step" || !series.some((s) => s.thinned)) {
      if (detail && !zoomed) { detail = null; this_draw(); }
      return;
    }
    const [start, end] = [Math.floor(u.scales.x.min), Math.ceil(u.scales.x.max)];
    if (detail && detail.start === start && detail.end === end) return;
    setTimeout(async () => {
      if (ticket !== asked) return;
      try {
        const points = await refine(key, start, end);
        if (ticket !== asked) return;
        detail = { start, end, points };
        this_draw();
        box.dataset.sharpened = `${start}..${end}`;
      } catch (exc) {
        toast(exc.message);
      }
    }, 250);
  };
  let this_draw = () => {};

  const hover = (x) => {
    at.textContent = x === null ? "" : fmtChartX(x, settings.x);
    cols.forEach((col, i) => {
      const cell = rows.children[i] && rows.children[i].querySelector('[data-col="value"]');
      if (!cell) return;
      cell.textContent = x === null ? "" : fmtMetric(seriesValueAt(col.xs, settings.smoothing ? col.smooth : col.ys, x));
    });
  };

  const stats = () => {
    rows.replaceChildren(...series.map((s, i) => {
      const ys = s.points.map((p) => p[1]);
      let low = Infinity;
      let high = -Infinity;
      for (const y of ys) { if (y < low) low = y; if (y > high) high = y; }
      const last = cols[i].ys.length ? cols[i].ys[cols[i].ys.length - 1] : null;
      const swatch = h("span", { class: "swatch" });
      swatch.style.setProperty("--swatch", s.color || PALETTE[i % PALETTE.length]);
      if (s.dash) swatch.classList.add("dashed");
      return h("tr", { "data-series": s.label },
        h("th", { scope: "row" }, swatch, s.label, s.thinned ? h("span", { class: "muted", text: ` (${s.count} points, thinned)` }) : ` (${s.count})`),
        h("td", { "data-col": "value" }), h("td", { "data-col": "last", text: fmtMetric(last) }),
        h("td", { "data-col": "min", text: fmtMetric(ys.length ? low : null) }),
        h("td", { "data-col": "max", text: fmtMetric(ys.length ? high : null) }));
    }));
  };

  const markZoom = () => {
    const scale = u.scales.x;
    zoomed = scale.min > extent[0] + 1e-9 * Math.abs(extent[0] || 1) || scale.max < extent[1] - 1e-9 * Math.abs(extent[1] || 1);
    reset.hidden = !zoomed;
    box.dataset.zoomed = String(zoomed);
    box.dataset.xMin = String(scale.min);
    box.dataset.xMax = String(scale.max);
  };

  const data = () => {
    cols = series.map((s) => {
      const finer = detail && settings.x === "step" && detail.points.get(s.id);
      const shown = finer
        ? { ...s, points: s.points.filter((p) => p[0] < detail.start || p[0] > detail.end).concat(finer) }
        : s;
      const col = seriesColumns(shown, settings.x);
      if (settings.log) col.ys = col.ys.map((y) => (y > 0 ? y : null));
      col.smooth = emaSmoothed(col.ys, settings.smoothing);
      return col;
    });
    const tables = [];
    for (const col of cols) {
      tables.push(settings.smoothing ? [col.xs, col.ys, col.smooth] : [col.xs, col.ys]);
    }
    const joined = tables.length === 1 ? tables[0] : uPlot.join(tables);
    const xs = joined[0];
    extent = xs.length ? [xs[0], xs[xs.length - 1]] : [0, 1];
    if (extent[0] === extent[1]) extent = [extent[0] - 1, extent[1] + 1];
    const dropped = settings.log && series.some((s) => s.points.some((p) => p[1] <= 0));
    note.hidden = !dropped;
    note.textContent = dropped ? "Values at or below 0 are not drawn on a log scale." : "";
    return joined;
  };

  const width = () => Math.max(240, (box.clientWidth || 560) - 22);

  const build = (joined) => {
    if (u) u.destroy();
    const muted = chartCssVar("--muted", "#59636e");
    const line = chartCssVar("--line", "#d1d9e0");
    const axis = { stroke: muted, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } };
    const lines = [{}];
    series.forEach((s, i) => {
      const color = s.color || PALETTE[i % PALETTE.length];
      const dash = s.dash ? { dash: s.dash } : {};
      if (settings.smoothing) {
        lines.push({ label: `${s.label} (raw)`, stroke: `${color}40`, width: 1, spanGaps: true, points: { show: false }, ...dash });
        lines.push({ label: s.label, stroke: color, width: 2, spanGaps: true, points: { show: false }, ...dash });
      } else {
        lines.push({ label: s.label, stroke: color, width: 1.5, spanGaps: true, ...dash });
      }
    });
    u = new uPlot({
      width: width(),
      height: 240,
      legend: { show: false },
      cursor: { drag: { x: true, y: false, setScale: true } },
      scales: { x: { time: settings.x === "wall" }, y: { distr: settings.log ? 3 : 1 } },
      axes: [{ ...axis, label: settings.x === "relative" ? "seconds" : undefined }, { ...axis, size: (self, values) => 18 + 7 * Math.max(3, ...(values || []).map((v) => String(v).length)) }],
      series: lines,
      hooks: {
        // The x of the point nearest the cursor (uPlot's snap), as the dots on the lines.
        setCursor: [(chart) => {
          const { left, idx } = chart.cursor;
          if (left === undefined || left < 0) return hover(null);
          return hover(idx === null || idx === undefined ? chart.posToVal(left, "x") : chart.data[0][idx]);
        }],
        setScale: [(chart, scale) => {
          if (scale !== "x") return;
          markZoom();
          sharpen();
        }],
      },
    }, joined, plot);
    box.uplot = u; // for a test, or a look from the console
    markZoom();
  };

  reset.addEventListener("click", () => u && u.setScale("x", { min: extent[0], max: extent[1] }));

  this_draw = () => {
    const joined = data();
    u.setData(joined, false);
    markZoom();
  };

  return {
    box,
    setSeries(next, now) {
      series = next;
      this.draw(now);
    },
    draw(now) {
      settings = now;
      const began = performance.now();
      const joined = data();
      const wanted = JSON.stringify([series.map((s) => s.label), settings]);
      if (!u || wanted !== shape) {
        shape = wanted;
        build(joined);
      } else {
        u.setData(joined, !zoomed);
        if (zoomed) markZoom();
      }
      stats();
      const drawn = series.reduce((sum, s) => sum + s.points.length, 0);
      const total = series.reduce((sum, s) => sum + Math.max(s.count || 0, s.points.length), 0);
      plot.setAttribute("aria-label", `${key}: ${series.length} line(s), ${total} points`);
      box.dataset.points = String(drawn);
      box.dataset.count = String(total);
      box.dataset.drawMs = String(Math.round(performance.now() - began));
      box.dataset.x = settings.x;
      box.dataset.log = String(settings.log);
      box.dataset.smoothing = String(settings.smoothing);
    },
    resize() {
      if (u) u.setSize({ width: width(), height: 240 });
    },
    destroy() {
      if (u) u.destroy();
    },
  };
}
