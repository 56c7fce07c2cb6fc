"""Take the README's screenshot of the web page (``docs/web-page.png``) from a running server.

    musicgraph serve --port 8750 &          # the embedded store built by `bin/dev demo`
    .venv/bin/python docs/screenshot_page.py --url http://127.0.0.1:8750 --out docs/web-page.png

It types the query, waits for the cards, opens the first "why this song" panel and saves a
1200-pixel-wide screenshot of the page down to the second row of cards (Debian's chromium via
Playwright, as the browser tests).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--query", default="melancholic songs for a rainy night, like Radiohead")
    ap.add_argument("--k", default="4")
    ap.add_argument("--out", type=Path, default=Path("docs/web-page.png"))
    ap.add_argument("--height", type=int, default=1500)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, headless=True)
        page = browser.new_page(viewport={"width": 1200, "height": args.height})
        page.goto(args.url + "/")
        page.select_option("#k", args.k)
        page.fill("#query", args.query)
        page.press("#query", "Enter")
        expect(page.locator("#status")).to_contain_text("result", timeout=120_000)
        page.locator("#results .card button.why").first.click()
        page.screenshot(path=str(args.out), clip={"x": 0, "y": 0, "width": 1200, "height": args.height})
        browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
