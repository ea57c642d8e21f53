// The workbench's "new experiment from a template": pick one, fill its parameters, see the
// spec the server fills from them (its preview route: nothing is created), submit.
"use strict";

// The parameters a server's error names: "Template contains unmapped value: [a, meta.cmd:b]".
function namedInBrackets(message, prefix) {
  const match = message.match(new RegExp(`^${prefix}: \\[(.*)\\]$`));
  return match ? match[1].split(", ").filter(Boolean) : null;
}

// "path: message; path: message" (how the server words a spec's problems) as pairs.
function problemPieces(message) {
  return message.split(/; (?=[\w.[\]"-]+: )/).map((piece) => {
    const match = piece.match(/^([\w.[\]"-]+): ([\s\S]*)$/);
    return match ? { path: match[1], message: match[2] } : { path: "", message: piece };
  });
}

// The string value of a spec at a dotted path (meta.cmd, meta.envVars.A, spec.Worker.cmd).
function valueAt(spec, path) {
  let value = spec;
  for (const step of path.replace(/\[(\d+)\]/g, ".$1").split(".")) {
    if (value === null || typeof value !== "object") return undefined;
    value = value[step];
  }
  return value;
}

function fromTemplateView(main, wanted) {
  document.title = "New experiment from a template · Submarine workbench";
  const tabs = newExperimentTabs("template", [["#/new", "Form"], ["#/new?mode=text", "YAML / JSON"]].map(([href, label]) =>
    h("button", { type: "button", role: "tab", "aria-selected": "false", onclick: () => { location.hash = href; } }, label)));
  const choose = h("select", { id: "run-template" });
  const about = h("p", { class: "muted", id: "run-about" });
  const own = h("div", { id: "run-params" });
  const roles = h("div", { id: "run-roles" });
  const ownBox = h("fieldset", {}, h("legend", { text: "Parameters" }), own);
  const rolesBox = h("fieldset", {}, h("legend", { text: "Roles: replicas and resources" }), roles);
  const preview = h("pre", { id: "preview", tabindex: "0", "aria-label": "The experiment spec the server fills in" });
  const previewTabs = specTabs(preview, null);
  const previewState = h("p", { class: "muted", id: "preview-state", role: "status" });
  const problemsBox = h("ul", { class: "problems", id: "run-problems", role: "alert" });
  const create = h("button", { type: "submit", class: "primary", id: "run-create", form: "run-form" }, "Create experiment");
  const form = h("form", { class: "spec-form panel", id: "run-form", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "run-template", text: "Template" }), choose, about),
    ownBox, rolesBox);
  const body = h("div", { hidden: true }, form,
    problemsBox, h("h2", { text: "Preview" }), previewState, previewTabs, preview, h("div", { class: "actions" }, create));
  const none = h("p", { class: "muted", id: "run-none", hidden: true }, "No templates yet. ",
    h("a", { href: "#/templates/new", text: "Create a template" }), ".");
  main.append(h("h1", { text: "New experiment" }), tabs, none, body);

  let template = null;
  let inputs = new Map(); // parameter name -> its input
  let stopped = false;

  const field = (parameter, index) => {
    const id = `p-${index}`;
    const required = String(parameter.required).toLowerCase() === "true";
    const input = h("input", { id, value: parameter.value ?? "", autocomplete: "off", "data-param": parameter.name,
      "aria-required": required ? "true" : null, "aria-describedby": `${id}-hint ${id}-error` });
    inputs.set(parameter.name, input);
    return h("div", { class: "field" },
      h("label", { for: id }, h("span", { class: "param-name", text: parameter.name }),
        required ? [" ", h("span", { class: "req", text: "required" })] : null),
      input,
      h("span", { class: "muted", id: `${id}-hint`, text: parameter.description || "" }),
      h("p", { class: "error", id: `${id}-error` }));
  };

  const fill = (spec) => {
    template = spec;
    inputs = new Map();
    about.textContent = [spec.description, spec.author ? `by ${spec.author}` : ""].filter(Boolean).join(" · ");
    const parameters = spec.parameters || [];
    const declared = parameters.filter((p) => !MADE_PARAMETER.test(p.name));
    own.replaceChildren(...declared.map((p) => field(p, parameters.indexOf(p))));
    if (!declared.length) own.append(h("p", { class: "muted", text: "This template has no parameters of its own." }));
    const byRole = new Map();
    for (const p of parameters) {
      const match = p.name.match(MADE_PARAMETER);
      if (!match) continue;
      if (!byRole.has(match[1])) byRole.set(match[1], []);
      byRole.get(match[1]).push([match[2], p, parameters.indexOf(p)]);
    }
    roles.replaceChildren(...[...byRole].map(([role, made]) => h("div", { class: "run-role", "data-role": role },
      h("span", { class: "role-label", text: role }),
      made.map(([what, p, index]) => {
        const id = `p-${index}`;
        const input = h("input", { id, value: p.value ?? "", autocomplete: "off", "data-param": p.name,
          "aria-label": `${role} ${what.replace("resourceMap.", "")}`, "aria-describedby": `${id}-error` });
        inputs.set(p.name, input);
        return h("div", { class: "field" }, h("span", { class: "muted", "aria-hidden": "true", text: what.replace("resourceMap.", "") }),
          input, h("p", { class: "error", id: `${id}-error` }));
      }),
      h("p", { class: "error role-error", id: `role-${role}-error` }))));
    rolesBox.hidden = !byRole.size;
    refresh();
  };

  // The values sent: every field as typed; a required one left empty is not sent, so that
  // the server says it is missing.
  const values = () => {
    const params = {};
    for (const p of template.parameters || []) {
      const input = inputs.get(p.name);
      if (!input) continue;
      if (input.value.trim() === "" && input.getAttribute("aria-required") === "true") continue;
      params[p.name] = input.value;
    }
    return params;
  };

  const mark = (name, message) => {
    const input = inputs.get(name);
    if (!input) return false;
    input.setAttribute("aria-invalid", "true");
    const box = document.getElementById(`${input.id}-error`);
    box.textContent = (box.textContent ? box.textContent + " " : "") + message;
    return true;
  };

  // The server's words, each at the fields it is about when the page can tell which.
  const show = (message) => {
    main.querySelectorAll("#run-form .error").forEach((e) => { e.textContent = ""; });
    main.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
    problemsBox.replaceChildren();
    if (!message) return;
    const unmapped = namedInBrackets(message, "Template contains unmapped value");
    if (unmapped) {
      const missing = new Set(unmapped.map((entry) => (inputs.has(entry) ? entry : entry.slice(entry.lastIndexOf(":") + 1))));
      const left = [...missing].filter((name) => !mark(name, "required: give it a value"));
      if (left.length) problemsBox.append(h("li", { text: `Template contains unmapped value: [${left.join(", ")}]` }));
      return;
    }
    for (const piece of problemPieces(message)) {
      const role = piece.path.match(/^spec\.([^.]+)\.(replicas|resources)$/);
      let marked = false;
      if (role && piece.path.endsWith("replicas")) marked = mark(`spec.${role[1]}.replicas`, piece.message);
      else if (role && inputs.has(`spec.${role[1]}.resourceMap.cpu`)) {
        // The resources are made of the cpu and memory values: the problem is the role's.
        for (const what of ["cpu", "memory"]) inputs.get(`spec.${role[1]}.resourceMap.${what}`).setAttribute("aria-invalid", "true");
        const box = roles.querySelector(`[data-role="${CSS.escape(role[1])}"] .role-error`);
        box.textContent = (box.textContent ? box.textContent + " " : "") + piece.message;
        marked = true;
      } else if (piece.path && template) {
        const text = valueAt(template.experimentSpec || {}, piece.path);
        const names = typeof text === "string" ? [...text.matchAll(/\{\{(.*?)\}\}/g)].map((m) => m[1]) : [];
        for (const name of names) marked = mark(`${piece.path}:${name}`, piece.message) || mark(name, piece.message) || marked;
        if (!names.length) marked = mark(piece.path, piece.message);
      }
      if (!marked) problemsBox.append(h("li", { text: piece.path ? `${piece.path}: ${piece.message}` : piece.message }));
    }
  };

  const say = (text) => {
    if (previewState.textContent !== text) previewState.textContent = text;
  };
  let ticket = 0;
  let timer = null;
  const refresh = async () => {
    clearTimeout(timer);
    if (!template) return false;
    const mine = ++ticket;
    try {
      const spec = await api("POST", `${TEMPLATE_API}/${encodeURIComponent(template.name)}/preview`, { params: values() });
      if (mine !== ticket || stopped) return false;
      show(null);
      previewTabs.show(spec);
      preview.classList.remove("stale");
      say("The experiment that “Create experiment” starts, as the server fills it in:");
      create.disabled = false;
      return true;
    } catch (exc) {
      if (mine !== ticket || stopped) return false;
      show(exc.message);
      preview.classList.add("stale");
      say("These values do not make an experiment (see the problems marked above); the last good preview is shown dimmed.");
      create.disabled = true;
      return false;
    }
  };
  form.addEventListener("input", (event) => {
    if (event.target === choose) return;
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });

  const load = async (name) => {
    const spec = (await api("GET", `${TEMPLATE_API}/${encodeURIComponent(name)}`)).experimentTemplateSpec;
    if (stopped) return;
    history.replaceState(history.state, "", templateHref(name, true));
    previewTabs.show(null);
    fill(spec);
  };
  choose.addEventListener("change", () => load(choose.value).catch((exc) => toast(exc.message)));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!template || !(await refresh())) {
      const first = main.querySelector("[aria-invalid='true']");
      if (first) first.focus();
      return;
    }
    create.disabled = true;
    try {
      const experiment = await api("POST", `${API}/${encodeURIComponent(template.name)}`, { params: values() });
      location.hash = `#/experiment/${experiment.experimentId}`;
    } catch (exc) {
      show(exc.message);
    } finally {
      create.disabled = false;
    }
  });

  (async () => {
    const names = ((await api("GET", TEMPLATE_API)) || []).map((t) => t.experimentTemplateSpec && t.experimentTemplateSpec.name).filter(Boolean);
    if (stopped) return;
    if (!names.length) {
      none.hidden = false;
      return;
    }
    choose.replaceChildren(...names.map((n) => h("option", { value: n, text: n })));
    const chosen = names.includes(wanted) ? wanted : names[0];
    if (wanted && chosen !== wanted) toast(`There is no template “${wanted}”: showing ${chosen}`);
    choose.value = chosen;
    body.hidden = false;
    await load(chosen);
    const first = own.querySelector("input");
    (first || choose).focus();
  })().catch((exc) => toast(exc.message));
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
