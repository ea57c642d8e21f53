// The workbench's log viewer of one experiment: its pods' logs, followed through the
// log-stream extension (a cursor and a long poll), and the table of its pods. Lines are
// shown as a terminal shows them (ANSI colours, a progress bar's last state); the page
// keeps the latest LOG_KEPT lines of each view, and reads older ones on demand.
"use strict";

const LOG_KEPT = 5000;
const ALL_PODS = "*";
const ANSI_RESET = { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false };

// A line as a terminal leaves it: what follows its last carriage return (tqdm and other
// progress bars rewrite one line with "\r"); a trailing "\r" (CRLF) is dropped.
function terminalLine(raw) {
  const text = String(raw).replace(/\r+$/, "");
  const at = text.lastIndexOf("\r");
  return at < 0 ? text : text.slice(at + 1);
}

// An xterm 256-colour index as a CSS colour (0-15 stay indexes: classes of the theme).
function xterm256(n) {
  if (!Number.isInteger(n) || n < 0 || n > 255) return null;
  if (n < 16) return n;
  if (n >= 232) {
    const grey = 8 + (n - 232) * 10;
    return `rgb(${grey}, ${grey}, ${grey})`;
  }
  const steps = [0, 95, 135, 175, 215, 255];
  const i = n - 16;
  return `rgb(${steps[Math.floor(i / 36)]}, ${steps[Math.floor(i / 6) % 6]}, ${steps[i % 6]})`;
}

// The style after one SGR sequence ("ESC[1;31m": its parameters "1;31").
function sgrState(state, params) {
  const next = { ...state };
  const codes = params === "" ? [0] : params.split(";").map((c) => Number(c) || 0);
  for (let i = 0; i < codes.length; i += 1) {
    const c = codes[i];
    if (c === 0) Object.assign(next, ANSI_RESET);
    else if (c === 1) next.bold = true;
    else if (c === 2) next.dim = true;
    else if (c === 3) next.italic = true;
    else if (c === 4) next.underline = true;
    else if (c === 22) Object.assign(next, { bold: false, dim: false });
    else if (c === 23) next.italic = false;
    else if (c === 24) next.underline = false;
    else if (c >= 30 && c <= 37) next.fg = c - 30;
    else if (c >= 90 && c <= 97) next.fg = c - 82;
    else if (c === 39) next.fg = null;
    else if (c >= 40 && c <= 47) next.bg = c - 40;
    else if (c >= 100 && c <= 107) next.bg = c - 92;
    else if (c === 49) next.bg = null;
    else if (c === 38 || c === 48) {
      let color = null;
      if (codes[i + 1] === 5) {
        color = xterm256(codes[i + 2]);
        i += 2;
      } else if (codes[i + 1] === 2) {
        color = `rgb(${codes[i + 2] || 0}, ${codes[i + 3] || 0}, ${codes[i + 4] || 0})`;
        i += 4;
      }
      next[c === 38 ? "fg" : "bg"] = color;
    }
  }
  return next;
}

