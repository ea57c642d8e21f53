// The workbench's form for a new experiment, and the start of the page.
"use strict";

// -- a new experiment -----------------------------------------------------------------------

const EXAMPLE = `meta:
  name: my-experiment
  framework: TensorFlow
  cmd: python train.py
environment:
  image: local
spec:
  Worker:
    replicas: 1
    resources: cpu=1,memory=1024M
`;

// The form of a new experiment; `params` may name one to clone (?clone=ID: the form is
// filled from its spec) or to update (?update=ID: the form sends a PATCH).
function newExperimentView(main, startMode = null, params = new URLSearchParams()) {
  const updating = params.get("update");
  const cloning = params.get("clone");
  document.title = `${updating ? "Update experiment" : "New experiment"} · Submarine workbench`;
  let mode = startMode === "text" ? "text" : "form";
  const problemsBox = h("ul", { class: "problems", id: "problems", role: "alert" });
  const field = (id, label, input, hint) => h("div", { class: "field" },
    h("label", { for: id, text: label }), input, hint ? h("span", { class: "muted", text: hint }) : null,
    h("p", { class: "error", id: `${id}-error` }));
  const name = h("input", { id: "f-name", required: true, autocomplete: "off", value: "" });
  const framework = h("select", { id: "f-framework" }, Object.keys(ROLES).map((f) => h("option", { value: f, text: f })));
  const cmd = h("input", { id: "f-cmd", placeholder: "python train.py" });
  const image = h("input", { id: "f-image", value: "local" });
  const envVars = h("textarea", { id: "f-env", rows: "3", placeholder: "KEY=value, one a line" });
  const gitUrl = h("input", { id: "f-git", placeholder: "https://github.com/you/repo.git (optional)" });
  const tags = h("input", { id: "f-tags", placeholder: "baseline, lr-sweep (optional)", autocomplete: "off" });
  const roles = h("div", { id: "f-roles" });
  const rolesError = h("p", { class: "error", id: "f-roles-error" });
  const addRole = (role = "Worker", replicas = "1", resources = "cpu=1,memory=1024M") => {
    const index = roles.children.length;
    const roleSelect = h("select", { "aria-label": `Role ${index + 1}`, class: "role-name" });
    const fill = () => {
      const chosen = roleSelect.value || role;
      roleSelect.replaceChildren(...ROLES[framework.value].map((r) => h("option", { value: r, text: r })));
      roleSelect.value = ROLES[framework.value].includes(chosen) ? chosen : ROLES[framework.value][0];
    };
    fill();
    roleSelect.fill = fill;
    const row = h("div", { class: "role" },
      roleSelect,
      h("input", { type: "number", min: "0", value: replicas, class: "role-replicas", "aria-label": `Replicas of role ${index + 1}` }),
      h("input", { value: resources, class: "role-resources", "aria-label": `Resources of role ${index + 1}` }),
      h("button", { type: "button", "aria-label": `Remove role ${index + 1}`, onclick: () => { row.remove(); check(); } }, "Remove"),
      h("p", { class: "error role-error" }));
    roles.append(row);
  };
  addRole();
  framework.addEventListener("change", () => roles.querySelectorAll(".role-name").forEach((s) => s.fill()));

  const form = h("form", { class: "spec-form panel", id: "spec-form", novalidate: true, hidden: mode !== "form" },
    h("div", { class: "row" },
      field("f-name", "Name", name, "letters, digits, '-', '_' and '.'; stored lower-case"),
      field("f-framework", "Framework", framework)),
    h("div", { class: "row" },
      field("f-cmd", "Command", cmd, "run in every replica"),
      field("f-image", "Image", image)),
    h("fieldset", {}, h("legend", { text: "Roles: replicas and resources" }), roles,
      h("button", { type: "button", onclick: () => { addRole(); check(); } }, "Add role"), rolesError),
    h("div", { class: "row" }, field("f-env", "Environment variables", envVars), field("f-git", "Git repository", gitUrl)),
    h("div", { class: "row" }, field("f-tags", "Tags", tags, "separated by commas")));

  const text = h("textarea", { id: "spec-text", rows: "18", spellcheck: "false", "aria-label": "Spec as YAML or JSON" });
  text.value = EXAMPLE;
  const upload = h("input", { type: "file", id: "spec-file", accept: ".yaml,.yml,.json,application/json,application/yaml" });
  upload.addEventListener("change", async () => {
    if (upload.files.length) {
      text.value = await upload.files[0].text();
      check();
    }
  });
  const editor = h("div", { class: "panel", id: "spec-editor", hidden: mode !== "text" },
    h("div", { class: "field" }, h("label", { for: "spec-file", text: "Upload a spec file" }), upload),
    h("div", { class: "field" }, h("label", { for: "spec-text", text: "Or paste it (YAML or JSON)" }), text));

  const tabs = newExperimentTabs(mode,
    [["form", "Form"], ["text", "YAML / JSON"]].map(([key, label]) => h("button", {
      type: "button", role: "tab", "data-mode": key, "aria-selected": String(key === mode),
      onclick: () => switchTo(key) }, label)));
  // The form and the text say the same: each switch carries the spec over (a spec the
  // form cannot hold keeps the text view, and says why).
  const switchTo = (key) => {
    if (key === mode) return;
    if (key === "text") text.value = toYaml(document_()[0]).replace(/^\n/, "") + "\n";
    else {
      let spec;
      try {
        spec = readSpecText(text.value);
      } catch (exc) {
        toast(`The form cannot show this spec: ${exc.message}`);
        return;
      }
      const why = formCannotHold(spec);
      if (why) {
        toast(`The form cannot show this spec: ${why}`);
        return;
      }
      fillFrom(spec);
    }
    mode = key;
    tabs.querySelectorAll("button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.mode === mode)));
    form.hidden = mode !== "form";
    editor.hidden = mode !== "text";
    check();
  };
  const create = h("button", { type: "button", class: "primary", id: "create", onclick: () => submit() },
    updating ? "Update experiment" : "Create experiment");
  const heading = h("h1", { text: updating ? `Update experiment ${updating}` : "New experiment" });
  main.append(heading, updating ? null : tabs, form, editor, problemsBox, h("div", { class: "actions" }, create));

  const document_ = () => {
    if (mode === "text") {
      const raw = text.value;
      return raw.trim().startsWith("{") ? [raw, "application/json"] : [raw, "application/yaml"];
    }
    const spec = {};
    for (const row of roles.children) {
      if (spec[row.querySelector(".role-name").value]) continue; // a repeated role: an error at its row
      spec[row.querySelector(".role-name").value] = {
        replicas: Number(row.querySelector(".role-replicas").value),
        resources: row.querySelector(".role-resources").value.trim(),
      };
    }
    const meta = { name: name.value.trim(), framework: framework.value, cmd: cmd.value.trim() };
    const env = {};
    for (const line of envVars.value.split("\n")) {
      if (!line.trim()) continue;
      const at = line.indexOf("=");
      env[at < 0 ? line.trim() : line.slice(0, at).trim()] = at < 0 ? "" : line.slice(at + 1);
    }
    if (Object.keys(env).length) meta.envVars = env;
    const tagList = tags.value.split(",").map((t) => t.trim()).filter(Boolean);
    if (tagList.length) meta.tags = tagList;
    const documentBody = { meta, environment: { image: image.value.trim() }, spec };
    if (gitUrl.value.trim()) documentBody.code = { syncMode: "git", git: { url: gitUrl.value.trim() } };
    return [documentBody, "application/json"];
  };

  const fieldFor = (loc) => {
    const [top, second] = loc;
    if (top === "meta" && second === "name") return name;
    if (top === "meta" && second === "framework") return framework;
    if (top === "meta" && second === "cmd") return cmd;
    if (top === "meta" && second === "envVars") return envVars;
    if (top === "environment") return image;
    if (top === "code") return gitUrl;
    if (top === "spec" && second !== undefined) {
      const row = [...roles.children].find((r) => r.querySelector(".role-name").value === second);
      if (row) {
        if (loc[2] === "replicas") return row.querySelector(".role-replicas");
        if (loc[2] === "resources") return row.querySelector(".role-resources");
        return row.querySelector(".role-name");
      }
    }
    return null;
  };

  // A role given twice would collapse into one: the second row (and any after) is an error.
  const repeatedRoles = () => {
    if (mode !== "form") return [];
    const seen = new Set();
    const problems = [];
    for (const row of roles.children) {
      const role = row.querySelector(".role-name").value;
      if (seen.has(role)) {
        problems.push({ row, message: `${role} is already a role above: give each role once (with its replicas)` });
      }
      seen.add(role);
    }
    return problems;
  };

  const show = (problems, local = []) => {
    main.querySelectorAll(".error").forEach((e) => { e.textContent = ""; });
    main.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
    problemsBox.replaceChildren();
    for (const problem of problems) {
      const input = mode === "form" ? fieldFor(problem.loc || []) : null;
      if (input) {
        input.setAttribute("aria-invalid", "true");
        const box = input.id ? document.getElementById(`${input.id}-error`) : input.closest(".role").querySelector(".role-error");
        if (!box) continue;
        box.textContent = (box.textContent ? box.textContent + " " : "") + problem.message;
        if (input.id) input.setAttribute("aria-describedby", `${input.id}-error`);
      } else if (mode === "form" && (problem.loc || [])[0] === "spec") {
        rolesError.textContent = `${problem.path}: ${problem.message}`;
      } else {
        problemsBox.append(h("li", { text: `${problem.path}: ${problem.message}` }));
      }
    }
    for (const { row, message } of local) {
      row.querySelector(".role-name").setAttribute("aria-invalid", "true");
      row.querySelector(".role-error").textContent = message;
    }
    create.disabled = problems.length + local.length > 0;
  };

  let checking = 0;
  const check = async () => {
    const ticket = ++checking;
    const [body, type] = document_();
    const local = repeatedRoles();
    try {
      const result = await api("POST", `${API}/validate`, body, type);
      if (ticket === checking) show(result.problems, local);
      return result.valid && !local.length;
    } catch (exc) {
      if (ticket === checking) show([{ path: "(spec)", loc: [], message: exc.message }]);
      return false;
    }
  };
  let timer = null;
  main.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(check, 250);
  });
  main.addEventListener("change", () => {
    clearTimeout(timer);
    timer = setTimeout(check, 50);
  });

  const submit = async () => {
    if (!(await check())) {
      const first = main.querySelector("[aria-invalid='true']");
      if (first) first.focus();
      return;
    }
    const [body, type] = document_();
    create.disabled = true;
    try {
      const experiment = updating
        ? await api("PATCH", `${API}/${encodeURIComponent(updating)}`, body, type)
        : await api("POST", API, body, type);
      location.hash = `#/experiment/${experiment.experimentId}`;
    } catch (exc) {
      show([{ path: "(server)", loc: [], message: exc.message }]);
    } finally {
      create.disabled = false;
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  // Fills the form from a spec (one the form can hold: see formCannotHold).
  const fillFrom = (spec) => {
    const meta = spec.meta || {};
    name.value = meta.name || "";
    framework.value = ROLES[meta.framework] ? meta.framework : "TensorFlow";
    cmd.value = meta.cmd || "";
    image.value = (spec.environment && spec.environment.image) || "";
    envVars.value = Object.entries(meta.envVars || {}).map(([k, v]) => `${k}=${v}`).join("\n");
    gitUrl.value = (spec.code && spec.code.git && spec.code.git.url) || "";
    tags.value = (meta.tags || []).join(", ");
    roles.replaceChildren();
    for (const [role, task] of Object.entries(spec.spec || {})) {
      addRole(role, String(task.replicas ?? 1), task.resources || "");
    }
    if (!roles.children.length) addRole();
  };

  // Clone or update: the form (or, for a spec it cannot hold, the text) from the spec.
  const source = updating || cloning;
  if (source) {
    api("GET", `${API}/${encodeURIComponent(source)}`).then((experiment) => {
      const spec = experiment.spec;
      if (cloning) document.title = `Clone of ${(spec.meta && spec.meta.name) || source} · Submarine workbench`;
      if (formCannotHold(spec)) {
        text.value = toYaml(spec).replace(/^\n/, "") + "\n";
        mode = "text";
        tabs.querySelectorAll("button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.mode === mode)));
        form.hidden = true;
        editor.hidden = false;
      } else {
        fillFrom(spec);
      }
      check();
    }, (exc) => show([{ path: source, loc: [], message: exc.message }]));
  }
  name.focus();
  return () => clearTimeout(timer);
}

// Why the form cannot hold a spec (what it has that the form has no field for), or "".
function formCannotHold(spec) {
  if (!spec || typeof spec !== "object") return "it is not a mapping";
  // What the server adds (experimentId, namespace, resourceMap) and empty values are no loss.
  const known = { meta: ["name", "framework", "cmd", "envVars", "tags", "namespace", "experimentId"],
    environment: ["image"], code: ["syncMode", "git"] };
  const empty = (v) => v === null || v === undefined || v === "" ||
    (typeof v === "object" && !Object.keys(v).length);
  for (const [key, value] of Object.entries(spec)) {
    if (empty(value)) continue;
    if (key === "spec") {
      for (const [role, task] of Object.entries(value || {})) {
        const extra = Object.keys(task || {}).filter((k) => !["replicas", "resources", "resourceMap"].includes(k) && !empty(task[k]));
        if (extra.length) return `spec.${role}.${extra[0]} has no field in the form`;
      }
      continue;
    }
    if (!known[key]) return `${key} has no field in the form`;
    const extra = Object.keys(value || {}).filter((k) => !known[key].includes(k) && !empty(value[k]));
    if (extra.length) return `${key}.${extra[0]} has no field in the form`;
  }
  if (spec.meta && spec.meta.framework && !ROLES[spec.meta.framework]) return `meta.framework ${spec.meta.framework} is not one the form knows`;
  if (spec.code && spec.code.git && Object.keys(spec.code.git).some((k) => k !== "url" && !empty(spec.code.git[k]))) return "code.git has more than a url";
  return "";
}

// A spec's text (JSON, or the block YAML the page itself writes: mappings, lists of
// scalars and plain or double-quoted scalars) as a value; throws on anything else.
function readSpecText(raw) {
  if (raw.trim().startsWith("{")) return JSON.parse(raw);
  const lines = raw.split("\n").map((line) => line.replace(/\s+#.*$/, "").replace(/\s+$/, ""))
    .filter((line) => line.trim() && !line.trim().startsWith("#") && line.trim() !== "---");
  let at = 0;
  const indentOf = (line) => line.length - line.trimStart().length;
  const scalar = (text) => {
    if (text.startsWith('"')) return JSON.parse(text);
    if (text.startsWith("'")) return text.slice(1, -1).replace(/''/g, "'");
    if (text === "null" || text === "~" || text === "") return null;
    if (text === "true" || text === "false") return text === "true";
    if (text === "{}") return {};
    if (text === "[]") return [];
    if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
    if (text.startsWith("[") || text.startsWith("{") || text.startsWith("|") || text.startsWith(">")) {
      throw new Error(`line "${text}" is YAML the form does not read: use JSON, or the YAML / JSON view`);
    }
    return text;
  };
  const block = (indent) => {
    if (lines[at].trimStart().startsWith("- ")) {
      const list = [];
      while (at < lines.length && indentOf(lines[at]) === indent && lines[at].trimStart().startsWith("- ")) {
        list.push(scalar(lines[at].trimStart().slice(2).trim()));
        at += 1;
      }
      return list;
    }
    const map = {};
    while (at < lines.length && indentOf(lines[at]) === indent) {
      const line = lines[at].trim();
      const match = line.match(/^("[^"]*"|[^:]+):(?:\s+(.*))?$/);
      if (!match) throw new Error(`line "${line}" is not "key: value"`);
      const key = match[1].startsWith('"') ? JSON.parse(match[1]) : match[1].trim();
      at += 1;
      if (match[2] !== undefined && match[2] !== "") map[key] = scalar(match[2].trim());
      else if (at < lines.length && indentOf(lines[at]) > indent) map[key] = block(indentOf(lines[at]));
      else if (at < lines.length && indentOf(lines[at]) === indent && lines[at].trimStart().startsWith("- ")) map[key] = block(indent);
      else map[key] = null;
    }
    return map;
  };
  if (!lines.length) return {};
  const value = block(indentOf(lines[0]));
  if (at < lines.length) throw new Error(`line "${lines[at].trim()}" is not indented as the lines above`);
  return value;
}

// The tabs of a new experiment: the form, the text of a spec, and from a template (its own
// view, #/new/template). Given the first two (they switch in place), adds the third.
function newExperimentTabs(mode, buttons) {
  const fromTemplate = h("button", { type: "button", role: "tab", "data-mode": "template",
    "aria-selected": String(mode === "template"),
    onclick: () => { if (mode !== "template") location.hash = "#/new/template"; } }, "From a template");
  return h("div", { class: "tabs", role: "tablist", "aria-label": "How to give the spec" }, buttons, fromTemplate);
}

// -- start ----------------------------------------------------------------------------------

document.getElementById("logout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  document.getElementById("logout").hidden = true;
  route();
});
document.getElementById("logout").hidden = !sessionStorage.getItem(TOKEN_KEY);
window.addEventListener("hashchange", route);
route();
