// The node's patient registry page: register, search, admissions, diagnoses, CSV import.
// Every request goes to this node (same origin); helpers in common.js.
"use strict";

let current = null;  // the secure ID shown in the patient card

function plural(count, one, many = `${one}s`) { return `${count} ${count === 1 ? one : many}`; }

function post(path, body) {
  return call(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

function say(id, text, ok = true) {
  const box = $(id);
  box.textContent = text;
  box.className = ok ? "ok" : "alert";
  box.setAttribute("role", ok ? "status" : "alert");
}

async function loadCounts() {
  const overview = await call("/api/registry");
  const c = overview.counts;
  $("registry-counts").textContent = `${plural(c.patients, "patient")}, ${plural(c.admissions, "admission")}, ${plural(c.diagnoses, "diagnosis", "diagnoses")} registered. Codes checked against ${overview.code_sets.icd10}.`;
}

async function loadPatients() {
  const search = $("search").value.trim();
  const found = await call("/api/registry/patients" + (search ? `?search=${encodeURIComponent(search)}` : ""));
  const box = $("patients");
  if (!found.patients.length) {
    box.replaceChildren(el("p", { class: "muted" }, search ? "No patient matches." : "No patients registered yet."));
    return;
  }
  const rows = found.patients.map((p) => el("tr", {},
    el("td", {}, el("a", { href: `#${p.secure_id}`, "data-secure-id": p.secure_id }, p.secure_id)),
    el("td", {}, p.name), el("td", {}, p.local_id), el("td", {}, p.birth_year ?? "—"),
    el("td", { class: "num" }, p.admissions), el("td", { class: "num" }, p.diagnoses)));
  box.replaceChildren(el("div", { class: "table-wrap" }, el("table", { id: "patients-table" },
    el("thead", {}, el("tr", {}, ...["Secure ID", "Name", "Local ID", "Born", "Admissions", "Diagnoses"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...rows))));
}

async function showPatient(secureId) {
  const p = await call(`/api/registry/patients/${encodeURIComponent(secureId)}`);
  current = p.secure_id;
  $("patient-card").hidden = false;
  $("patient-heading").textContent = `${p.name} · ${p.secure_id}`;
  const box = $("patient");
  box.replaceChildren(el("p", { class: "muted" }, `Local ID ${p.local_id}` + (p.birth_year ? `, born ${p.birth_year}` : "") + (p.sex ? `, ${p.sex}` : "")));
  const select = $("diagnosis-admission");
  select.replaceChildren(...p.admission_list.map((a) => el("option", { value: a.hadm_id }, a.hadm_id)));
  if (!p.admission_list.length) box.append(el("p", {}, "No admissions yet: add one below."));
  for (const a of p.admission_list) {
    const items = a.diagnoses.map((d) => el("tr", {},
      el("td", { class: "num" }, d.seq_num), el("td", {}, `ICD-${d.version} ${d.code}`), el("td", {}, d.description),
      el("td", {}, d.version === 9 ? (d.icd10 ? `ICD-10 ${d.icd10}` : "no ICD-10 mapping") : "")));
    const score = el("button", { type: "button", class: "button-small", "data-risk": a.hadm_id },
      `Comorbidity risk of ${a.hadm_id} with both models`);
    if (!a.diagnoses.length) score.setAttribute("disabled", "");
    box.append(el("h3", {}, `Admission ${a.hadm_id}` + (a.admitted_on ? ` · ${a.admitted_on}` : "")),
      items.length ? el("table", { class: "diagnoses" },
        el("thead", {}, el("tr", {}, ...["#", "Code", "Description", "Mapped"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, ...items)) : el("p", { class: "muted" }, "No diagnoses yet."), score);
    if (select.value === a.hadm_id) $("seq_num").value = String((a.diagnoses.at(-1)?.seq_num ?? 0) + 1);
  }
  $("patient-card").scrollIntoView();
}

async function showRisk(hadmId) {
  const box = $("risk");
  box.hidden = false;
  try {
    const result = await call(`/api/registry/patients/${encodeURIComponent(current)}/risk?admission=${encodeURIComponent(hadmId)}`);
    const found = result.admission;
    const conditions = found.conditions.length
      ? found.conditions.map((c) => `${c.label} (${c.codes})`).join("; ") : "none";
    $("risk-heading").textContent = `Comorbidity risk · admission ${found.hadm_id}`;
    $("risk-inputs").replaceChildren(
      el("p", {}, `${plural(found.inputs.diagnosis_count, "diagnosis", "diagnoses")}` + (found.inputs.age ? `, age ${found.inputs.age}` : "") + `. Charlson conditions: ${conditions}.`),
      ...found.notes.map((n) => el("p", { class: "warning" }, n)));
    $("risk-answers").replaceChildren(...result.answers.map(answerCard));
    $("risk-comparison").textContent = result.comparison;
  } catch (error) {
    $("risk-answers").replaceChildren();
    $("risk-inputs").replaceChildren();
    $("risk-comparison").textContent = error.message;
    $("risk-comparison").className = "alert";
    return;
  }
  $("risk-comparison").className = "";
  box.scrollIntoView();
}

$("patient").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-risk]");
  if (button) showRisk(button.dataset.risk);
});

async function refresh() {
  await Promise.all([loadCounts(), loadPatients()]);
  if (current) await showPatient(current);
}

$("register-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { name: $("name").value, local_id: $("local_id").value };
  if ($("birth_year").value) body.birth_year = Number($("birth_year").value);
  if ($("sex").value) body.sex = $("sex").value;
  try {
    const p = await post("/api/registry/patients", body);
    event.target.reset();
    current = p.secure_id;
    await refresh();
    say("register-status", `Registered ${p.name} as ${p.secure_id}.`);
  } catch (error) { say("register-status", error.message, false); }
});

$("search-form").addEventListener("submit", (event) => { event.preventDefault(); loadPatients().catch((e) => say("register-status", e.message, false)); });

$("patients").addEventListener("click", (event) => {
  const link = event.target.closest("a[data-secure-id]");
  if (!link) return;
  event.preventDefault();
  showPatient(link.dataset.secureId).catch((e) => say("patient-status", e.message, false));
});

$("admit-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { hadm_id: $("hadm_id").value };
  if ($("admitted_on").value) body.admitted_on = $("admitted_on").value;
  try {
    await post(`/api/registry/patients/${encodeURIComponent(current)}/admissions`, body);
    event.target.reset();
    await refresh();
    $("diagnosis-admission").value = body.hadm_id;
    $("seq_num").value = "1";
    say("patient-status", `Admission ${body.hadm_id} recorded.`);  // once the form is ready
  } catch (error) { say("patient-status", error.message, false); }
});

async function describeCode() {
  const code = $("icd_code").value.trim();
  if (!code) { $("code-description").textContent = ""; return; }
  try {
    const found = await call(`/api/registry/codes/${encodeURIComponent(code)}?version=${$("icd_version").value}`);
    $("code-description").textContent = `${found.code}: ${found.description}` + (found.billable ? "" : " (a category: a more specific code is better)")
      + (found.version === 9 ? (found.icd10 ? ` → ICD-10 ${found.icd10}` : " (no ICD-10 mapping)") : "");
  } catch (error) { $("code-description").textContent = error.message; }
}
$("icd_code").addEventListener("change", describeCode);
$("icd_version").addEventListener("change", describeCode);

$("diagnose-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const hadm = $("diagnosis-admission").value;
  const body = { icd_code: $("icd_code").value, icd_version: Number($("icd_version").value), seq_num: Number($("seq_num").value) };
  try {
    const d = await post(`/api/registry/admissions/${encodeURIComponent(hadm)}/diagnoses`, body);
    $("icd_code").value = "";
    $("code-description").textContent = "";
    $("seq_num").value = String(d.seq_num + 1);
    await refresh();
    $("diagnosis-admission").value = hadm;
    $("seq_num").value = String(d.seq_num + 1);
    say("patient-status", `Added ${d.code} (${d.description}) to admission ${hadm}.`);  // form ready
  } catch (error) { say("patient-status", error.message, false); }
});

$("import-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData();
  data.append("file", $("import-file").files[0]);
  try {
    const report = await call("/api/registry/imports", { method: "POST", body: data });
    event.target.reset();
    await refresh();
    say("import-status", `Imported ${plural(report.diagnoses, "diagnosis", "diagnoses")} for ${plural(report.admissions, "admission")}.`);
  } catch (error) { say("import-status", error.message, false); }
});

refresh().catch((error) => say("register-status", error.message, false));
