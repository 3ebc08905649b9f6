// The node's models page: the models held here and predictions from both, side by side.
// Every request goes to this node (same origin); helpers in common.js.
"use strict";

async function loadHeld() {
  const { models } = await call("/api/models");
  const box = $("held");
  if (!models.length) {
    box.replaceChildren(el("p", {}, "No models yet. On ", el("a", { href: "/" }, "Training and rounds"),
      ", check a file and press “Fine-tune this hospital's own model”."));
    return [];
  }
  box.replaceChildren(el("div", { class: "table-wrap" }, el("table", { id: "held-table" },
    el("thead", {}, el("tr", {}, ...["Disease", "Model", "Version", "Validation rows", "Accuracy", "ROC AUC", "Brier", "Privacy ε"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...models.map((m) => el("tr", {},
      el("td", {}, m.disease), el("td", {}, m.kind === "global" ? "network's" : "this hospital's own"), el("td", {}, m.version),
      el("td", { class: "num" }, m.metrics.rows ?? "—"), el("td", { class: "num" }, fmt(m.metrics.accuracy)),
      el("td", { class: "num" }, fmt(m.metrics.roc_auc)), el("td", { class: "num" }, fmt(m.metrics.brier)),
      el("td", { class: "num" }, m.epsilon === null ? "—" : fmt(m.epsilon, 2))))))));
  return [...new Set(models.map((m) => m.disease))];
}

function input(feature) {
  const id = `in-${feature.name}`;
  const label = el("label", { for: id }, feature.label + (feature.unit && feature.unit !== "count" ? ` (${feature.unit})` : "") + (feature.required ? "" : " (optional)"));
  let control;
  if (feature.type === "number") {
    control = el("input", { id, name: feature.name, type: "number", step: "any", min: String(feature.range[0]), max: String(feature.range[1]) });
  } else {
    const options = feature.type === "boolean" ? [["", "—"], ["true", "yes"], ["false", "no"]]
      : [["", "—"], ...feature.categories.map((c) => [c.code, c.label])];
    control = el("select", { id, name: feature.name }, ...options.map(([value, text]) => el("option", { value }, text)));
  }
  if (feature.required) control.setAttribute("required", "");
  control.setAttribute("title", feature.help);
  return el("div", { class: "field" }, label, control);
}

async function drawInputs() {
  const disease = $("predict-disease").value;
  if (!disease) return;
  const spec = await call(`/api/diseases/${encodeURIComponent(disease)}`);
  $("inputs").replaceChildren(...spec.features.map(input));
  $("answers").replaceChildren();
  $("comparison").textContent = "";
}

async function predict(event) {
  event.preventDefault();
  const patient = {};
  for (const control of $("inputs").querySelectorAll("input, select")) {
    if (control.value === "") continue;
    patient[control.name] = control.type === "number" ? Number(control.value) : control.value;
  }
  $("predict-status").textContent = "";
  try {
    const result = await call("/api/predict", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ disease: $("predict-disease").value, patient }) });
    $("answers").replaceChildren(...result.answers.map(answerCard));
    $("comparison").textContent = result.comparison;
  } catch (error) {
    $("answers").replaceChildren();
    $("predict-status").textContent = error.message;
    $("predict-status").className = "alert";
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  $("predict-form").addEventListener("submit", predict);
  $("predict-disease").addEventListener("change", drawInputs);
  const diseases = await loadHeld();
  $("predict-disease").replaceChildren(...diseases.map((d) => el("option", { value: d }, d)));
  $("predict-form").hidden = !diseases.length;
  await drawInputs();
});
