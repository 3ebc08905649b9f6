// The node's local page: upload and check a file, train with progress, submit, join rounds.
// Every request goes to this node (same origin); helpers in common.js.
"use strict";

let uploadId = null;
let jobId = null;

function fmt(value, digits = 3) { return value === null || value === undefined ? "—" : Number(value).toFixed(digits); }

function renderBudget(status) {
  const box = $("budget");
  box.replaceChildren();
  const cap = status.effective_cap;
  const diseases = status.diseases.map((d) => d.id);
  for (const disease of diseases) {
    const spent = status.privacy_spent[disease]?.epsilon ?? 0;
    const share = cap ? Math.min(1, spent / cap) : 0;
    const meter = el("div", { class: "meter" + (share >= 1 ? " full" : share > 0.75 ? " near" : ""), role: "meter",
      "aria-valuemin": "0", "aria-valuemax": String(cap ?? 0), "aria-valuenow": String(spent), "aria-label": `${disease} privacy budget` });
    const bar = el("span");
    bar.style.width = `${(share * 100).toFixed(1)}%`;  // CSSOM, which the page's CSP allows
    meter.append(bar);
    box.append(el("div", { class: "budget-row" },
      el("div", {}, el("strong", {}, disease), ` ε ${fmt(spent, 2)} spent` + (cap ? ` of ${fmt(cap, 2)}` : " (no cap)")), meter));
  }
}

async function loadStatus() {
  const status = await call("/api/status");
  $("who").textContent = status.enrolled ? `${status.hospital} · server ${status.server}` : "Not enrolled: run medfed node enroll";
  const select = $("disease");
  if (!select.options.length) {
    for (const d of status.diseases) select.append(el("option", { value: d.id }, d.title));
  }
  renderBudget(status);
}

