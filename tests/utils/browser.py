"""A real Chromium (Debian's) driven by Playwright, refusing any request that leaves this machine."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Browser, ConsoleMessage, Page, Route, sync_playwright

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@dataclass
class Traffic:
    """Every address the pages asked for; anything not on this machine is refused and kept."""

    requested: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def route(self, route: Route) -> None:
        url = route.request.url
        self.requested.append(url)
        host = urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def guarded_page(browser: Browser, traffic: Traffic, *, refusals: bool = False) -> Iterator[Page]:
    """A page that fails the test on a JavaScript error, a console error or a request off this
    machine. `refusals`: the test makes the page send bad input on purpose, so the browser's
    console note on a 4xx answer to a script's request is expected (a 5xx never is)."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    context.route("**/*", traffic.route)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: _console_error(page, message, errors, refusals))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript or console errors on the page: {errors}"
    assert not traffic.outside, f"pages asked for addresses outside this machine: {traffic.outside}"


def _console_error(
    page: Page, message: ConsoleMessage, errors: list[str], refusals: bool = False
) -> None:
    if message.type != "error":
        return
    if refusals and re.search(r"responded with a status of 4\d\d", message.text):
        return
    # A request the test itself refused (an address off this machine) is reported by `Traffic`;
    # an error status of the page a test opened on purpose (a 403 page) is what it checks.
    if "ERR_FAILED" in message.text or message.location.get("url") == page.url:
        return
    errors.append(f"{message.text} ({message.location.get('url')})")


# What a person would notice at a glance, measured in the page: a page wider than the window,
# chart text that pygal shortened ("+0…"), drawn outside its chart, or on top of other text.
LAYOUT_PROBLEMS_JS = """
() => {
  const problems = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth + 1) {
    const scrolls = (el) => el.closest(".table-wrap, pre");  // scrolls inside its own box
    const culprits = [...document.body.querySelectorAll("*")]
      .filter((el) => !scrolls(el) && el.getBoundingClientRect().right > root.clientWidth + 1)
      .map((el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
        + (el.classList.length ? "." + [...el.classList].join(".") : ""));
    problems.push(`the page is ${root.scrollWidth}px wide in a ${root.clientWidth}px window`
      + (culprits.length ? ` (widest: ${culprits.slice(-3).join(", ")})` : ""));
  }
  for (const svg of document.querySelectorAll("svg")) {
    if (!svg.getClientRects().length) continue;  // not shown at this width
    const box = svg.getBoundingClientRect();
    const texts = [...svg.querySelectorAll("text")].filter((t) => {
      const r = t.getBoundingClientRect();
      return r.width > 0 && t.textContent.trim() && getComputedStyle(t).visibility !== "hidden"
        && getComputedStyle(t).opacity !== "0";
    });
    const rects = texts.map((t) => t.getBoundingClientRect());
    texts.forEach((t, i) => {
      const r = rects[i];
      const label = t.textContent.trim();
      if (label.includes("…")) problems.push(`chart text shortened: "${label}"`);
      if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1) {
        problems.push(`chart text outside its chart: "${label}"`);
      }
      for (let j = i + 1; j < texts.length; j++) {
        const o = rects[j];
        const overlap = Math.min(r.right, o.right) - Math.max(r.left, o.left);
        const overlapY = Math.min(r.bottom, o.bottom) - Math.max(r.top, o.top);
        if (overlap > 2 && overlapY > 2) problems.push(`chart texts overlap: "${label}" and "${texts[j].textContent.trim()}"`);
      }
    });
  }
  return problems;
}
"""
WIDTHS = {"desktop": 1280, "mobile": 390}


def layout_problems(page: Page) -> list[str]:
    problems: list[str] = page.evaluate(LAYOUT_PROBLEMS_JS)
    return problems


def look(page: Page, name: str) -> None:
    """Screenshot the page at a desktop and at a phone width; fail on what a person would see
    as broken at either width (see LAYOUT_PROBLEMS_JS)."""
    original = page.viewport_size
    found = {}
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(page, f"{name}-{label}")
        problems = layout_problems(page)
        if problems:
            found[label] = problems
    if original:
        page.set_viewport_size(original)
    assert not found, f"{name}: {found}"


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9_-]', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, base_url: str, username: str, password: str) -> None:
    page.goto(base_url + "/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(base_url + "/")


def pdf_text(path: Path) -> str:
    """The PDF's text as pdftotext reads it; pdftoppm must also render its first page."""
    png_stem = path.with_suffix("")
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(path), str(png_stem)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    rendered = list(path.parent.glob(png_stem.name + "*.png"))
    assert rendered and rendered[0].stat().st_size > 5000, "pdftoppm rendered no page"
    result = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout
