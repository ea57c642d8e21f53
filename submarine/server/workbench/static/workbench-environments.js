// The workbench's environments: the list, one environment (its kernel's dependencies), and
// a new one from a pasted or uploaded JSON / YAML document, as the environment API takes it.
"use strict";

const ENVIRONMENT_API = "/api/v1/environment";

const ENVIRONMENT_EXAMPLE = `name: my-env
dockerImage: python:3.11
description: scikit-learn for the training script
kernelSpec:
  name: python3
  channels:
    - defaults
  pipDependencies:
    - scikit-learn==1.5.2
  condaDependencies: []
`;

function environmentHref(name) {
  return `#/environment/${encodeURIComponent(name)}`;
}

function dependencyCount(list) {
  return Array.isArray(list) ? list.length : 0;
}

function deleteEnvironment(name) {
  return confirmDelete(name, {
    title: "Delete environment?",
    text: `“${name}” will be deleted. Experiments that name it and have not started yet fail when they would start.`,
  }).then(async (yes) => {
    if (!yes) return false;
    await api("DELETE", `${ENVIRONMENT_API}/${encodeURIComponent(name)}`);
    toast(`Deleted environment ${name}`);
    return true;
  });
}

// -- the environment list ------------------------------------------------------------------

function environmentsView(main) {
  document.title = "Environments · Submarine workbench";
  const body = h("tbody");
  const count = h("span", { class: "muted", id: "environment-count" });
  const empty = h("p", { class: "muted", id: "no-environments", hidden: true,
    text: "No environments yet. Create one with “New environment”." });
  main.append(
    h("h1", { text: "Environments" }),
    h("p", { class: "muted", text: "An environment names an image and the packages its kernel needs; an experiment uses it by name (environment.name). Pip packages are installed once, in a virtual environment its replicas run in." }),
    h("div", { class: "toolbar" },
      linkButton("#/environments/new", "New environment", { id: "new-environment", class: "primary" }), count),
    h("div", { class: "table-wrap" }, h("table", { id: "environments" },
      h("caption", { class: "skip", text: "Environments" }),
      h("thead", {}, h("tr", {}, ["Name", "Docker image", "Kernel", "Pip", "Conda", ""].map(
        (title, i) => h("th", { scope: "col", class: i === 2 ? "hide-narrow" : i === 3 || i === 4 ? "num" : null, text: title })))),
      body)),
    empty);

  let stopped = false;
  const load = async () => {
    const environments = ((await api("GET", ENVIRONMENT_API)) || []).map((e) => e.environmentSpec).filter(Boolean);
    if (stopped) return;
    environments.sort((a, b) => String(a.name).localeCompare(String(b.name)));
    body.replaceChildren(...environments.map((spec) => {
      const kernel = spec.kernelSpec || {};
      return h("tr", { "data-name": spec.name },
        h("td", {}, h("a", { href: environmentHref(spec.name), text: spec.name })),
        h("td", { class: "id", "data-col": "image", text: spec.dockerImage || spec.image || "–" }),
        h("td", { class: "hide-narrow", "data-col": "kernel", text: kernel.name || "–" }),
        h("td", { class: "num", "data-col": "pip", text: String(dependencyCount(kernel.pipDependencies)) }),
        h("td", { class: "num", "data-col": "conda", text: String(dependencyCount(kernel.condaDependencies)) }),
        h("td", {}, h("div", { class: "row-actions" },
          h("button", { type: "button", class: "danger", "aria-label": `Delete environment ${spec.name}`,
            onclick: async () => {
              try {
                if (await deleteEnvironment(spec.name)) await load();
              } catch (exc) {
                toast(exc.message);
              }
            } }, "Delete"))));
    }));
    count.textContent = environments.length === 1 ? "1 environment" : `${environments.length} environments`;
    empty.hidden = environments.length > 0;
  };
  load().catch((exc) => toast(exc.message));
  return () => { stopped = true; };
}

// -- one environment -----------------------------------------------------------------------

function dependencyList(id, items, none) {
  if (!Array.isArray(items) || !items.length) return h("p", { class: "muted", id, text: none });
  return h("ul", { class: "deps", id }, items.map((item) => h("li", {}, h("code", { text: String(item) }))));
}

