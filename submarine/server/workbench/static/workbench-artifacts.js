// The experiment page's Artifacts section (the saved models: folder, type, registered name
// and version, a download) and its TensorBoard link, when the server serves TensorBoard.
// It follows the page's routing: whenever an experiment's view is shown, the section is
// added at its end and kept fresh while it is shown. Uses the helpers of workbench.js.
"use strict";

const ARTIFACTS_REFRESH = 5000;

function artifactsSection(id) {
  const rows = h("tbody");
  const none = h("p", { class: "muted", id: "no-artifacts", text: "No saved models yet: a replica's submarine.save_model(...) adds one." });
  const board = h("p", { id: "tensorboard-link", hidden: true },
    h("a", { class: "button", href: "/tensorboard/", target: "_blank", rel: "noopener", text: "Open TensorBoard" }),
    " ", h("span", { class: "muted", text: `this experiment's runs are named "… (${id})"` }));
  const table = h("div", { class: "table-wrap" }, h("table", { id: "artifacts" },
    h("thead", {}, h("tr", {}, ["Folder", "Model", "Registered as", "Model id", ""].map((t) => h("th", { scope: "col", text: t })))), rows));
  const section = h("section", { id: "artifacts-section", "aria-labelledby": "artifacts-title" },
    h("h2", { id: "artifacts-title", text: "Artifacts" }), board, none, table);

  const download = async (entry) => {
    const headers = {};
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = `Bearer ${token}`;
    const path = entry.path.split("/").map(encodeURIComponent).join("/");
    const response = await fetch(`${API}/artifacts/${encodeURIComponent(id)}/${path}`, { headers, cache: "no-store" });
    if (!response.ok) {
      toast(`The download failed: HTTP ${response.status}`);
      return;
    }
    const name = entry.path.endsWith("/") ? `${id}-${entry.path.replace(/\/$/, "").replace(/\//g, "-")}.tar` : entry.path.split("/").pop();
    const url = URL.createObjectURL(await response.blob());
    const link = h("a", { href: url, download: name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  };

  const show = (uris, described) => {
    const byUri = new Map((described || []).map((d) => [d.uri, d]));
    none.hidden = uris.length > 0;
    rows.replaceChildren(...uris.map((uri) => {
      const d = byUri.get(uri) || { uri, path: uri.split(`/experiment/${id}/`).pop() };
      const registered = d.registeredModelName ? `${d.registeredModelName} v${d.registeredModelVersion}` : "–";
      return h("tr", { "data-path": d.path },
        h("td", { class: "id", title: uri, text: d.path }),
        h("td", { text: d.modelType || "–" }),
        h("td", { text: registered }),
        h("td", { class: "id", text: d.modelId || "–" }),
        h("td", {}, h("button", { type: "button", onclick: () => download(d).catch((exc) => toast(exc.message)) }, "Download")));
    }));
  };

  const refresh = async () => {
    if (!section.isConnected) return false;
    const headers = { Accept: "application/json" };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(`${API}/artifacts/${encodeURIComponent(id)}`, { headers, cache: "no-store" });
    if (!response.ok) return section.isConnected;
    const data = await response.json();
    show(data.result || [], (data.attributes || {}).artifacts);
    return section.isConnected;
  };

  api("GET", `${API}/tensorboard`).then((info) => {
    if (info && info.available) {
      board.querySelector("a").setAttribute("href", info.url);
      board.hidden = false;
    }
  }).catch(() => {});
  return { section, refresh };
}

(function followExperimentViews() {
  const main = document.getElementById("main");
  if (!main) return;
  let stop = null;
  const attach = () => {
    const match = (location.hash.replace(/^#/, "") || "/").split("?")[0].match(/^\/experiment\/([\w-]+)$/);
    if (!match || !main.querySelector("#spec") || main.querySelector("#artifacts-section")) return;
    if (stop) stop();
    const { section, refresh } = artifactsSection(match[1]);
    main.append(section);
    stop = poller(refresh, ARTIFACTS_REFRESH);
  };
  new MutationObserver(attach).observe(main, { childList: true });
  attach(); // the view the page opened with may be shown already
})();
