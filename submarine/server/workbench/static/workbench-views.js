// The workbench's view of one experiment (its metrics and params in workbench-charts.js,
// its logs in workbench-logs.js, comparing in workbench-compare.js; the list is in
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
  const tracking = trackingSection(id);
  main.append(header, actions.node, facts,
    ...tracking.metricNodes,
    h("h2", { text: "Logs" }), logs.view,
    h("h2", { text: "Pods" }), logs.pods,
    ...tracking.paramNodes,
    h("h2", { text: "Spec" }), specTabs, specBox);

  const showSpec = () => {
    if (!experiment) return;
    specBox.textContent = specFormat === "json"
      ? JSON.stringify(experiment.spec, null, 2)
      : toYaml(experiment.spec).replace(/^\n/, "");
  };

  const showExperiment = () => {
    const meta = experiment.spec.meta || {};
    const title = h("h1", {}, `${meta.name || id} `, badge(experiment.status));
    if (experiment.reason) header.replaceChildren(title, h("p", { class: "muted reason", id: "reason", text: experiment.reason }));
    else header.replaceChildren(title);
    facts.replaceChildren(...[
      ["Id", id], ["Framework", meta.framework], ["Command", meta.cmd],
      ["Accepted", fmtTime(experiment.acceptedTime)], ["Running", fmtTime(experiment.runningTime)],
      ["Finished", fmtTime(experiment.finishedTime)], ["Duration", duration(experiment)],
    ].map(([k, v]) => h("div", {}, h("dt", { text: k }), h("dd", { text: v || "–" }))));
    showSpec();
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
    await tracking.refresh();
    if (TERMINAL.has(experiment.status)) finishedReads += 1;
    return finishedReads < 2;
  }, 1500);
  logs.start();
  return () => {
    logs.stop();
    stopPolling();
  };
}
