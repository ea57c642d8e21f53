// The workbench's comparing of experiments: their metrics side by side.
"use strict";

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
