// The workbench's experiment templates: the list, one template, and a new one (starting an
// experiment from a template is workbench-run.js's).
"use strict";

// A role's parameters that the server makes (spec.<Role>.replicas, .resourceMap.cpu|memory).
const MADE_PARAMETER = /^spec\.([^.]+)\.(replicas|resourceMap\.cpu|resourceMap\.memory)$/;

const TEMPLATE_EXAMPLE = {
  parameters: [{ name: "learning_rate", value: "0.01", required: false, description: "passed to train.py" }],
  spec: `meta:
  name: my-run
  framework: TensorFlow
  cmd: python train.py --learning_rate={{learning_rate}}
environment:
  image: local
spec:
  Worker:
    replicas: 1
    resources: cpu=1,memory=1024M
`,
};

const TEMPLATE_FILE_EXAMPLE = `name: my-template
author: me
description: Trains with a learning rate of your choice.
parameters:
  - name: learning_rate
    value: "0.01"
    description: passed to train.py
experimentSpec:
${TEMPLATE_EXAMPLE.spec.replace(/^(?=.)/gm, "  ")}`;

function linkButton(href, label, attrs = {}) {
  return h("a", { ...attrs, href, class: `button ${attrs.class || ""}`.trim(), text: label });
}

function deleteTemplate(name) {
  return confirmDelete(name, {
    title: "Delete template?",
    text: `“${name}” will be deleted. Experiments started from it are kept.`,
  }).then(async (yes) => {
    if (!yes) return false;
    await api("DELETE", `${TEMPLATE_API}/${encodeURIComponent(name)}`);
    toast(`Deleted template ${name}`);
    return true;
  });
}

// -- the template list ---------------------------------------------------------------------

function templatesView(main) {
  document.title = "Templates · Submarine workbench";
  const body = h("tbody");
  const count = h("span", { class: "muted", id: "template-count" });
  const empty = h("p", { class: "muted", id: "no-templates", hidden: true,
    text: "No templates yet. Create one with “New template”." });
  main.append(
    h("h1", { text: "Templates" }),
    h("p", { class: "muted", text: "A template is an experiment spec with parameters: start an experiment from it with a few values." }),
    h("div", { class: "toolbar" }, linkButton("#/templates/new", "New template", { id: "new-template", class: "primary" }), count),
    h("div", { class: "table-wrap" }, h("table", { id: "templates" },
      h("caption", { class: "skip", text: "Templates" }),
      h("thead", {}, h("tr", {}, ["Name", "Author", "Description", "Parameters", ""].map(
        (title, i) => h("th", { scope: "col", class: i === 1 ? "hide-narrow" : null, text: title })))),
      body)),
    empty);

  let stopped = false;
  const load = async () => {
    const templates = ((await api("GET", TEMPLATE_API)) || []).map((t) => t.experimentTemplateSpec).filter(Boolean);
    if (stopped) return;
    body.replaceChildren(...templates.map((spec) => h("tr", { "data-name": spec.name },
      h("td", {}, h("a", { href: templateHref(spec.name), text: spec.name })),
      h("td", { class: "hide-narrow", text: spec.author || "" }),
      h("td", { class: "wrap", text: spec.description || "" }),
      h("td", { "data-col": "parameters", text: String((spec.parameters || []).length) }),
      h("td", {}, h("div", { class: "row-actions" },
        linkButton(templateHref(spec.name, true), "New experiment", { "aria-label": `New experiment from ${spec.name}` }),
        h("button", { type: "button", class: "danger", "aria-label": `Delete template ${spec.name}`,
          onclick: async () => {
            try {
              if (await deleteTemplate(spec.name)) await load();
            } catch (exc) {
              toast(exc.message);
            }
          } }, "Delete"))))));
    count.textContent = templates.length === 1 ? "1 template" : `${templates.length} templates`;
    empty.hidden = templates.length > 0;
  };
  load().catch((exc) => toast(exc.message));
  return () => { stopped = true; };
}

// -- one template ---------------------------------------------------------------------------

// A spec without its empty fields (nulls, {} and []), to read; JSON shows it all.
function compact(value) {
  if (Array.isArray(value)) return value.map(compact);
  if (value === null || typeof value !== "object") return value;
  const kept = {};
  for (const [key, item] of Object.entries(value)) {
    const small = compact(item);
    const empty = small === null || small === undefined ||
      (typeof small === "object" && !Object.keys(small).length);
    if (!empty) kept[key] = small;
  }
  return kept;
}

