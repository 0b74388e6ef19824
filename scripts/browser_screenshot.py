"""Screenshot of a story browser page (``cluster ... --html PAGE``) in headless
Chromium, with a story opened, for the docs (docs/browser.md):

    cluster ../shared/seeds --html /tmp/seeds.html -q
    python scripts/browser_screenshot.py /tmp/seeds.html docs/browser-seeds.png
    cluster eval_data/itn.jsonl --html /tmp/itn.html -q
    python scripts/browser_screenshot.py /tmp/itn.html docs/browser-itn.png --search nato

``--story ID`` opens that story (default: the first listed); ``--search`` and
``--lang`` set the filters first. Needs chromium, chromium-driver and selenium
(see tests/headless.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from headless import open_chromium  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--story", help="the story to open (default: the first listed)")
    parser.add_argument("--search", default="", help="text to type in the search box first")
    parser.add_argument("--lang", default="", help="language to choose first")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1000)
    args = parser.parse_args(argv)

    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = open_chromium(args.width, args.height)
    try:
        driver.get(args.page.resolve().as_uri())
        WebDriverWait(driver, 120).until(lambda d: d.execute_script("return document.documentElement.dataset.ready"))
        if args.lang:
            select = Select(driver.find_element("id", "f-lang"))
            [value] = [o.get_attribute("value") for o in select.options if o.text.split()[0] == args.lang]
            select.select_by_value(value)
        if args.search:
            driver.find_element("id", "f-text").send_keys(args.search)
            driver.execute_script("document.getElementById('f-text').dispatchEvent(new Event('change'));")
            WebDriverWait(driver, 10).until(
                lambda d: d.execute_script(
                    "return document.getElementById('f-text').value === arguments[0]", args.search
                )
            )
        rows = driver.find_elements("css selector", "#story-list li.story")
        if args.story:
            rows = [r for r in rows if r.get_attribute("data-story") == args.story]
        if rows:
            rows[0].click()
        args.png.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(args.png))
    finally:
        driver.quit()
    print(f"Wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
