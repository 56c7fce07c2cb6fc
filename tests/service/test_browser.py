"""The web page in a real browser: Debian's chromium driven by Playwright, against uvicorn on loopback.

Screenshots go to ``MUSICGRAPH_TEST_OUTPUT`` (default ``test-output/`` in the repository).
``bin/dev`` installs chromium (apt) and Playwright (the dev extra); Playwright never downloads a browser here.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("MUSICGRAPH_CHROMIUM", "/usr/bin/chromium")
OUT = Path(os.environ.get("MUSICGRAPH_TEST_OUTPUT", Path(__file__).resolve().parents[2] / "test-output")) / "browser"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file() and shutil.which("chromium") is None:
        pytest.fail(f"no chromium at {CHROMIUM}: run bin/dev setup as root (apt-get install chromium) or set "
                    "MUSICGRAPH_CHROMIUM")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium"),
                              headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, live_server):
    ctx = browser.new_context(viewport={"width": 1200, "height": 1000})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    pg.goto(live_server.url + "/")
    pg.wait_for_selector("body[data-ready=true]")
    pg.expected_errors = []  # console errors a test causes on purpose
    yield pg
    ctx.close()
    unexpected = [e for e in errors if not any(x in e for x in pg.expected_errors)]
    assert unexpected == [], f"browser errors: {unexpected}"


def _cards(page) -> list[dict]:
    return page.eval_on_selector_all("#results .card", """cards => cards.map(c => ({
        title: (c.querySelector('h3 .title') || {}).textContent || '',
        artist: (c.querySelector('h3 .artist') || {}).textContent || '',
        edges: c.querySelectorAll('svg.path-graph line.edge').length,
        nodes: c.querySelectorAll('svg.path-graph circle').length,
        graphLabel: (c.querySelector('svg.path-graph desc') || {}).textContent || '',
        spokes: c.querySelectorAll('svg.radar line.spoke').length,
        radarPoints: (c.querySelector('svg.radar polygon.item') || {getAttribute: () => ''}).getAttribute('points'),
        radarLabel: (c.querySelector('svg.radar desc') || {}).textContent || '',
    }))""")


def _status(page, text: str) -> None:
    """Wait until the live status line says ``text`` (locator waits: the page's CSP forbids eval)."""
    from playwright.sync_api import expect

    expect(page.locator("#status")).to_contain_text(text, timeout=30_000)


def _search(page, text: str) -> None:
    page.fill("#query", text)
    page.press("#query", "Enter")
    _status(page, "result")
    page.wait_for_selector("#results .card")


def test_search_cards_show_artist_title_path_and_radar_then_chat_excludes_an_artist(page):
    OUT.mkdir(parents=True, exist_ok=True)
    _search(page, "sad songs")
    cards = _cards(page)
    assert len(cards) == 5
    for c in cards:
        assert c["title"].strip() and c["artist"].strip(), c
        assert c["edges"] >= 1 and c["nodes"] >= 2, c  # a drawn path
        assert c["spokes"] == 7 and "valence" in c["radarLabel"], c  # a radar over the 7 features
        assert c["graphLabel"] and "mood of" in c["graphLabel"], c  # the path in words for screen readers
    with_features = {c["title"]: c for c in cards if c["radarPoints"]}
    assert {"Grey Sky", "Odd Mood"} <= set(with_features)  # the fixture songs that have audio features
    assert all(len(c["radarPoints"].split()) == 7 for c in with_features.values())
    assert "valence 0.10 (asked 0.20)" in with_features["Grey Sky"]["radarLabel"]
    assert "Some Band" in [c["artist"] for c in cards]
    assert "sad" in page.inner_text("#request-description")
    page.screenshot(path=str(OUT / "search.png"), full_page=True)

    # why this song: a keyboard-operable disclosure with the evidence
    why = page.locator("#results .card button.why").first
    assert why.get_attribute("aria-expanded") == "false"
    why.focus()
    page.keyboard.press("Enter")
    panel_id = why.get_attribute("aria-controls")
    assert why.get_attribute("aria-expanded") == "true" and page.is_visible(f"#{panel_id}")
    assert "mood" in page.inner_text(f"#{panel_id}").lower()
    page.screenshot(path=str(OUT / "why.png"), full_page=True)

    page.fill("#refine", "no Some Band")
    page.press("#refine", "Enter")
    _status(page, "after refining")
    refined = _cards(page)
    assert refined and "Some Band" not in [c["artist"] for c in refined]
    assert all(c["edges"] >= 1 and c["spokes"] == 7 for c in refined)
    assert "exclude Some Band" in page.inner_text("#request-notes")
    page.screenshot(path=str(OUT / "refined.png"), full_page=True)


def test_keyboard_and_labels(page):
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "query"
    # every form control has a label, every drawing a text alternative
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select')]
        .filter(e => !e.labels || e.labels.length === 0).map(e => e.id)""")
    assert unlabelled == []
    page.keyboard.type("happy songs")
    page.keyboard.press("Tab")  # results selector
    page.keyboard.press("Tab")  # search button
    assert page.evaluate("document.activeElement.id") == "search-button"
    page.keyboard.press("Enter")
    _status(page, "result")
    page.wait_for_selector("#results .card")
    assert page.evaluate("document.activeElement.id") == "results-heading"  # focus moves to the results
    roles = page.eval_on_selector_all("svg.path-graph, svg.radar",
                                      "s => s.map(x => [x.getAttribute('role'), x.getAttribute('aria-labelledby')])")
    assert roles and all(r == "img" and lab for r, lab in roles)
    assert page.get_attribute("#status", "aria-live") == "polite"


def test_errors_are_shown_with_suggestions(page):
    # the server's error body as /chat sends it for an unknown name (the real one is tested in test_api.py)
    body = ('{"error": {"code": "unknown_entity", "type": "not_found", "status": 404, "message": '
            '"unknown artist \'Some Bnad\'", "suggestions": ["Some Band"], "field": null, "details": []}}')
    page.expected_errors.append("status of 404")
    page.route("**/chat", lambda route: route.fulfill(status=404, content_type="application/json", body=body))
    page.fill("#query", "songs like Some Bnad")
    page.press("#query", "Enter")
    _status(page, "Did you mean: Some Band?")
    assert "error" in (page.get_attribute("#status", "class") or "")
