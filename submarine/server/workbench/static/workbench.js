// The Submarine workbench: helpers, the API, signing in and routing (views in
// workbench-list.js and workbench-columns.js, workbench-views.js, workbench-logs.js, workbench-charts.js,
// workbench-compare.js, workbench-new.js, workbench-templates.js, workbench-run.js and
// workbench-environments.js). Plain JavaScript, no dependencies; every request goes to this
// server (same origin).
"use strict";

const API = "/api/v1/experiment";
const TEMPLATE_API = "/api/v1/template";
const RESOURCES_API = "/api/v1/resources";
const TOKEN_KEY = "submarine-workbench-token";
const TERMINAL = new Set(["Succeeded", "Failed", "Deleted"]);
const STATUSES = ["Accepted", "Created", "Running", "Succeeded", "Failed"];
const ROLES = {
  TensorFlow: ["Ps", "Worker", "Chief", "Master", "Evaluator"],
  PyTorch: ["Master", "Worker"],
  XGBoost: ["Master", "Worker"],
};
const PALETTE = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#1b7c83", "#e16f24", "#6e7781"];

let view = null; // the current view's cleanup

// The link the server prints ("Submarine workbench at .../?token=...") signs this tab in
// once: the token is kept for the tab only, and taken out of the address bar and of the
// history entry before anything else runs.
(function signInFromLink() {
  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  if (token === null) return;
  params.delete("token");
  if (token.trim()) sessionStorage.setItem(TOKEN_KEY, token.trim());
  const query = params.toString();
  history.replaceState(history.state, "", location.pathname + (query ? `?${query}` : "") + location.hash);
})();

// -- small helpers --------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  return node;
}

function toast(text) {
  const box = document.getElementById("toast");
  box.textContent = text;
  box.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => box.classList.remove("show"), 3500);
}

function fmtTime(text) {
  if (!text) return "–";
  const date = new Date(text);
  return isNaN(date) ? text : date.toLocaleString();
}

// How long an experiment ran: nothing before it runs (a queued one has no duration).
function duration(experiment) {
  const start = experiment.runningTime;
  if (!start) return "–";
  const end = experiment.finishedTime ? new Date(experiment.finishedTime) : new Date();
  if (!experiment.finishedTime && TERMINAL.has(experiment.status)) return "–";
  let seconds = Math.max(0, Math.round((end - new Date(start)) / 1000));
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  return hours ? `${hours}h ${minutes}m` : minutes ? `${minutes}m ${seconds}s` : `${seconds}s`;
}

function badge(status) {
  return h("span", { class: `badge status-${(status || "").toLowerCase()}`, text: status || "?" });
}

// A small YAML writer for showing specs (no parser is needed: the server reads YAML).
function toYaml(value, indent = "") {
  const scalar = (v) => {
    if (v === null || v === undefined) return "null";
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    const s = String(v);
    return /^[\w./@-][\w ./:=,@+-]*$/.test(s) && !/^(true|false|null|yes|no|[-\d.]+)$/i.test(s)
      ? s : JSON.stringify(s);
  };
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return value.map((item) => {
      const inner = toYaml(item, indent + "  ");
      return `\n${indent}- ${typeof item === "object" && item !== null ? inner.trimStart() : inner}`;
    }).join("");
  }
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (!keys.length) return "{}";
    return keys.map((key) => {
      const item = value[key];
      const nested = item !== null && typeof item === "object" && Object.keys(item).length;
      return `\n${indent}${scalar(key)}:${nested ? toYaml(item, indent + "  ") : " " + toYaml(item, indent + "  ")}`;
    }).join("");
  }
  return scalar(value);
}

// -- the API --------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

// A request that says when the server cannot be reached (stopped, restarting, the network):
// a banner stays up until an answer comes again; the caller gets an ApiError of status 0,
// which pollers do not toast (they keep trying).
async function reach(path, init) {
  const banner = document.getElementById("unreachable");
  let response;
  try {
    response = await fetch(path, init);
  } catch (_) {
    if (banner) banner.hidden = false;
    throw new ApiError(0, "the server is unreachable", null);
  }
  if (banner) banner.hidden = response.status === 502 || response.status === 503 || response.status === 504 ? false : true;
  return response;
}

async function api(method, path, body, contentType = "application/json") {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = contentType;
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const response = await reach(path, init);
  let data = null;
  try {
    data = await response.json();
  } catch (_) {
    data = null;
  }
  if (response.status === 401 && !path.startsWith("/api/auth/")) {
    await login();
    return api(method, path, body, contentType);
  }
  if (!response.ok || !data || data.success !== true) {
    const message = (data && data.message) || `${method} ${path}: HTTP ${response.status}`;
    throw new ApiError(response.status, message, data);
  }
  return data.result;
}

