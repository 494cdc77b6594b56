// Renders /openapi.json into the docs page. Plain DOM, no framework, no external requests.
"use strict";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

function typeOf(schema) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  const type = Array.isArray(schema.type) ? schema.type.filter((t) => t !== "null").join(" | ") : schema.type || "";
  return schema.enum ? `${type}: ${schema.enum.filter((v) => v !== null).join(", ")}` : type;
}

function renderOperations(spec) {
  const section = document.getElementById("operations");
  document.getElementById("loading").remove();
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const block = el("article", { class: "operation", id: op.operationId || path });
      block.append(el("h3", {}, el("span", { class: `method method-${method}` }, method.toUpperCase()), " ", el("code", {}, path)));
      if (op.summary) block.append(el("p", {}, op.summary));
      if (op.parameters && op.parameters.length) {
        const table = el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Parameter"), el("th", {}, "Type"), el("th", {}, "Meaning"))));
        const body = el("tbody");
        for (const p of op.parameters) body.append(el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, typeOf(p.schema)), el("td", {}, p.description || "")));
        table.append(body);
        block.append(table);
      }
      if (op.requestBody) block.append(el("p", {}, "Body: ", Object.keys(op.requestBody.content).join(", ")));
      block.append(el("p", { class: "muted" }, "Responses: ", Object.keys(op.responses).join(", ")));
      section.append(block);
    }
  }
}

function renderContract(spec) {
  const schema = spec.components.schemas.Application;
  const table = el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Column"), el("th", {}, "Role"), el("th", {}, "Values"), el("th", {}, "Meaning"))));
  const body = el("tbody");
  for (const [name, prop] of Object.entries(schema.properties)) {
    let values = typeOf(prop);
    if (prop.minimum !== undefined) values += ` ≥ ${prop.minimum}`;
    if (prop.maximum !== undefined) values += `, ≤ ${prop.maximum.toLocaleString("en")}`;
    const role = prop["x-decides"] === false ? "monitored only (optional)" : prop["x-monitored"] ? "decides, monitored" : name === "Loan_ID" ? "required" : "decides";
    body.append(el("tr", {}, el("td", {}, el("code", {}, name)), el("td", {}, role), el("td", {}, values), el("td", {}, prop.description || "")));
  }
  table.append(body);
  document.getElementById("contract").append(table);
}

function renderReasons(spec) {
  const table = el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Code"), el("th", {}, "Feature"), el("th", {}, "Text"))));
  const body = el("tbody");
  for (const r of spec["x-reasons"] || []) body.append(el("tr", {}, el("td", {}, el("code", {}, r.code)), el("td", {}, r.feature), el("td", {}, r.text)));
  table.append(body);
  document.getElementById("reasons").append(el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Reason codes and texts" }, table));
}

function renderProblems(spec) {
  const list = el("dl", { class: "problems" });
  for (const p of spec["x-problem-types"] || []) {
    list.append(el("dt", { id: `problem-${p.code}` }, el("code", {}, p.code), ` (${p.status})`), el("dd", {}, p.title));
  }
  document.getElementById("problems").append(list);
  if (location.hash) document.querySelector(location.hash)?.scrollIntoView();
}

fetch("/openapi.json")
  .then((response) => response.json())
  .then((spec) => { renderOperations(spec); renderContract(spec); renderReasons(spec); renderProblems(spec); })
  .catch(() => { document.getElementById("loading").textContent = "The API description could not be loaded."; });
