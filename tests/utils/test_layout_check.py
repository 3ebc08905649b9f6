"""The visual check the browser journeys run must catch what it claims to catch."""

from __future__ import annotations

from playwright.sync_api import Browser

from tests.utils.browser import Traffic, guarded_page, layout_problems

GOOD = """<!doctype html><meta name="viewport" content="width=device-width">
<p>Fits.</p><svg width="300" height="60"><text x="10" y="30">inside</text></svg>"""
WIDE = """<!doctype html><meta name="viewport" content="width=device-width">
<div class="too-wide" style="width: 900px">a row of inputs that does not wrap</div>"""
CLIPPED = """<!doctype html><meta name="viewport" content="width=device-width">
<svg width="200" height="60"><text x="150" y="30">+0.25 outside</text>
<text x="10" y="50">+0…</text><text x="10" y="20">one</text><text x="12" y="21">two</text></svg>"""


def test_the_layout_check_passes_a_tidy_page_and_names_each_defect(browser: Browser) -> None:
    with guarded_page(browser, Traffic()) as page:
        page.set_viewport_size({"width": 390, "height": 700})
        page.set_content(GOOD)
        assert layout_problems(page) == []
        page.set_content(WIDE)
        assert layout_problems(page) == [
            "the page is 908px wide in a 390px window (widest: div.too-wide)"
        ]
        page.set_content(CLIPPED)
        problems = layout_problems(page)
        assert 'chart text outside its chart: "+0.25 outside"' in problems
        assert 'chart text shortened: "+0…"' in problems
        assert 'chart texts overlap: "one" and "two"' in problems