// A line's text in styled pieces: SGR sequences set the style, other escapes are dropped.
function ansiSegments(text) {
  const pieces = [];
  let state = ANSI_RESET;
  // eslint-disable-next-line no-control-regex
  const escape = /\x1b\[([0-9;?]*)([ -/]*[@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?/g;
  let last = 0;
  let match;
  while ((match = escape.exec(text))) {
    if (match.index > last) pieces.push({ text: text.slice(last, match.index), state });
    last = escape.lastIndex;
    if (match[2] === "m") state = sgrState(state, match[1]);
  }
  if (last < text.length) pieces.push({ text: text.slice(last), state });
  return pieces;
}

function styledSpan(state, text) {
  const classes = [];
  if (typeof state.fg === "number") classes.push(`ansi-fg-${state.fg}`);
  if (typeof state.bg === "number") classes.push(`ansi-bg-${state.bg}`);
  for (const flag of ["bold", "dim", "italic", "underline"]) if (state[flag]) classes.push(`ansi-${flag}`);
  const plain = !classes.length && state.fg === null && state.bg === null;
  if (plain) return document.createTextNode(text);
  const span = h("span", { class: classes.join(" ") || null, text });
  if (typeof state.fg === "string") span.style.color = state.fg;
  if (typeof state.bg === "string") span.style.backgroundColor = state.bg;
  return span;
}

// One line's nodes: its styled pieces, the matches of `query` (lower case) in <mark>.
function logLineNodes(raw, query, prefix) {
  const pieces = ansiSegments(terminalLine(raw));
  if (prefix) pieces.unshift({ text: prefix, state: { ...ANSI_RESET, dim: true } });
  const plain = pieces.map((p) => p.text).join("");
  const ranges = [];
  if (query) {
    const lower = plain.toLowerCase();
    for (let at = lower.indexOf(query); at >= 0; at = lower.indexOf(query, at + query.length)) {
      ranges.push([at, at + query.length]);
    }
  }
  const nodes = [];
  let offset = 0;
  let mark = null;
  for (const piece of pieces) {
    let start = 0;
    while (start < piece.text.length) {
      const position = offset + start;
      const range = ranges.find(([a, b]) => position < b && position >= a) || null;
      const nextBoundary = range ? range[1] : Math.min(...ranges.filter(([a]) => a > position).map(([a]) => a), Infinity);
      const end = Math.min(piece.text.length, nextBoundary - offset);
      const node = styledSpan(piece.state, piece.text.slice(start, end));
      if (range) {
        if (!mark || mark.range !== range) {
          mark = { range, node: h("mark", { class: "log-match" }) };
          nodes.push(mark.node);
        }
        mark.node.append(node);
      } else {
        nodes.push(node);
      }
      start = end;
    }
    offset += piece.text.length;
  }
  return nodes;
}

// The log viewer of experiment `id`; `experimentOf()` answers the experiment as last read
// (or null). Answers its nodes (view, pods) and refresh, start and stop.
function logViewer(id, experimentOf) {
  const pods = h("tbody");
  const logTabs = h("div", { class: "tabs", role: "tablist", "aria-label": "Pods" });
  const logBox = h("pre", { class: "log", id: "log", tabindex: "0", "aria-live": "off" });
  const search = h("input", { type: "search", id: "log-search", placeholder: "Search the log", "aria-label": "Search the log" });
  const matches = h("span", { class: "muted", id: "log-matches", role: "status" });
  const older = h("p", { class: "muted log-older", id: "log-older", hidden: true });
  const download = h("button", { type: "button", id: "log-download", onclick: () => downloadLog() }, "Download log");
  const podsTable = h("div", { class: "table-wrap" }, h("table", { id: "pods" },
    h("thead", {}, h("tr", {}, ["Pod", "Role", "Status", "Lines"].map((t) => h("th", { scope: "col", text: t })))), pods));

  // Each view (a pod, or ALL_PODS: every pod's lines in the order they came) keeps its
  // latest LOG_KEPT lines; `total` counts every line seen.
  const views = new Map([[ALL_PODS, { lines: [], total: 0 }]]);
  let shown = null;
  let whole = null; // the whole log of the shown view, while it is read on demand
  let current = -1;

  const shortName = (name) => name.slice(id.length + 1) || name;
  const keep = (key, added) => {
    if (!views.has(key)) views.set(key, { lines: [], total: 0 });
    const kept = views.get(key);
    kept.lines.push(...added);
    kept.total += added.length;
    if (kept.lines.length > LOG_KEPT) kept.lines.splice(0, kept.lines.length - LOG_KEPT);
  };
  const podNames = () => [...views.keys()].filter((k) => k !== ALL_PODS);
  const query = () => search.value.trim().toLowerCase();
  const prefixOf = (line) => (shown === ALL_PODS ? `${shortName(line[0])} | ` : "");
  const textOf = (line) => (shown === ALL_PODS ? line[1] : line);

  const lineNode = (line) => h("span", { class: "log-line" }, logLineNodes(textOf(line), query(), prefixOf(line)), "\n");

  const showMatches = () => {
    const marks = logBox.querySelectorAll("mark.log-match");
    if (!query()) matches.textContent = "";
    else if (!marks.length) matches.textContent = "No match";
    else matches.textContent = `${current >= 0 ? current + 1 : 0} of ${marks.length} matches`;
  };
  const goTo = (step) => {
    const marks = [...logBox.querySelectorAll("mark.log-match")];
    if (!marks.length) return showMatches();
    if (current >= 0 && marks[current]) marks[current].classList.remove("current");
    current = (current + step + marks.length) % marks.length;
    marks[current].classList.add("current");
    const top = marks[current].getBoundingClientRect().top - logBox.getBoundingClientRect().top + logBox.scrollTop;
    logBox.scrollTop = Math.max(0, top - logBox.clientHeight / 2);
    showMatches();
  };

  const render = () => {
    const kept = views.get(shown) || { lines: [], total: 0 };
    const lines = whole || kept.lines;
    logBox.replaceChildren(...lines.map(lineNode));
    const dropped = whole ? 0 : kept.total - kept.lines.length;
    older.hidden = dropped <= 0;
    older.replaceChildren(`${dropped.toLocaleString()} older lines are not kept in the page. `,
      h("button", { type: "button", class: "link", id: "log-load-older", onclick: () => loadOlder() }, "Show them"));
    current = -1;
    if (query()) goTo(1);
    else {
      showMatches();
      logBox.scrollTop = logBox.scrollHeight;
    }
  };

  const podStatus = (name) => {
    const text = ((views.get(name) || { lines: [] }).lines).slice(-3).join("\n");
    const experiment = experimentOf();
    if (/exited with 0|exit code 0|succeeded/i.test(text) && experiment && TERMINAL.has(experiment.status)) return "Succeeded";
    return experiment ? experiment.status : "";
  };
  const tabFor = (key, label) => h("button", { type: "button", role: "tab", "data-pod": key, "aria-selected": "false",
    onclick: () => selectPod(key) }, label);
  const showPods = () => {
    for (const name of podNames()) {
      let row = pods.querySelector(`tr[data-pod="${name}"]`);
      if (!row) {
        const role = (name.match(/-([a-z]+)-(\d+)$/) || [])[1] || "";
        row = h("tr", { "data-pod": name }, h("td", { class: "id", text: name }), h("td", { text: role }),
          h("td", { "data-col": "status" }), h("td", { "data-col": "lines" }));
        pods.append(row);
        logTabs.append(tabFor(name, shortName(name)));
      }
      row.querySelector('[data-col="status"]').replaceChildren(badge(podStatus(name)));
      row.querySelector('[data-col="lines"]').textContent = String(views.get(name).total);
    }
    if (podNames().length > 1 && !logTabs.querySelector(`[data-pod="${ALL_PODS}"]`)) {
      logTabs.prepend(tabFor(ALL_PODS, "All pods"));
    }
    if (!shown && podNames().length) selectPod(podNames()[0]);
  };
  const selectPod = (key) => {
    shown = key;
    whole = null;
    logTabs.querySelectorAll("button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.pod === key)));
    render();
  };
  const appendLines = (name, added) => {
    if (!added.length) return;
    keep(name, added);
    keep(ALL_PODS, added.map((line) => [name, line]));
    if ((name !== shown && shown !== ALL_PODS) || whole) return;
    const atEnd = logBox.scrollTop + logBox.clientHeight >= logBox.scrollHeight - 4;
    const fresh = shown === ALL_PODS ? added.map((line) => [name, line]) : added;
    logBox.append(...fresh.map(lineNode));
    while (logBox.childElementCount > LOG_KEPT) logBox.firstElementChild.remove();
    const kept = views.get(shown);
    older.hidden = kept.total <= kept.lines.length;
    if (query()) showMatches();
    if (atEnd) logBox.scrollTop = logBox.scrollHeight;
  };

  // The whole log of every pod, read when asked for (it may be big: never kept).
  const wholeLog = async () => {
    const answer = await api("GET", `${API}/logs/${encodeURIComponent(id)}`);
    return (answer && answer.logContent) || [];
  };
  const wholeLines = async () => {
    const content = await wholeLog();
    if (shown !== ALL_PODS) return ((content.find((pod) => pod.podName === shown) || {}).podLog) || [];
    return content.flatMap((pod) => (pod.podLog || []).map((line) => [pod.podName, line]));
  };
  const loadOlder = async () => {
    try {
      whole = await wholeLines();
      render();
    } catch (exc) {
      toast(exc.message);
    }
  };
  const downloadLog = async () => {
    let text;
    try {
      const lines = await wholeLines();
      text = lines.map((line) => (shown === ALL_PODS ? `${shortName(line[0])} | ${line[1]}` : line)).join("\n") + "\n";
    } catch (exc) {
      toast(exc.message);
      return;
    }
    const link = h("a", { href: URL.createObjectURL(new Blob([text], { type: "text/plain" })),
      download: `${shown === ALL_PODS ? id : shown}.log` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  };

  search.addEventListener("input", render);
  search.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      goTo(event.shiftKey ? -1 : 1);
    }
  });

  let stopped = false;
  const follow = async () => {
    let cursor = "";
    while (!stopped) {
      let chunk;
      try {
        const params = new URLSearchParams({ wait: "10" });
        if (cursor) params.set("cursor", cursor);
        chunk = await api("GET", `${API}/${encodeURIComponent(id)}/log-stream?${params}`);
      } catch (exc) {
        if (stopped) return;
        if (exc.status === 404) return;
        toast(exc.message);
        await new Promise((r) => setTimeout(r, 2000));
        continue;
      }
      if (stopped) return;
      for (const pod of chunk.pods) {
        if (!views.has(pod.podName)) keep(pod.podName, []);
        appendLines(pod.podName, pod.lines);
      }
      cursor = chunk.cursor || cursor;
      showPods();
      if (TERMINAL.has(chunk.status) && !chunk.more) return;
    }
  };

  const bar = h("div", { class: "toolbar log-bar" }, h("label", {}, "Search", search),
    h("button", { type: "button", id: "log-prev", onclick: () => goTo(-1) }, "Previous"),
    h("button", { type: "button", id: "log-next", onclick: () => goTo(1) }, "Next"),
    matches, download);
  return {
    view: h("div", { class: "logs" }, logTabs, bar, older, logBox),
    pods: podsTable,
    refresh: showPods,
    start: follow,
    stop: () => { stopped = true; },
  };
}
