// The workbench's comparing of experiments: their metrics overlaid per key (each series
// named by experiment, short id and worker: two runs of one name stay apart), their params
// (differences first) and last metric values side by side, and a scatter of a param against
// a metric.
"use strict";

// A short id that tells the compared experiments apart: the id's counter ("0001"), or more
// of it when two share a counter.
function shortIds(ids) {
  for (let parts = 1; parts <= 3; parts += 1) {
    const shorts = ids.map((id) => id.split("-").slice(-parts).join("-"));
    if (new Set(shorts).size === ids.length) return new Map(ids.map((id, i) => [id, shorts[i]]));
  }
  return new Map(ids.map((id) => [id, id]));
}

// The distinct values of a param in one experiment, as shown ("0.1" or "0.1, 0.2").
function paramText(params, key) {
  const values = [...new Set(params.filter((p) => p.key === key).map((p) => String(p.value)))];
  return values.length ? values.join(", ") : null;
}

// The last value of a key in one experiment: per worker, the value at its highest x.
function lastValues(workers) {
  const out = [];
  for (const [worker, series] of workers || []) {
    let best = null;
    for (const point of series.points) if (!best || point[0] >= best[0]) best = point;
    if (best) out.push([worker, best[1]]);
  }
  return out;
}

function compareView(main, ids) {
  document.title = "Compare · Submarine workbench";
  ids = [...new Set(ids)];
  const shorts = shortIds(ids);
  const board = chartBoard("compare-charts");
  const runs = h("tbody");
  const paramRows = h("tbody");
  const metricRows = h("tbody");
  const head = () => h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Key" }),
    ids.map((id) => h("th", { scope: "col", "data-id": id, text: label(id) }))));
  const paramHead = h("thead");
  const metricHead = h("thead");
  const scatterParam = h("select", { id: "scatter-param", "aria-label": "Param (x)" });
  const scatterMetric = h("select", { id: "scatter-metric", "aria-label": "Metric (y)" });
  const scatter = h("figure", { class: "chart scatter", id: "scatter" });
  const noMetrics = h("p", { class: "muted", id: "compare-none", hidden: true, text: "None of these experiments recorded metrics." });
  main.append(h("h1", { text: `Comparing ${ids.length} experiments` }),
    h("div", { class: "table-wrap" }, h("table", { id: "compare-runs" },
      h("thead", {}, h("tr", {}, ["", "Experiment", "Id", "Status"].map((t) => h("th", { scope: "col", text: t })))), runs)),
    h("h2", { text: "Metrics" }), noMetrics, board.controls, board.grid,
    h("h2", { text: "Last metric values" }),
    h("div", { class: "table-wrap" }, h("table", { id: "compare-metrics" }, metricHead, metricRows)),
    h("h2", { text: "Params" }), h("p", { class: "muted", text: "Params that differ come first." }),
    h("div", { class: "table-wrap" }, h("table", { id: "compare-params" }, paramHead, paramRows)),
    h("h2", { text: "A param against a metric" }),
    h("div", { class: "toolbar" }, h("label", {}, "Param (x)", scatterParam), h("label", {}, "Metric (y)", scatterMetric)),
    scatter);

  const experiments = new Map();
  const readers = new Map(ids.map((id) => [id, trackingReader(id)]));
  function label(id) {
    const experiment = experiments.get(id);
    const name = experiment && experiment.spec && experiment.spec.meta && experiment.spec.meta.name;
    return `${name || id} (${shorts.get(id)})`;
  }

  const showRuns = () => {
    runs.replaceChildren(...ids.map((id, i) => {
      const experiment = experiments.get(id);
      const swatch = h("span", { class: "swatch" });
      swatch.style.setProperty("--swatch", PALETTE[i % PALETTE.length]);
      return h("tr", { "data-id": id }, h("td", {}, swatch),
        h("td", {}, h("a", { href: `#/experiment/${id}`, text: label(id) })),
        h("td", { class: "id", text: id }),
        h("td", {}, experiment ? badge(experiment.status) : ""));
    }));
    paramHead.replaceChildren(...head().children);
    metricHead.replaceChildren(...head().children);
  };

  const showTables = () => {
    const keys = [...new Set(ids.flatMap((id) => readers.get(id).params.map((p) => p.key)))].sort();
    const rows = keys.map((key) => {
      const values = ids.map((id) => paramText(readers.get(id).params, key));
      return { key, values, differs: new Set(values).size > 1 };
    });
    rows.sort((a, b) => Number(b.differs) - Number(a.differs));
    paramRows.replaceChildren(...rows.map((row) => h("tr", { "data-key": row.key, class: row.differs ? "differs" : null },
      h("th", { scope: "row", text: row.key }), row.values.map((v) => h("td", { text: v === null ? "–" : v })))));
    if (!rows.length) paramRows.append(h("tr", {}, h("td", { colspan: String(ids.length + 1), class: "muted", text: "No params recorded." })));
    const metricKeys = [...new Set(ids.flatMap((id) => [...readers.get(id).metrics.keys()]))].sort();
    metricRows.replaceChildren(...metricKeys.map((key) => h("tr", { "data-key": key }, h("th", { scope: "row", text: key }),
      ids.map((id) => {
        const last = lastValues(readers.get(id).metrics.get(key));
        const text = last.length === 1 ? fmtMetric(last[0][1]) : last.map(([w, v]) => `${fmtMetric(v)} (${w})`).join(" · ");
        return h("td", { text: text || "–" });
      }))));
    const keep = (select, options) => {
      const was = select.value;
      if (select.options.length !== options.length || [...select.options].some((o, i) => o.value !== options[i])) {
        select.replaceChildren(...options.map((o) => h("option", { value: o, text: o })));
        if (options.includes(was)) select.value = was;
      }
    };
    keep(scatterParam, keys);
    keep(scatterMetric, metricKeys);
    drawScatter();
  };

  // Each experiment a dot: x its value of the param (numbers on a scale, anything else
  // one place per value), y its last value of the metric (the mean over its workers).
  const drawScatter = () => {
    const param = scatterParam.value;
    const metric = scatterMetric.value;
    const dots = ids.map((id, i) => {
      const text = paramText(readers.get(id).params, param);
      const last = lastValues(readers.get(id).metrics.get(metric));
      const y = last.length ? last.reduce((sum, [, v]) => sum + v, 0) / last.length : null;
      return { id, i, text, y };
    }).filter((d) => d.text !== null && d.y !== null);
    if (!param || !metric || !dots.length) {
      scatter.replaceChildren(h("p", { class: "muted", text: "No experiment has both a param and a metric to place." }));
      return;
    }
    const numeric = dots.every((d) => d.text.trim() !== "" && Number.isFinite(Number(d.text)));
    const places = [...new Set(dots.map((d) => d.text))].sort((a, b) => (numeric ? Number(a) - Number(b) : a.localeCompare(b)));
    const xOf = (d) => (numeric ? Number(d.text) : places.indexOf(d.text));
    const [width, height, pad] = [560, 260, { left: 60, right: 20, top: 12, bottom: 34 }];
    let [x0, x1] = [Math.min(...dots.map(xOf)), Math.max(...dots.map(xOf))];
    let [y0, y1] = [Math.min(...dots.map((d) => d.y)), Math.max(...dots.map((d) => d.y))];
    if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
    if (y0 === y1) [y0, y1] = [y0 - 0.5, y1 + 0.5];
    const [xPad, yPad] = [(x1 - x0) * 0.06, (y1 - y0) * 0.08]; // no dot on an axis
    [x0, x1, y0, y1] = [x0 - xPad, x1 + xPad, y0 - yPad, y1 + yPad];
    const sx = (x) => pad.left + ((x - x0) / (x1 - x0)) * (width - pad.left - pad.right);
    const sy = (y) => height - pad.bottom - ((y - y0) / (y1 - y0)) * (height - pad.top - pad.bottom);
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${metric} against ${param}: ${dots.length} experiments` });
    chart.append(svg("line", { class: "axis", x1: pad.left, y1: height - pad.bottom, x2: width - pad.right, y2: height - pad.bottom }),
      svg("line", { class: "axis", x1: pad.left, y1: pad.top, x2: pad.left, y2: height - pad.bottom }));
    const text = (x, y, anchor, content) => {
      const node = svg("text", { x, y, "text-anchor": anchor });
      node.textContent = content;
      return node;
    };
    for (const y of [y0 + yPad, (y0 + y1) / 2, y1 - yPad]) chart.append(text(pad.left - 6, sy(y) + 4, "end", fmtMetric(y)));
    const ticks = numeric ? [x0 + xPad, (x0 + x1) / 2, x1 - xPad].map((x) => [x, fmtMetric(x)]) : places.map((p, i) => [i, p]);
    for (const [x, content] of ticks) chart.append(text(sx(x), height - 10, "middle", content));
    for (const d of dots) {
      const dot = svg("circle", { cx: sx(xOf(d)), cy: sy(d.y), r: 6, fill: PALETTE[d.i % PALETTE.length], "data-id": d.id });
      const title = svg("title", {});
      title.textContent = `${label(d.id)}: ${param} ${d.text}, ${metric} ${fmtMetric(d.y)}`;
      dot.append(title);
      chart.append(dot);
    }
    scatter.replaceChildren(h("h3", { text: `${metric} against ${param}` }), chart);
  };
  scatterParam.addEventListener("change", drawScatter);
  scatterMetric.addEventListener("change", drawScatter);

  return poller(async () => {
    await Promise.all(ids.map(async (id) => {
      const [experiment] = await Promise.all([api("GET", `${API}/${encodeURIComponent(id)}`), readers.get(id).read()]);
      experiments.set(id, experiment);
    }));
    showRuns();
    const byKey = new Map();
    ids.forEach((id) => {
      const reader = readers.get(id);
      for (const [key, workers] of reader.metrics) {
        if (!byKey.has(key)) byKey.set(key, []);
        // An experiment's colour (as in the table of runs); its workers after the first dashed.
        [...workers].forEach(([worker, series], w) => {
          byKey.get(key).push({ id: `${id} ${worker}`, label: `${label(id)} ${worker}`, start: reader.start, ...series,
            color: PALETTE[ids.indexOf(id) % PALETTE.length], dash: w ? [6, 3 + 2 * w] : null });
        });
      }
    });
    noMetrics.hidden = byKey.size > 0;
    board.controls.hidden = !byKey.size;
    board.update(byKey);
    showTables();
    return ids.some((id) => !TERMINAL.has(experiments.get(id).status));
  }, 2000);
}
