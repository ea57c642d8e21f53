// The workbench's experiment list: read only when it changed (ETag), filtered, sorted and
// selected over every experiment, shown a page of rows at a time; bulk delete; run actions
// (clone, rerun, delete) per row; the machine's resources and queue above it.
"use strict";

const LIST_PAGE = 50;
const SORTS = {
  name: (e) => nameOf(e).toLowerCase(),
  status: (e) => e.status || "",
  framework: (e) => (metaOf(e).framework || "").toLowerCase(),
  accepted: (e) => e.acceptedTime || "",
  duration: (e) => (e.runningTime ? (e.finishedTime ? new Date(e.finishedTime) : new Date()) - new Date(e.runningTime) : -1),
};

function metaOf(experiment) {
  return (experiment.spec && experiment.spec.meta) || {};
}

function nameOf(experiment) {
  return metaOf(experiment).name || experiment.experimentId;
}

function tagsOf(experiment) {
  const tags = metaOf(experiment).tags;
  return Array.isArray(tags) ? tags.map(String) : [];
}

function tagChips(tags) {
  return h("span", { class: "tags" }, tags.map((tag) => h("span", { class: "tag", text: tag })));
}

// Starts an experiment again with the same spec; answers the new one's id.
async function rerunExperiment(experiment) {
  const made = await api("POST", API, experiment.spec);
  return made.experimentId;
}

