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

function newExperimentView(main, startMode = null) {
  document.title = "New experiment · Submarine workbench";
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
    h("div", { class: "row" }, field("f-env", "Environment variables", envVars), field("f-git", "Git repository", gitUrl)));

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
      onclick: () => {
        mode = key;
        tabs.querySelectorAll("button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.mode === mode)));
        form.hidden = mode !== "form";
        editor.hidden = mode !== "text";
        check();
      } }, label)));
  const create = h("button", { type: "button", class: "primary", id: "create", onclick: () => submit() }, "Create experiment");
  main.append(h("h1", { text: "New experiment" }), tabs, form, editor, problemsBox, h("div", { class: "actions" }, create));

  const document_ = () => {
    if (mode === "text") {
      const raw = text.value;
      return raw.trim().startsWith("{") ? [raw, "application/json"] : [raw, "application/yaml"];
    }
    const spec = {};
    for (const row of roles.children) {
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

  const show = (problems) => {
    main.querySelectorAll(".error").forEach((e) => { e.textContent = ""; });
    main.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
    problemsBox.replaceChildren();
    for (const problem of problems) {
      const input = mode === "form" ? fieldFor(problem.loc || []) : null;
      if (input) {
        input.setAttribute("aria-invalid", "true");
        const box = input.id ? document.getElementById(`${input.id}-error`) : input.closest(".role").querySelector(".role-error");
        box.textContent = (box.textContent ? box.textContent + " " : "") + problem.message;
        if (input.id) input.setAttribute("aria-describedby", `${input.id}-error`);
      } else if (mode === "form" && (problem.loc || [])[0] === "spec") {
        rolesError.textContent = `${problem.path}: ${problem.message}`;
      } else {
        problemsBox.append(h("li", { text: `${problem.path}: ${problem.message}` }));
      }
    }
    create.disabled = problems.length > 0;
  };

  let checking = 0;
  const check = async () => {
    const ticket = ++checking;
    const [body, type] = document_();
    try {
      const result = await api("POST", `${API}/validate`, body, type);
      if (ticket === checking) show(result.problems);
      return result.valid;
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
      const experiment = await api("POST", API, body, type);
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
  name.focus();
  return () => clearTimeout(timer);
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