function renderReport(report) {
  const box = $("report");
  box.replaceChildren();
  const verdict = report.ok ? el("p", { class: "ok", id: "report-verdict" }, `✔ Ready to train: ${report.valid_rows} usable rows of ${report.rows}, ${report.positives} positive.`)
    : el("div", { class: "alert", id: "report-verdict", role: "alert" }, el("strong", {}, "This file cannot be trained on yet:"),
        el("ul", {}, ...report.blocking.map((reason) => el("li", {}, reason))));
  box.append(verdict);
  if (report.identifiers.length) {
    box.append(el("h3", {}, "Identifier scan"), el("ul", {}, ...report.identifiers.map((f) => el("li", { class: "finding" }, f))));
  } else {
    box.append(el("p", {}, "Identifier scan: no names, record numbers, dates or contact details found."));
  }
  if (report.problems.length) {
    box.append(el("h3", {}, `Row problems (${report.problem_count})`), el("ul", {}, ...report.problems.map((p) => el("li", {}, p))));
  }
  const rows = report.columns.map((c) => el("tr", {}, el("td", {}, c.label), el("td", {}, report.matched_columns[c.feature] || "—"),
    el("td", {}, c.present), el("td", {}, c.missing),
    el("td", {}, c.type === "category" ? Object.entries(c.counts || {}).map(([k, v]) => `${k}: ${v}`).join(", ") : `${fmt(c.min, 2)} – ${fmt(c.max, 2)}`),
    el("td", {}, c.type === "category" ? "" : `${fmt(c.mean, 2)} ± ${fmt(c.std, 2)}`)));
  box.append(el("h3", {}, "Columns"), el("div", { class: "table-wrap" }, el("table", { class: "columns" },
    el("thead", {}, el("tr", {}, ...["Input", "Column", "Present", "Missing", "Range / counts", "Mean ± sd"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...rows))));
  const conversions = Object.entries(report.conversions || {});
  if (conversions.length) {
    const label = (name) => report.columns.find((c) => c.feature === name)?.label || name;
    box.append(el("h3", {}, "Units"), el("ul", { id: "report-units" }, ...conversions.map(([name, text]) => el("li", {}, `${label(name)}: ${text}`))));
  }
  for (const note of report.notes || []) box.append(el("p", { class: "muted" }, note));
  if (report.ignored_columns.length) box.append(el("p", { class: "muted" }, `Ignored columns: ${report.ignored_columns.join(", ")}`));
  $("report-card").hidden = false;
  $("train-card").hidden = !report.ok;
}

// How each column of the chosen file is read: by name, with a unit from its header, from the
// mapping saved for files of this shape, or proposed for a header MedFed does not know. The
// hospital corrects and saves it once; every later file of the same shape is read the same way.
let mapping = null;

function mappingRow(choice, index, features) {
  const select = el("select", { id: `map-role-${index}`, "aria-label": `What column ${choice.column} is` });
  const options = [["ignore", "— not used —"], ["drop", "Leave out (never read)"], ["target", "The outcome"],
    ...features.map((f) => [`feature:${f.name}`, f.label + (f.required ? " (required)" : "")])];
  const current = choice.role === "feature" ? `feature:${choice.feature}` : choice.role;
  for (const [value, label] of options) {
    const option = el("option", { value }, label);
    if (value === current) option.selected = true;
    select.append(option);
  }
  const feature = features.find((f) => f.name === choice.feature);
  const unit = el("input", { id: `map-unit-${index}`, list: `map-units-${index}`, value: choice.unit || "",
    placeholder: feature?.unit || "", "aria-label": `Unit of column ${choice.column}`, size: "10" });
  const units = el("datalist", { id: `map-units-${index}` });
  const fill = () => {
    const chosen = features.find((f) => `feature:${f.name}` === select.value);
    unit.disabled = !chosen || !chosen.unit;
    unit.placeholder = chosen?.unit || "";
    units.replaceChildren(...(chosen ? [chosen.unit, ...chosen.alternative_units].filter(Boolean) : []).map((u) => el("option", { value: u })));
  };
  select.addEventListener("change", fill);
  fill();
  const how = choice.confirmed ? choice.how : el("strong", { class: "proposed" }, `proposed: ${choice.how}`);
  return el("tr", choice.confirmed ? {} : { class: "proposal" }, el("th", { scope: "row" }, choice.column),
    el("td", {}, select), el("td", {}, unit, units), el("td", {}, how));
}

async function loadMapping(file, refused) {
  const data = new FormData();
  data.append("file", file.slice(0, 65536), file.name);
  data.append("disease", $("disease").value);
  try {
    mapping = await call("/api/mappings/proposal", { method: "POST", body: data });
  } catch (error) {
    mapping = null;
    $("mapping-card").hidden = true;
    return;
  }
  const proposed = mapping.columns.filter((c) => !c.confirmed).length;
  const units = mapping.columns.filter((c) => c.unit).length;
  $("mapping-table").tBodies[0].replaceChildren(...mapping.columns.map((c, i) => mappingRow(c, i, mapping.features)));
  $("mapping-intro").textContent = mapping.saved
    ? "This file is read with the mapping saved for files of its shape. Correct it below if a column is wrong."
    : proposed
      ? `${proposed} column(s) are only proposed (highlighted): check each row, correct it if needed, and save. The mapping is kept for every later file with the same columns.`
      : "Every column was recognised by its name. Correct a row and save if one is wrong, or give a unit when the values are not in the unit shown.";
  $("mapping-status").textContent = "";
  $("mapping-card").hidden = !(refused || proposed || units || mapping.saved);
}

async function saveMapping(event) {
  event.preventDefault();
  if (!mapping) return;
  const body = { disease: mapping.disease, header: mapping.header, columns: mapping.columns.map((c, i) => {
    const value = $(`map-role-${i}`).value;
    const feature = value.startsWith("feature:") ? value.slice(8) : null;
    const unit = $(`map-unit-${i}`).value.trim();
    return { column: c.column, role: feature ? "feature" : value, feature, unit: feature && unit ? unit : null };
  }) };
  try {
    await call("/api/mappings", { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  } catch (error) {
    $("mapping-status").replaceChildren(el("span", { class: "alert", role: "alert" }, error.message));
    return;
  }
  $("mapping-status").textContent = "Mapping saved. Checking the file again…";
  await upload();
}

async function upload(event) {
  event?.preventDefault();
  const file = $("file").files[0];
  if (!file) { $("upload-status").textContent = "Choose a CSV file first."; return; }
  const data = new FormData();
  data.append("file", file);
  data.append("disease", $("disease").value);
  data.append("drop_columns", $("drop_columns").value);
  $("upload-status").textContent = `Checking ${file.name}…`;
  try {
    const answer = await call("/api/uploads", { method: "POST", body: data });
    uploadId = answer.upload_id;
    $("upload-status").textContent = `${file.name} checked.`;
    renderReport(answer.report);
    await loadMapping(file, false);
    loadRounds();
  } catch (error) {
    uploadId = null;
    $("upload-status").textContent = "";
    $("report").replaceChildren(el("p", { class: "alert", role: "alert", id: "report-verdict" }, error.message));
    $("report-card").hidden = false;
    $("train-card").hidden = true;
    await loadMapping(file, true);
  }
}

function renderMetrics(result) {
  const before = result.metrics.global, after = result.metrics.local;
  const names = ["accuracy", "roc_auc", "brier"];
  $("metrics").replaceChildren(el("h3", {}, "On your validation rows (never sent)"), el("table", { id: "metrics-table" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Metric"), el("th", { scope: "col" }, `Before (${result.base_version})`), el("th", { scope: "col" }, "After local training"))),
    el("tbody", {}, ...names.map((m) => el("tr", {}, el("td", {}, m), el("td", {}, fmt(before[m])), el("td", {}, fmt(after[m])))))),
    el("p", { class: "muted" }, `${result.rows_train} training rows, ${result.steps} steps` + (result.epsilon ? `, privacy ε ${fmt(result.epsilon, 2)} (δ ${result.delta.toExponential(1)})` : ", no differential privacy") + "."));
}

async function pollJob() {
  const job = await call(`/api/jobs/${jobId}`);
  $("progress").value = job.percent || 0;
  const loss = job.loss === null || job.loss === undefined ? "" : `, loss ${fmt(job.loss, 4)}`;
  const eta = job.eta_seconds ? `, about ${Math.ceil(job.eta_seconds)} s left` : "";
  $("progress-label").textContent = `${job.phase}: ${fmt(job.percent, 0)} %${loss}${eta}`;
  if (job.status === "running") { setTimeout(pollJob, 400); return; }
  $("train-button").disabled = false;
  $("personalise-button").disabled = false;
  if (job.status === "failed") { $("progress-label").textContent = `Training failed: ${job.error}`; return; }
  $("progress").value = 100;
  if (job.status === "personalised") {
    const [served, own] = job.result.models;
    $("progress-label").textContent = "Fine-tuning finished.";
    $("metrics").replaceChildren(el("p", { class: "ok", id: "personalised" },
      `This hospital's own model ${own.version} is kept beside the network's ${served.version}. `,
      el("a", { href: "/models" }, "Compare them and predict")));
    loadStatus();
    return;
  }
  $("progress-label").textContent = "Training finished.";
  renderMetrics(job.result);
  $("submit-button").hidden = false;
  loadStatus();
}

async function train(event, personalise = false) {
  event.preventDefault();
  const body = { upload_id: uploadId, disease: $("disease").value, epochs: Number($("epochs").value), personalise };
  const epsilon = $("target_epsilon").value;
  if (epsilon) body.target_epsilon = Number(epsilon);
  $("train-button").disabled = true;
  $("personalise-button").disabled = true;
  $("submit-button").hidden = true;
  $("submit-status").textContent = "";
  $("metrics").replaceChildren();
  $("progress-box").hidden = false;
  try {
    const job = await call("/api/jobs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    jobId = job.job_id;
    pollJob();
  } catch (error) {
    $("train-button").disabled = false;
    $("personalise-button").disabled = false;
    $("progress-label").textContent = error.message;
  }
}

async function submitUpdate() {
  $("submit-button").disabled = true;
  $("submit-status").textContent = "Sending the update…";
  try {
    const answer = await call(`/api/jobs/${jobId}/contribute`, { method: "POST" });
    $("submit-status").textContent = `Submitted: contribution #${answer.id} (${answer.rows} rows) received by the network, status ${answer.status}. ${answer.message || ""}`;
    $("submit-button").hidden = true;
  } catch (error) {
    $("submit-status").textContent = `Not sent: ${error.message}`;
  } finally {
    $("submit-button").disabled = false;
  }
}

async function loadRounds() {
  const box = $("rounds");
  try {
    const answer = await call("/api/rounds");
    const rounds = answer.rounds;
    if (!answer.enrolled) { box.replaceChildren(el("p", { class: "muted" }, answer.message)); }
    else if (!rounds.length) { box.replaceChildren(el("p", { class: "muted" }, "No rounds yet.")); }
    else {
      box.replaceChildren(el("ul", {}, ...rounds.map((r) => {
        const item = el("li", {}, `${r.disease} round #${r.number}: ${r.status}` + (r.my_status ? ` (you: ${r.my_status})` : ""));
        if (r.status === "open" && !r.my_status) {
          const button = el("button", { type: "button", class: "button-small" }, "Join with the checked file");
          button.disabled = !uploadId || r.disease !== $("disease").value;
          button.addEventListener("click", () => join(r));
          item.append(" ", button);
        }
        return item;
      })));
    }
    renderLog(answer.activity);
  } catch (error) {
    box.replaceChildren(el("p", { class: "muted" }, error.message));
  }
}

function renderLog(lines) { $("round-log").replaceChildren(...(lines || []).map((line) => el("li", {}, line))); }

async function join(round) {
  try {
    await call("/api/rounds/participate", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ upload_id: uploadId, disease: round.disease }) });
    loadRounds();
  } catch (error) { renderLog([error.message]); }
}

function enhanceDropzone() {
  const zone = $("dropzone");
  ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (e) => { e.preventDefault(); zone.classList.add("over"); }));
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, (e) => { e.preventDefault(); zone.classList.remove("over"); }));
  zone.addEventListener("drop", (e) => {
    if (e.dataTransfer.files.length) { $("file").files = e.dataTransfer.files; $("upload-status").textContent = `${e.dataTransfer.files[0].name} ready: press “Check the file”.`; }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  enhanceDropzone();
  $("upload-form").addEventListener("submit", upload);
  $("mapping-form").addEventListener("submit", saveMapping);
  $("train-form").addEventListener("submit", (event) => train(event));
  $("personalise-button").addEventListener("click", (event) => train(event, true));
  $("submit-button").addEventListener("click", submitUpdate);
  $("disease").addEventListener("change", loadRounds);
  loadStatus().then(loadRounds).catch((error) => { $("who").textContent = error.message; });
  setInterval(loadRounds, 3000);
});