function listView(main) {
  document.title = "Experiments · Submarine workbench";
  const selected = new Set();
  const status = h("select", { id: "filter-status", "aria-label": "Status" },
    h("option", { value: "", text: "All statuses" }),
    STATUSES.map((s) => h("option", { value: s, text: s })));
  const name = h("input", { id: "filter-name", type: "search", placeholder: "Name or id", "aria-label": "Name" });
  const tag = h("select", { id: "filter-tag", "aria-label": "Tag" }, h("option", { value: "", text: "Any tag" }));
  const compare = h("button", { id: "compare", type: "button", disabled: true, onclick: () => {
    location.hash = `#/compare?ids=${[...selected].join(",")}`;
  } }, "Compare selected");
  const bulkDelete = h("button", { id: "delete-selected", type: "button", class: "danger", disabled: true,
    onclick: () => removeSelected() }, "Delete selected");
  const count = h("span", { class: "muted", id: "count" });
  const body = h("tbody");
  const all = h("input", { type: "checkbox", id: "select-all", "aria-label": "Select every shown experiment",
    onchange: () => {
      for (const e of shown) {
        if (all.checked) selected.add(e.experimentId); else selected.delete(e.experimentId);
      }
      renderPage();
    } });
  const pager = h("div", { class: "pager", id: "pager" });
  const starters = h("ul", { class: "starters", id: "starters" });
  const empty = h("div", { id: "empty", hidden: true },
    h("p", { class: "muted", text: "No experiments yet. Create one with “New experiment”, or start from a template:" }),
    starters);
  let sortKey = "accepted";
  let sortDescending = true;
  const tracking = listTracking((filtered) => {
    if (filtered) page = 0;
    apply();
  });
  const header = (key, title, cls) => {
    if (!key) return h("th", { scope: "col", class: cls, text: title });
    const button = h("button", { type: "button", class: "sort", "data-sort": key, onclick: () => {
      sortDescending = sortKey === key ? !sortDescending : key === "accepted" || key === "duration" || key.startsWith("metric:");
      sortKey = key;
      apply();
    } }, title);
    return h("th", { scope: "col", class: cls, "data-sort": key }, button);
  };
  const strip = resourcesStrip();
  // The header: the fixed columns, then the chosen metric and param columns.
  const headRow = h("tr");
  const renderHead = () => {
    const chosen = tracking.columns();
    if (headRow.dataset.cols === chosen.join("\u0000") && headRow.children.length) return;
    headRow.dataset.cols = chosen.join("\u0000");
    headRow.replaceChildren(
      h("th", { scope: "col", class: "check" }, all),
      header("name", "Name"), header("status", "Status"), header("framework", "Framework", "hide-narrow"),
      header("accepted", "Accepted", "hide-narrow"), header("duration", "Duration", "hide-phone"),
      ...chosen.map((column) => header(column, tracking.label(column), "tracked")),
      header(null, "Actions", "actions-col"));
  };
  main.append(
    h("h1", { text: "Experiments" }),
    strip.node,
    h("div", { class: "toolbar" },
      h("label", {}, "Status", status), h("label", {}, "Name", name), h("label", {}, "Tag", tag),
      tracking.nodes, compare, bulkDelete, count),
    tracking.problem,
    h("div", { class: "table-wrap list-wrap" }, h("table", { id: "experiments" },
      h("caption", { class: "skip", text: "Experiments" }),
      h("thead", {}, headRow),
      body)),
    pager,
    empty);

  let experiments = [];
  let shown = [];
  let page = 0;
  let etag = null;
  const rows = new Map();

  const refreshSelection = () => {
    for (const id of selected) if (!experiments.some((e) => e.experimentId === id)) selected.delete(id);
    compare.disabled = selected.size < 2;
    bulkDelete.disabled = selected.size < 1;
    bulkDelete.textContent = selected.size ? `Delete selected (${selected.size})` : "Delete selected";
    all.checked = shown.length > 0 && shown.every((e) => selected.has(e.experimentId));
  };

  // Filters and sorts every experiment, then shows one page of them.
  const apply = () => {
    const wantedStatus = status.value;
    const wantedName = name.value.trim().toLowerCase();
    const wantedTag = tag.value;
    renderHead();
    if (!SORTS[sortKey] && !tracking.columns().includes(sortKey)) sortKey = "accepted";
    shown = experiments.filter((e) =>
      (!wantedStatus || e.status === wantedStatus) &&
      (!wantedName || nameOf(e).toLowerCase().includes(wantedName) || e.experimentId.includes(wantedName)) &&
      (!wantedTag || tagsOf(e).includes(wantedTag)) && tracking.keep(e));
    const key = SORTS[sortKey] || ((e) => tracking.sortValue(e, sortKey));
    const keys = new Map(shown.map((e) => [e, key(e)]));
    shown.sort((a, b) => {
      const [x, y] = [keys.get(a), keys.get(b)];
      if (x === undefined || y === undefined) return (x === undefined) - (y === undefined); // none last
      const order = typeof x !== typeof y ? (typeof x < typeof y ? -1 : 1) : x < y ? -1 : x > y ? 1 : 0;
      return sortDescending ? -order : order;
    });
    main.querySelectorAll("th[data-sort]").forEach((th) => {
      if (th.dataset.sort === sortKey) th.setAttribute("aria-sort", sortDescending ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    });
    renderPage();
  };

  const renderPage = () => {
    const pages = Math.max(1, Math.ceil(shown.length / LIST_PAGE));
    page = Math.min(page, pages - 1);
    const slice = shown.slice(page * LIST_PAGE, (page + 1) * LIST_PAGE);
    const wanted = new Set(slice.map((e) => e.experimentId));
    for (const [id, row] of rows) {
      if (!wanted.has(id)) {
        row.remove();
        rows.delete(id);
      }
    }
    slice.forEach((experiment, index) => {
      const id = experiment.experimentId;
      let row = rows.get(id);
      if (!row) {
        row = makeRow(experiment);
        rows.set(id, row);
      }
      updateRow(row, experiment);
      if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null);
    });
    count.textContent = `${shown.length} of ${experiments.length}`;
    pager.replaceChildren();
    if (pages > 1) {
      pager.append(
        h("button", { type: "button", id: "page-prev", disabled: page === 0, onclick: () => { page -= 1; renderPage(); } }, "Previous"),
        h("span", { id: "page-at", text: `Page ${page + 1} of ${pages}` }),
        h("button", { type: "button", id: "page-next", disabled: page >= pages - 1, onclick: () => { page += 1; renderPage(); } }, "Next"));
    }
    empty.hidden = experiments.length > 0;
    if (!experiments.length && !offered) offerTemplates();
    refreshSelection();
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
    const label = nameOf(experiment);
    const check = h("input", { type: "checkbox", class: "select", "aria-label": `Select ${label} to compare or delete`,
      onchange: () => {
        if (check.checked) selected.add(id); else selected.delete(id);
        refreshSelection();
      } });
    return h("tr", { "data-id": id },
      h("td", { class: "check" }, check),
      h("td", { class: "name" }, h("a", { href: `#/experiment/${id}`, "data-col": "name" }),
        h("span", { class: "id muted", text: id }), h("span", { "data-col": "tags" })),
      h("td", { "data-col": "status" }),
      h("td", { "data-col": "framework", class: "hide-narrow" }),
      h("td", { "data-col": "accepted", class: "hide-narrow" }),
      h("td", { "data-col": "duration", class: "hide-phone" }),
      h("td", { class: "actions-col" }, h("div", { class: "row-actions" },
        h("a", { class: "button hide-phone", href: `#/new?clone=${id}`, "aria-label": `Clone ${label}` }, "Clone"),
        h("button", { type: "button", class: "hide-phone", "aria-label": `Rerun ${label}`,
          onclick: () => rerun(id) }, "Rerun"),
        h("button", { type: "button", class: "danger", "aria-label": `Delete ${label}`,
          onclick: () => removeExperiments([id], label) }, "Delete"))));
  };

  const updateRow = (row, experiment) => {
    const cell = (col) => row.querySelector(`[data-col="${col}"]`);
    const label = nameOf(experiment);
    if (cell("name").textContent !== label) cell("name").textContent = label;
    const tags = tagsOf(experiment).join("\u0000");
    if (cell("tags").dataset.tags !== tags) {
      cell("tags").dataset.tags = tags;
      cell("tags").replaceChildren(tagChips(tagsOf(experiment)));
    }
    if (cell("status").textContent !== experiment.status) cell("status").replaceChildren(badge(experiment.status));
    // Why it waits or failed: on hover, and read by screen readers with the status.
    if (experiment.reason) cell("status").title = experiment.reason;
    else cell("status").removeAttribute("title");
    cell("status").setAttribute("aria-description", experiment.reason || "");
    cell("framework").textContent = metaOf(experiment).framework || "";
    cell("accepted").textContent = fmtTime(experiment.acceptedTime);
    cell("duration").textContent = duration(experiment);
    row.querySelector("input.select").checked = selected.has(experiment.experimentId);
    const chosen = tracking.columns();
    if (row.dataset.cols !== chosen.join("\u0000")) {
      row.dataset.cols = chosen.join("\u0000");
      row.querySelectorAll("td[data-column]").forEach((td) => td.remove());
      const actions = row.querySelector("td.actions-col");
      for (const column of chosen) row.insertBefore(h("td", { "data-column": column, class: "tracked" }), actions);
    }
    row.querySelectorAll("td[data-column]").forEach((td) => {
      const text = tracking.text(experiment, td.dataset.column);
      if (td.textContent !== text) td.textContent = text;
    });
  };

  const rerun = async (id) => {
    const experiment = experiments.find((e) => e.experimentId === id);
    if (!experiment) return;
    try {
      const made = await rerunExperiment(experiment);
      toast(`Started ${nameOf(experiment)} again as ${made}`);
      stopPolling();
      stopPolling = poll();
    } catch (exc) {
      toast(exc.message);
    }
  };

  const removeExperiments = async (ids, label) => {
    const what = ids.length > 1
      ? { title: `Delete ${ids.length} experiments?`, text: `These ${ids.length} experiments will be stopped and deleted, with their logs.` }
      : null;
    if (!(await confirmDelete(label, what))) return;
    const gone = new Set();
    let failure = null;
    for (const id of ids) {
      try {
        await api("DELETE", `${API}/${encodeURIComponent(id)}`);
        gone.add(id);
      } catch (exc) {
        if (exc.status === 404) gone.add(id); else failure = exc;
      }
    }
    experiments = experiments.filter((e) => !gone.has(e.experimentId));
    for (const id of gone) selected.delete(id);
    apply();
    if (failure) toast(failure.message);
    else toast(ids.length > 1 ? `Deleted ${gone.size} experiments` : `Deleted ${label}`);
  };
  const removeSelected = () => removeExperiments([...selected], `${selected.size} experiments`);

  const refreshTags = () => {
    const known = [...new Set(experiments.flatMap(tagsOf))].sort();
    const have = [...tag.options].slice(1).map((o) => o.value);
    if (known.join("\u0000") === have.join("\u0000")) return;
    const chosen = tag.value;
    tag.replaceChildren(h("option", { value: "", text: "Any tag" }), ...known.map((t) => h("option", { value: t, text: t })));
    tag.value = known.includes(chosen) ? chosen : "";
  };

  status.addEventListener("change", () => { page = 0; apply(); });
  name.addEventListener("input", () => { page = 0; apply(); });
  tag.addEventListener("change", () => { page = 0; apply(); });

  // The first look reads every experiment; each later one asks for what changed since the
  // version in the last answer's ETag (?since=), sending that ETag: an unchanged list costs
  // a 304 and no work here but the ticking durations of the rows shown.
  const poll = () => {
    etag = null;
    let version = null;
    return poller(async () => {
      const read = await apiIfChanged(version ? `${API}?since=${encodeURIComponent(version)}` : API, etag);
      if (!read.changed) {
        for (const [id, row] of rows) {
          const experiment = experiments.find((e) => e.experimentId === id);
          if (experiment && experiment.status === "Running") row.querySelector('[data-col="duration"]').textContent = duration(experiment);
        }
        return;
      }
      etag = read.etag;
      if (!version || Array.isArray(read.result)) {
        experiments = read.result || [];
        const tagged = (etag || "").match(/experiments-(\d+\.\d+)-/);
        version = tagged ? tagged[1] : null;
      } else {
        const changes = read.result;
        const byId = new Map(changes.full ? [] : experiments.map((e) => [e.experimentId, e]));
        for (const id of changes.removed) byId.delete(id);
        for (const experiment of changes.changed) byId.set(experiment.experimentId, experiment);
        experiments = [...byId.values()];
        version = changes.version;
      }
      refreshTags();
      apply();
    }, 2000);
  };
  let stopPolling = poll();
  return () => {
    stopPolling();
    tracking.stop();
    strip.stop();
  };
}

