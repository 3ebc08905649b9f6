// What the node's pages share: element lookup and building, and calls to this node's API.
// Every request goes to this node (same origin); nothing is fetched from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

async function call(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(body.error?.message || body.detail?.[0]?.msg || `request failed (${response.status})`);
  }
  return body;
}

function fmt(value, digits = 3) { return value === null || value === undefined ? "—" : Number(value).toFixed(digits); }

// One model's answer, for the side-by-side view: a probability (binary outcome) or the likeliest
// class with every class's probability (categorical), the band, the factors, its local scores.
function answerCard(answer) {
  const who = answer.kind === "global" ? "The network's model" : "This hospital's own model";
  const percent = (p) => `${(p * 100).toFixed(1)} %`;
  const headline = answer.classes
    ? el("p", { class: "big" }, `${answer.predicted} · ${percent(answer.probability)}`)
    : el("p", { class: "big" }, percent(answer.probability));
  const classes = answer.classes
    ? [el("ul", { class: "class-chances" }, ...Object.entries(answer.classes).map(([label, p]) =>
        el("li", label === answer.predicted ? { class: "predicted" } : {}, `${label}: ${percent(p)}`)))]
    : [];
  return el("section", { class: `card answer answer-${answer.kind}`, "aria-label": who },
    el("h3", {}, `${who} · ${answer.version}`),
    headline, ...classes,
    el("p", {}, el("strong", {}, `${answer.band_title}.`), answer.advice ? ` ${answer.advice}` : ""),
    el("ul", {}, ...answer.factors.map((f) => el("li", {}, f))),
    el("p", { class: "muted small" }, `On this hospital's ${answer.validation.rows ?? 0} validation rows: AUC ${fmt(answer.validation.roc_auc)}, Brier ${fmt(answer.validation.brier)}.`));
}
