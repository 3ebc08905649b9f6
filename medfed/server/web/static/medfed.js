// MedFed pages: small progressive enhancements. Every page works without this script.
"use strict";

function fieldMessage(input) {
  const v = input.validity;
  const accepted = input.dataset.accepted || "a valid value";
  if (v.valueMissing) return "Required: enter " + accepted + ".";
  if (v.badInput || v.typeMismatch) return "Not a number: enter " + accepted + ".";
  if (v.rangeUnderflow || v.rangeOverflow) return "Out of range: enter " + accepted + ".";
  return input.validationMessage;
}

function showFieldError(input) {
  const error = document.getElementById(input.id + "-error");
  if (!error) return true;
  const ok = input.checkValidity();
  error.hidden = ok;
  error.textContent = ok ? "" : fieldMessage(input);
  if (ok) input.removeAttribute("aria-invalid"); else input.setAttribute("aria-invalid", "true");
  const described = (input.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && id !== error.id);
  if (!ok) described.push(error.id);
  input.setAttribute("aria-describedby", described.join(" "));
  input.closest(".field")?.classList.toggle("has-error", !ok);
  return ok;
}

function enhanceValidation(form) {
  const inputs = form.querySelectorAll("input[id], select[id]");
  inputs.forEach((input) => {
    input.addEventListener("blur", () => { if (input.value !== "" || input.dataset.touched) showFieldError(input); input.dataset.touched = "1"; });
    input.addEventListener("input", () => { if (input.getAttribute("aria-invalid")) showFieldError(input); });
  });
  form.addEventListener("submit", (event) => {
    let first = null;
    inputs.forEach((input) => { if (!showFieldError(input) && !first) first = input; });
    if (first) { event.preventDefault(); first.focus(); }
  });
}

function enhanceFilter(input) {
  const list = document.querySelector(input.dataset.filter);
  const empty = document.getElementById("filter-empty");
  input.addEventListener("input", () => {
    const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    list.querySelectorAll("[data-search]").forEach((item) => {
      const hit = words.every((w) => item.dataset.search.includes(w));
      item.hidden = !hit;
      if (hit) shown += 1;
    });
    if (empty) empty.hidden = shown > 0;
  });
}

function enhanceRefresh(region) {
  // Live pages (a round in progress) refresh their live region in place, without a reload.
  const seconds = Number(region.dataset.refresh) * 1000;
  const tick = async () => {
    try {
      const response = await fetch(window.location.pathname, { headers: { Accept: "text/html" }, credentials: "same-origin" });
      if (!response.ok) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById(region.id);
      if (!fresh) return;
      region.innerHTML = fresh.innerHTML;
      if (!fresh.dataset.refresh) { delete region.dataset.refresh; window.location.reload(); return; }
    } catch (error) { /* the next tick retries */ }
    setTimeout(tick, seconds);
  };
  setTimeout(tick, seconds);
}

function enhanceReadiness(list) {
  // Multi-disease check: as inputs are filled, each model says how many of its needed inputs it has.
  const form = list.closest("form");
  const update = () => {
    list.querySelectorAll("li[data-disease]").forEach((item) => {
      const disease = item.dataset.disease;
      let filled = 0;
      form.querySelectorAll("[data-required-for]").forEach((field) => {
        const input = field.querySelector("input, select");
        if (input && input.value.trim() !== "" && field.dataset.requiredFor.split(" ").includes(disease)) filled += 1;
      });
      item.querySelector(".count").textContent = String(filled);
      item.classList.toggle("ready", filled >= Number(item.dataset.needed));
    });
  };
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
}

document.addEventListener("DOMContentLoaded", () => {
  // A result drawn in answer to a form moves the address bar to its own page, so a reload
  // shows the result again instead of sending the form (and predicting) a second time.
  const located = document.querySelector("[data-location]");
  if (located && window.location.pathname !== located.dataset.location) {
    window.history.replaceState(null, "", located.dataset.location);
  }
  document.querySelectorAll("#model-readiness").forEach(enhanceReadiness);
  document.querySelectorAll("form[data-validate]").forEach(enhanceValidation);
  document.querySelectorAll("input[data-filter]").forEach(enhanceFilter);
  document.querySelectorAll("[data-refresh]").forEach(enhanceRefresh);
  document.querySelectorAll("[data-select-on-focus]").forEach((el) => el.addEventListener("focus", () => el.select()));
  document.getElementById("error-summary")?.focus();
});