// The machine's resources (cpus, memory, gpus in use and free) and the queue, as the
// server's resources route says, every few seconds; hidden on a server without it.
function resourcesStrip() {
  const node = h("dl", { class: "resources", id: "resources", hidden: true });
  const gib = (bytes) => `${(bytes / (1 << 30)).toFixed(1)} GiB`;
  const stop = poller(async () => {
    let answer;
    try {
      answer = await api("GET", RESOURCES_API);
    } catch (exc) {
      if (exc.status === 404) return false;
      throw exc;
    }
    const item = (label, used, total, show, key) => h("div", { "data-resource": key },
      h("dt", { text: label }),
      h("dd", {}, `${show(used)} in use, ${show(Math.max(0, total - used))} free`,
        h("meter", { min: "0", max: String(total || 1), value: String(used), "aria-label": `${label} in use` })));
    node.replaceChildren(
      item("CPUs", answer.used.cpus, answer.capacity.cpus, (v) => `${+v.toFixed(2)}`, "cpus"),
      item("Memory", answer.used.memoryBytes, answer.capacity.memoryBytes, gib, "memory"),
      item("GPUs", answer.used.gpus, answer.capacity.gpus, String, "gpus"),
      h("div", { "data-resource": "queue" }, h("dt", { text: "Queue" }),
        h("dd", { text: `${answer.running} running, ${answer.queued} waiting` })));
    node.hidden = false;
    return true;
  }, 3000);
  return { node, stop };
}