function environmentView(main, name) {
  document.title = `${name} · Environments · Submarine workbench`;
  let stopped = false;
  (async () => {
    let environment;
    try {
      environment = await api("GET", `${ENVIRONMENT_API}/${encodeURIComponent(name)}`);
    } catch (exc) {
      if (stopped) return;
      if (exc.status === 404) {
        main.append(h("h1", { text: name }), h("p", { class: "error", text: "There is no such environment (deleted?)." }),
          h("p", {}, h("a", { href: "#/environments", text: "All environments" })));
        return;
      }
      throw exc;
    }
    if (stopped) return;
    const spec = environment.environmentSpec || {};
    const kernel = spec.kernelSpec || {};
    const channels = Array.isArray(kernel.channels) ? kernel.channels.join(", ") : "";
    const specBox = h("pre", { id: "environment-spec", tabindex: "0" });
    const remove = h("button", { type: "button", class: "danger", id: "delete-environment", onclick: async () => {
      try {
        if (await deleteEnvironment(spec.name)) location.hash = "#/environments";
      } catch (exc) {
        toast(exc.message);
      }
    } }, "Delete");
    main.append(
      h("p", { class: "crumbs" }, h("a", { href: "#/environments", text: "Environments" })),
      h("h1", { text: spec.name }),
      spec.description ? h("p", { id: "environment-description", text: spec.description }) : "",
      h("dl", { class: "facts", id: "environment-facts" }, [
        ["Id", environment.environmentId, "wide"], ["Docker image", spec.dockerImage], ["Image", spec.image],
        ["Kernel", kernel.name], ["Channels", channels],
      ].map(([k, v, wide]) => h("div", { class: wide || null }, h("dt", { text: k }), h("dd", { text: v || "–" })))),
      h("div", { class: "actions start" }, remove),
      h("div", { class: "grid deps-grid" },
        h("section", { class: "panel", "aria-labelledby": "pip-title" },
          h("h2", { id: "pip-title", text: `Pip dependencies (${dependencyCount(kernel.pipDependencies)})` }),
          dependencyList("pip-dependencies", kernel.pipDependencies, "None.")),
        h("section", { class: "panel", "aria-labelledby": "conda-title" },
          h("h2", { id: "conda-title", text: `Conda dependencies (${dependencyCount(kernel.condaDependencies)})` }),
          dependencyList("conda-dependencies", kernel.condaDependencies, "None."))),
      h("h2", { text: "Spec" }), specTabs(specBox, spec), specBox);
  })().catch((exc) => toast(exc.message));
  return () => { stopped = true; };
}

// -- a new environment ---------------------------------------------------------------------

// The server's refusal: "Invalid environment spec. <path>: <problem>; <path>: <problem>"
// shows its problems one a line; any other message as it is.
const INVALID_ENVIRONMENT = "Invalid environment spec. ";

function showError(box, message) {
  box.replaceChildren();
  if (!message.startsWith(INVALID_ENVIRONMENT)) {
    box.textContent = message;
    return;
  }
  const problems = message.slice(INVALID_ENVIRONMENT.length).split(/; (?=[A-Za-z_][\w.]*: )/);
  box.append(INVALID_ENVIRONMENT.trim(), h("ul", { class: "field-problems" }, problems.map((p) => h("li", { text: p }))));
}

function newEnvironmentView(main) {
  document.title = "New environment · Submarine workbench";
  const text = h("textarea", { id: "environment-text", rows: "16", spellcheck: "false",
    "aria-describedby": "environment-hint environment-error" });
  text.value = ENVIRONMENT_EXAMPLE;
  const upload = h("input", { type: "file", id: "environment-file", accept: ".yaml,.yml,.json,application/json,application/yaml" });
  const error = h("div", { class: "error", id: "environment-error", role: "alert" });
  const create = h("button", { type: "button", class: "primary", id: "create-environment", onclick: () => submit() }, "Create environment");
  upload.addEventListener("change", async () => {
    if (upload.files.length) {
      text.value = await upload.files[0].text();
      error.textContent = "";
      text.removeAttribute("aria-invalid");
    }
  });
  text.addEventListener("input", () => {
    error.textContent = "";
    text.removeAttribute("aria-invalid");
  });
  main.append(
    h("p", { class: "crumbs" }, h("a", { href: "#/environments", text: "Environments" })),
    h("h1", { text: "New environment" }),
    h("div", { class: "panel env-form" },
      h("div", { class: "field" }, h("label", { for: "environment-file", text: "Upload an environment file" }), upload),
      h("div", { class: "field" }, h("label", { for: "environment-text", text: "Or paste it (YAML or JSON)" }), text,
        h("span", { class: "muted", id: "environment-hint",
          text: "name (lower-case letters, digits and -), dockerImage, description, and kernelSpec: name, channels, pipDependencies, condaDependencies" })),
      error),
    h("div", { class: "actions" }, create));

  const submit = async () => {
    const body = text.value;
    if (!body.trim()) {
      error.textContent = "Paste or upload an environment first.";
      text.setAttribute("aria-invalid", "true");
      text.focus();
      return;
    }
    const type = body.trim().startsWith("{") ? "application/json" : "application/yaml";
    create.disabled = true;
    error.textContent = "";
    try {
      const made = await api("POST", ENVIRONMENT_API, body, type);
      toast(`Created environment ${made.environmentSpec.name}`);
      location.hash = environmentHref(made.environmentSpec.name);
    } catch (exc) {
      showError(error, exc.message);
      text.setAttribute("aria-invalid", "true");
      text.focus();
    } finally {
      create.disabled = false;
    }
  };
  text.focus();
  return () => {};
}
