// The workbench's views of experiments: the list and one experiment (its metrics and params
// in workbench-charts.js, comparing in workbench-compare.js).
"use strict";

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
  const starters = h("ul", { class: "starters", id: "starters" });
  const empty = h("div", { id: "empty", hidden: true },
    h("p", { class: "muted", text: "No experiments yet. Create one with “New experiment”, or start from a template:" }),
    starters);
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
    if (!experiments.length && !offered) offerTemplates();
  };

  // With no experiment yet, each template is one click from a filled-in form.
  let offered = false;
  const offerTemplates = async () => {
    offered = true;
    let templates = [];
    try {
      templates = (await api("GET", TEMPLATE_API)) || [];
    } catch (_) {
      templates = [];
    }
    starters.replaceChildren(...templates.map((t) => t.experimentTemplateSpec).filter(Boolean).map((spec) =>
      h("li", {}, h("a", { href: templateHref(spec.name, true), text: `Run ${spec.name}` }),
        spec.description ? h("span", { class: "muted", text: ` – ${spec.description}` }) : null)));
    if (!templates.length) starters.append(h("li", {}, h("a", { href: "#/templates/new", text: "Create a template" })));
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
  const pods = h("tbody");
  const logTabs = h("div", { class: "tabs", role: "tablist", "aria-label": "Pods" });
  const logBox = h("pre", { class: "log", id: "log", tabindex: "0", "aria-live": "off" });
  const tracking = trackingSection(id);
  main.append(header, facts,
    ...tracking.metricNodes,
    h("h2", { text: "Logs" }), logTabs, logBox,
    h("h2", { text: "Pods" }), h("div", { class: "table-wrap" }, h("table", { id: "pods" },
      h("thead", {}, h("tr", {}, ["Pod", "Role", "Status", "Lines"].map((t) => h("th", { scope: "col", text: t })))), pods)),
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
    await tracking.refresh();
    if (TERMINAL.has(experiment.status)) finishedReads += 1;
    return finishedReads < 2;
  }, 1500);
  follow();
  return () => {
    stopped = true;
    stopPolling();
  };
}