// The actions of one experiment's page: its tags, Clone (the form filled from its spec),
// Update (the form, sent as a PATCH), Rerun (the same spec again) and Delete.
function runActions(id, experimentOf) {
  const tags = h("span", { id: "run-tags" });
  const rerun = h("button", { type: "button", id: "run-rerun", onclick: async () => {
    const experiment = experimentOf();
    if (!experiment) return;
    try {
      location.hash = `#/experiment/${await rerunExperiment(experiment)}`;
    } catch (exc) {
      toast(exc.message);
    }
  } }, "Rerun");
  const remove = h("button", { type: "button", class: "danger", id: "run-delete", onclick: async () => {
    const experiment = experimentOf();
    const label = experiment ? nameOf(experiment) : id;
    if (!(await confirmDelete(label))) return;
    try {
      await api("DELETE", `${API}/${encodeURIComponent(id)}`);
      toast(`Deleted ${label}`);
      location.hash = "#/";
    } catch (exc) {
      toast(exc.message);
    }
  } }, "Delete");
  const node = h("div", { class: "run-actions" }, tags,
    h("a", { class: "button", id: "run-clone", href: `#/new?clone=${id}` }, "Clone"),
    h("a", { class: "button", id: "run-update", href: `#/new?update=${id}` }, "Update"),
    rerun, remove);
  const refresh = () => {
    const experiment = experimentOf();
    if (!experiment) return;
    const wanted = tagsOf(experiment).join("\u0000");
    if (tags.dataset.tags !== wanted) {
      tags.dataset.tags = wanted;
      tags.replaceChildren(tagChips(tagsOf(experiment)));
    }
  };
  return { node, refresh };
}