// A conditional read of a list: with the ETag of the last answer, the server answers 304
// (no body) while nothing changed. Answers { changed, etag, result }.
async function apiIfChanged(path, etag) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  if (etag) headers["If-None-Match"] = etag;
  const response = await reach(path, { method: "GET", headers, credentials: "same-origin", cache: "no-store" });
  if (response.status === 304) return { changed: false, etag, result: null };
  if (response.status === 401) {
    await login();
    return apiIfChanged(path, etag);
  }
  let data = null;
  try {
    data = await response.json();
  } catch (_) {
    data = null;
  }
  if (!response.ok || !data || data.success !== true) {
    throw new ApiError(response.status, (data && data.message) || `GET ${path}: HTTP ${response.status}`, data);
  }
  return { changed: true, etag: response.headers.get("ETag"), result: data.result };
}

let loginWaiters = null;

function login() {
  if (loginWaiters) return new Promise((resolve) => loginWaiters.push(resolve));
  loginWaiters = [];
  const dialog = document.getElementById("login");
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  error.textContent = sessionStorage.getItem(TOKEN_KEY) ? "That token was not accepted." : "";
  sessionStorage.removeItem(TOKEN_KEY);
  return new Promise((resolve) => {
    loginWaiters.push(resolve);
    form.onsubmit = async (event) => {
      event.preventDefault();
      const token = form.token.value.trim();
      const username = form.username.value.trim();
      error.textContent = "";
      let chosen = token;
      if (!chosen && username) {
        try {
          chosen = await api("POST", "/api/auth/token", { username, password: form.password.value });
        } catch (exc) {
          error.textContent = exc.message;
          return;
        }
      }
      if (!chosen) {
        error.textContent = "Give the token, or a user name and password.";
        return;
      }
      sessionStorage.setItem(TOKEN_KEY, chosen);
      form.reset();
      dialog.close();
      document.getElementById("logout").hidden = false;
      const waiters = loginWaiters;
      loginWaiters = null;
      waiters.forEach((done) => done());
    };
    dialog.addEventListener("cancel", (event) => event.preventDefault());
    dialog.showModal();
    form.token.focus();
  });
}

// -- routing --------------------------------------------------------------------------------

function route() {
  if (view) view();
  view = null;
  const main = document.getElementById("main");
  main.replaceChildren();
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  const inTemplates = path === "/templates" || path.startsWith("/template/") || path.startsWith("/templates/");
  document.getElementById("nav-list").toggleAttribute("aria-current", path === "/");
  document.getElementById("nav-new").toggleAttribute("aria-current", path === "/new" || path === "/new/template");
  document.getElementById("nav-templates").toggleAttribute("aria-current", inTemplates);
  const inEnvironments = path === "/environments" || path.startsWith("/environment/") || path.startsWith("/environments/");
  document.getElementById("nav-environments").toggleAttribute("aria-current", inEnvironments);
  document.querySelectorAll("nav a[aria-current]").forEach((a) => a.setAttribute("aria-current", "page"));
  let match;
  if (path === "/new") view = newExperimentView(main, params.get("mode"), params);
  else if (path === "/new/template") view = fromTemplateView(main, params.get("name"));
  else if (path === "/templates") view = templatesView(main);
  else if (path === "/templates/new") view = newTemplateView(main);
  else if ((match = path.match(/^\/template\/([^/]+)$/))) view = templateView(main, decodeName(match[1]));
  else if (path === "/environments") view = environmentsView(main);
  else if (path === "/environments/new") view = newEnvironmentView(main);
  else if ((match = path.match(/^\/environment\/([^/]+)$/))) view = environmentView(main, decodeName(match[1]));
  else if ((match = path.match(/^\/experiment\/([\w-]+)$/))) view = experimentView(main, match[1]);
  else if (path === "/compare") view = compareView(main, (params.get("ids") || "").split(",").filter(Boolean));
  else view = listView(main);
  if (document.activeElement && document.activeElement.closest && !document.activeElement.closest("main")) {
    main.focus({ preventScroll: true });
  }
}

// A template's name in a hash route (names never hold '/', '?', '#' or '%', but may hold
// spaces and any other character): encoded there, decoded here.
function templateHref(name, run = false) {
  return run ? `#/new/template?name=${encodeURIComponent(name)}` : `#/template/${encodeURIComponent(name)}`;
}

function decodeName(text) {
  try {
    return decodeURIComponent(text);
  } catch (_) {
    return text;
  }
}

function poller(task, interval) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    let again = true;
    try {
      again = (await task()) !== false;
    } catch (exc) {
      if (!stopped && exc.status !== 0) toast(exc.message);
    }
    if (again && !stopped) timer = setTimeout(tick, interval);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