// YAML / JSON tabs over a <pre>; tabs.show(value) shows another value.
function specTabs(box, value) {
  let format = "yaml";
  let shown = value;
  const tabs = h("div", { class: "tabs", role: "tablist", "aria-label": "Spec format" },
    ["yaml", "json"].map((key) => h("button", { type: "button", role: "tab", "data-format": key,
      "aria-selected": String(key === format), onclick: () => {
        format = key;
        tabs.querySelectorAll("button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.format === key)));
        tabs.show(shown);
      } }, key.toUpperCase())));
  tabs.show = (next) => {
    shown = next;
    if (next === null) box.textContent = "";
    else box.textContent = format === "json" ? JSON.stringify(next, null, 2) : toYaml(compact(next)).replace(/^\n/, "");
  };
  tabs.show(value);
  return tabs;
}

function requiredMark(parameter) {
  return String(parameter.required).toLowerCase() === "true"
    ? h("span", { class: "req", text: "required" }) : h("span", { class: "muted", text: "no" });
}

function defaultText(value) {
  if (value === null || value === undefined) return h("span", { class: "muted", text: "none" });
  if (value === "") return h("span", { class: "muted", text: "(empty)" });
  return h("code", { text: String(value) });
}

function templateView(main, name) {
  document.title = `${name} · Templates · Submarine workbench`;
  let stopped = false;
  (async () => {
    let spec;
    try {
      spec = (await api("GET", `${TEMPLATE_API}/${encodeURIComponent(name)}`)).experimentTemplateSpec;
    } catch (exc) {
      if (stopped) return;
      if (exc.status === 404) {
        main.append(h("h1", { text: name }), h("p", { class: "error", text: "There is no such template (deleted?)." }),
          h("p", {}, h("a", { href: "#/templates", text: "All templates" })));
        return;
      }
      throw exc;
    }
    if (stopped) return;
    const parameters = spec.parameters || [];
    const row = (p) => h("tr", { "data-param": p.name },
      h("td", { class: "id", text: p.name }), h("td", {}, defaultText(p.value)),
      h("td", {}, requiredMark(p)), h("td", { class: "wrap", text: p.description || "" }));
    const declared = parameters.filter((p) => !MADE_PARAMETER.test(p.name));
    const made = parameters.filter((p) => MADE_PARAMETER.test(p.name));
    const remove = h("button", { type: "button", class: "danger", id: "delete-template", onclick: async () => {
      try {
        if (await deleteTemplate(name)) location.hash = "#/templates";
      } catch (exc) {
        toast(exc.message);
      }
    } }, "Delete");
    const specBox = h("pre", { id: "template-spec", tabindex: "0" });
    const experimentSpec = spec.experimentSpec || {};
    const meta = experimentSpec.meta || {};
    main.append(
      h("p", { class: "crumbs" }, h("a", { href: "#/templates", text: "Templates" })),
      h("h1", { text: spec.name }),
      spec.description ? h("p", { id: "template-description", text: spec.description }) : "",
      h("dl", { class: "facts" }, [
        ["Author", spec.author], ["Framework", meta.framework], ["Parameters", String(parameters.length)],
        ["Roles", Object.keys(experimentSpec.spec || {}).join(", ")],
      ].map(([k, v]) => h("div", {}, h("dt", { text: k }), h("dd", { text: v || "–" })))),
      h("div", { class: "actions start" },
        linkButton(templateHref(spec.name, true), "New experiment from this template", { id: "use-template", class: "primary" }),
        remove),
      h("h2", { text: "Parameters" }),
      h("div", { class: "table-wrap" }, h("table", { id: "parameters" },
        h("thead", {}, h("tr", {}, ["Name", "Default", "Required", "Description"].map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", {}, declared.map(row),
          declared.length ? null : h("tr", {}, h("td", { colspan: "4", class: "muted", text: "No parameters of its own." })),
          made.length ? h("tr", { class: "group" }, h("th", { colspan: "4", scope: "rowgroup", text: "Each role's replicas and resources" })) : null,
          made.map(row)))),
      h("h2", { text: "Spec" }), specTabs(specBox, experimentSpec), specBox);
  })().catch((exc) => toast(exc.message));
  return () => { stopped = true; };
}

// -- a new template -------------------------------------------------------------------------

function newTemplateView(main) {
  document.title = "New template · Submarine workbench";
  let mode = "form";
  const problemsBox = h("ul", { class: "problems", id: "template-problems", role: "alert" });
  const field = (id, label, input, hint) => h("div", { class: "field" },
    h("label", { for: id, text: label }), input, hint ? h("span", { class: "muted", text: hint }) : null,
    h("p", { class: "error", id: `${id}-error` }));
  const name = h("input", { id: "t-name", autocomplete: "off", value: "my-template" });
  const author = h("input", { id: "t-author", autocomplete: "off" });
  const description = h("input", { id: "t-description", autocomplete: "off" });
  const rows = h("div", { id: "t-params" });
  const paramsError = h("p", { class: "error", id: "t-params-error" });
  const addParameter = (p = { name: "", value: "", required: false, description: "" }) => {
    const n = rows.children.length + 1;
    const row = h("div", { class: "param-row" },
      h("input", { class: "p-name", value: p.name, "aria-label": `Name of parameter ${n}`, placeholder: "name" }),
      h("input", { class: "p-value", value: p.value, "aria-label": `Default of parameter ${n}`, placeholder: "default" }),
      h("label", { class: "check" }, h("input", { type: "checkbox", class: "p-required", checked: p.required,
        "aria-label": `Parameter ${n} is required` }), "required"),
      h("input", { class: "p-description", value: p.description, "aria-label": `Description of parameter ${n}`, placeholder: "description" }),
      h("button", { type: "button", "aria-label": `Remove parameter ${n}`, onclick: () => { row.remove(); check(); } }, "Remove"),
      h("p", { class: "error p-error" }));
    rows.append(row);
  };
  TEMPLATE_EXAMPLE.parameters.forEach(addParameter);
  const spec = h("textarea", { id: "t-spec", rows: "14", spellcheck: "false", "aria-describedby": "t-spec-hint t-spec-error" });
  spec.value = TEMPLATE_EXAMPLE.spec;
  const form = h("form", { class: "spec-form panel", id: "template-form", novalidate: true },
    h("div", { class: "row" }, field("t-name", "Name", name, "at most 32 characters"), field("t-author", "Author", author)),
    field("t-description", "Description", description),
    h("fieldset", {}, h("legend", { text: "Parameters" }),
      h("p", { class: "muted", text: "Each one fills the {{name}} placeholders of the spec. Each role's replicas, cpu and memory become parameters by themselves." }),
      rows, h("button", { type: "button", onclick: () => { addParameter(); check(); } }, "Add parameter"), paramsError),
    h("div", { class: "field" }, h("label", { for: "t-spec", text: "Experiment spec (YAML or JSON)" }), spec,
      h("span", { class: "muted", id: "t-spec-hint", text: "{{name}} placeholders in string values" }),
      h("ul", { class: "error field-problems", id: "t-spec-error" })));

  const text = h("textarea", { id: "template-text", rows: "22", spellcheck: "false", "aria-label": "Template as YAML or JSON" });
  text.value = TEMPLATE_FILE_EXAMPLE;
  const upload = h("input", { type: "file", id: "template-file", accept: ".yaml,.yml,.json,application/json,application/yaml" });
  upload.addEventListener("change", async () => {
    if (upload.files.length) {
      text.value = await upload.files[0].text();
      check();
    }
  });
  const editor = h("div", { class: "panel", id: "template-editor", hidden: true },
    h("div", { class: "field" }, h("label", { for: "template-file", text: "Upload a template file" }), upload),
    h("div", { class: "field" }, h("label", { for: "template-text", text: "Or paste it (YAML or JSON)" }), text));
  const tabs = h("div", { class: "tabs", role: "tablist", "aria-label": "How to give the template" },
    [["form", "Form"], ["text", "File / YAML / JSON"]].map(([key, label]) => h("button", {
      type: "button", role: "tab", "data-mode": key, "aria-selected": String(key === mode), onclick: () => {
        mode = key;
        tabs.querySelectorAll("button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.mode === mode)));
        form.hidden = mode !== "form";
        editor.hidden = mode !== "text";
        check();
      } }, label)));
  const create = h("button", { type: "button", class: "primary", id: "create-template", onclick: () => submit() }, "Create template");
  main.append(h("p", { class: "crumbs" }, h("a", { href: "#/templates", text: "Templates" })),
    h("h1", { text: "New template" }), tabs, form, editor, problemsBox, h("div", { class: "actions" }, create));

  // The template as the server reads it: the whole text, or the form's fields with the
  // spec's text under experimentSpec (JSON when the spec is JSON, else YAML).
  const documentOf = () => {
    if (mode === "text") return [text.value, text.value.trim().startsWith("{") ? "application/json" : "application/yaml"];
    const head = { name: name.value.trim() };
    if (author.value.trim()) head.author = author.value.trim();
    if (description.value.trim()) head.description = description.value.trim();
    head.parameters = [...rows.children].map((row) => {
      const p = { name: row.querySelector(".p-name").value.trim(), value: row.querySelector(".p-value").value,
        required: row.querySelector(".p-required").checked ? "true" : "false" };
      const about = row.querySelector(".p-description").value.trim();
      if (about) p.description = about;
      return p;
    });
    const specText = spec.value;
    if (specText.trim().startsWith("{")) {
      try {
        return [{ ...head, experimentSpec: JSON.parse(specText) }, "application/json"];
      } catch (exc) {
        return [null, `the spec is not valid JSON: ${exc.message}`];
      }
    }
    const indented = specText.replace(/^(?=.)/gm, "  ");
    return [`experimentSpec:\n${indented}\n${toYaml(head).replace(/^\n/, "")}\n`, "application/yaml"];
  };

  const show = (problems) => {
    main.querySelectorAll(".error").forEach((e) => e.replaceChildren());
    main.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
    problemsBox.replaceChildren();
    const inputs = { name, author, description };
    for (const problem of problems) {
      const loc = problem.loc || [];
      const at = mode === "form" ? loc[0] : null;
      const row = at === "parameters" && Number.isInteger(loc[1]) ? rows.children[loc[1]] : null;
      if (at in inputs && loc.length === 1) {
        inputs[at].setAttribute("aria-invalid", "true");
        inputs[at].setAttribute("aria-describedby", `${inputs[at].id}-error`);
        document.getElementById(`${inputs[at].id}-error`).append(problem.message, " ");
      } else if (row) {
        const input = row.querySelector(`.p-${{ value: "value", required: "required", description: "description" }[loc[2]] || "name"}`);
        input.setAttribute("aria-invalid", "true");
        row.querySelector(".p-error").append(problem.message, " ");
      } else if (at === "parameters") {
        paramsError.append(`${problem.path}: ${problem.message} `);
      } else if (at === "experimentSpec") {
        spec.setAttribute("aria-invalid", "true");
        const where = loc.slice(1).join(".");
        document.getElementById("t-spec-error").append(h("li", { text: where ? `${where}: ${problem.message}` : problem.message }));
      } else {
        problemsBox.append(h("li", { text: `${problem.path}: ${problem.message}` }));
      }
    }
    create.disabled = problems.length > 0;
  };

  let checking = 0;
  const check = async () => {
    const ticket = ++checking;
    const [body, type] = documentOf();
    if (body === null) {
      show([{ path: "experimentSpec", loc: ["experimentSpec"], message: type }]);
      return false;
    }
    try {
      const result = await api("POST", `${TEMPLATE_API}/validate`, body, type);
      if (ticket === checking) show(result.problems);
      return result.valid;
    } catch (exc) {
      if (ticket === checking) show([{ path: "(template)", loc: [], message: exc.message }]);
      return false;
    }
  };
  let timer = null;
  const later = (ms) => () => {
    clearTimeout(timer);
    timer = setTimeout(check, ms);
  };
  main.addEventListener("input", later(250));
  main.addEventListener("change", later(50));

  const submit = async () => {
    if (!(await check())) {
      const first = main.querySelector("[aria-invalid='true']");
      if (first) first.focus();
      return;
    }
    const [body, type] = documentOf();
    create.disabled = true;
    try {
      const made = await api("POST", TEMPLATE_API, body, type);
      location.hash = templateHref(made.experimentTemplateSpec.name);
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
  check();
  name.focus();
  return () => clearTimeout(timer);
}
