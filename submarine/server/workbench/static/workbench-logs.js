// The workbench's log viewer of one experiment: its pods' logs, followed through the
// log-stream extension (a cursor and a long poll), and the table of its pods.
"use strict";

// The log viewer of experiment `id`; `experimentOf()` answers the experiment as last read
// (or null). Answers its nodes (view, pods) and refresh, start and stop.
function logViewer(id, experimentOf) {
  const pods = h("tbody");
  const logTabs = h("div", { class: "tabs", role: "tablist", "aria-label": "Pods" });
  const logBox = h("pre", { class: "log", id: "log", tabindex: "0", "aria-live": "off" });
  const podsTable = h("div", { class: "table-wrap" }, h("table", { id: "pods" },
    h("thead", {}, h("tr", {}, ["Pod", "Role", "Status", "Lines"].map((t) => h("th", { scope: "col", text: t })))), pods));
  // Logs, followed through the log-stream extension (a cursor and a long poll).
  const lines = new Map();
  let shownPod = null;
  const podStatus = (name) => {
    const text = (lines.get(name) || []).slice(-3).join("\n");
    if (/exited with 0|exit code 0|succeeded/i.test(text) && experimentOf() && TERMINAL.has(experimentOf().status)) return "Succeeded";
    return experimentOf() ? experimentOf().status : "";
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

  return {
    view: h("div", { class: "logs" }, logTabs, logBox),
    pods: podsTable,
    refresh: showPods,
    start: follow,
    stop: () => { stopped = true; },
  };
}
