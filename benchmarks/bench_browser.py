"""The story browser at scale: a synthetic result of N items written as the HTML
page, then opened in headless Chromium.

    python benchmarks/bench_browser.py                 # 200,000 items
    python benchmarks/bench_browser.py --items 20000 --keep /tmp/page.html

The result has stories of varied sizes (a heavy tail, 2 to a few thousand
members), 10 languages with skewed counts, teasers (~15% of items) and strays,
duplicate groups with evidence in a third of the stories, dates over two years,
titles, 200-character snippets and URLs of ordinary lengths, and map
coordinates in one blob per story. Printed: the time to write the page and its
size; the time from ``driver.get`` to the flag the page sets when its first
render is done, median of ``--rounds`` (and, from the page, the JSON parse and
render times and the JS heap); then the time of a language filter, a text search and opening the
largest story, each measured inside the page. Headless Chromium from Debian's
chromium and chromium-driver through Selenium (tests/headless.py). Do not run it
beside the test suite: both want the CPU.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
from headless import open_chromium  # noqa: E402
from machine import cpu_summary  # noqa: E402

from clusterer.output.browser import write_html  # noqa: E402
from clusterer.result import ClusterResult, DuplicateGroup, ItemResult, Story  # noqa: E402

LANGS = ["en", "fr", "de", "es", "ru", "vi", "zh", "ar", "pt", "it"]
LANG_WEIGHTS = [30, 15, 12, 10, 8, 7, 6, 5, 4, 3]
SYLLABLES = [
    "ka",
    "lo",
    "mer",
    "tan",
    "vi",
    "sul",
    "dra",
    "pen",
    "or",
    "ist",
    "qua",
    "ne",
    "bel",
    "rom",
    "un",
    "tor",
    "ca",
    "fen",
    "gri",
    "mo",
    "las",
    "ter",
    "zu",
    "hap",
]


def synthetic_result(n: int, seed: int = 0) -> ClusterResult:
    rnd = random.Random(seed)
    vocabulary = ["".join(rnd.choice(SYLLABLES) for _ in range(rnd.randint(1, 4))) for _ in range(5000)]

    def words(k: int) -> str:
        return " ".join(rnd.choice(vocabulary) for _ in range(k))

    def text(chars: int) -> str:
        out = words(40)
        while len(out) < chars:
            out += ". " + words(12).capitalize()
        return out[: chars - 1] + "…"

    start = 19_700  # days since 1970: 2023-12-08
    n_teasers = int(n * 0.15)
    n_articles = n - n_teasers
    # stories until ~88% of the articles have one: sizes from a heavy tail
    sizes, placed = [], 0
    while placed < n_articles * 0.88:
        size = min(int(2 + rnd.paretovariate(1.3)), 3000)
        sizes.append(size)
        placed += size
    items, stories, groups = [], [], []
    counter = 0

    def new_item(kind, lang, day, story, x, y, doc=None):
        nonlocal counter
        counter += 1
        date = f"{_iso(day)}T{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:00Z" if day is not None else None
        if doc:
            item_id = doc + f"#teaser-{counter}"
        else:
            item_id = f"site{counter % 97}/{lang}/{_iso(day or start)}/a{counter}.html"
        return ItemResult(
            id=item_id,
            doc=doc or item_id,
            kind=kind,
            lang=lang,
            title=words(rnd.randint(5, 11)).capitalize(),
            date=date,
            url=None if doc else f"https://news{counter % 97}.example/{lang}/{counter}",
            story=story,
            snippet=text(200),
            x=round(x, 4),
            y=round(y, 4),
        )

    for k, size in enumerate(sizes, start=1):
        sid = f"s{k}"
        centre_day = start + rnd.randint(0, 730)
        cx, cy = rnd.gauss(0, 1), rnd.gauss(0, 0.6)
        spread = 0.02 + 0.05 * rnd.random()
        home = rnd.choices(LANGS, LANG_WEIGHTS)[0]
        members = []
        for _ in range(size):
            lang = home if rnd.random() < 0.6 else rnd.choices(LANGS, LANG_WEIGHTS)[0]
            day = centre_day + int(rnd.gauss(0, 3))
            kind = "teaser" if rnd.random() < 0.05 else "article"
            members.append(new_item(kind, lang, day, sid, rnd.gauss(cx, spread), rnd.gauss(cy, spread)))
        items.extend(members)
        articles = [m for m in members if m.kind == "article"]
        if len(articles) >= 2 and rnd.random() < 0.33:
            for _ in range(1 + (len(articles) > 20)):
                chosen = rnd.sample(articles, min(len(articles), rnd.choice([2, 2, 3])))
                if any(m.duplicate_group for m in chosen):
                    continue
                gid = f"d{len(groups) + 1}"
                for m in chosen:
                    m.duplicate_group = gid
                ids = sorted(m.id for m in chosen)
                evidence = [
                    {
                        "a": a,
                        "b": b,
                        "same_language": False,
                        "cosine": round(rnd.uniform(0.4, 0.9), 4),
                        "overlap": 0.0,
                        "containment": 0.0,
                        "aligned_sentences": rnd.randint(3, 30),
                        "aligned_share": round(rnd.uniform(0.6, 1), 4),
                        "figures_in_common": 1.0,
                    }
                    for a, b in zip(ids, ids[1:])
                ]
                groups.append(
                    DuplicateGroup(
                        id=gid,
                        members=ids,
                        canonical=ids[0],
                        languages=sorted({m.lang for m in chosen}),
                        story=sid,
                        evidence=evidence,
                    )
                )
        stories.append(
            Story(
                id=sid,
                title=articles[0].title if articles else members[0].title,
                members=sorted(m.id for m in members),
                languages=sorted({m.lang for m in members}),
                articles=len(articles),
                teasers=len(members) - len(articles),
            )
        )
    while len(items) < n:  # the rest: strays and noise teasers
        kind = "teaser" if rnd.random() < 0.6 else "article"
        day = start + rnd.randint(0, 730) if rnd.random() < 0.9 else None
        doc = rnd.choice(items).doc if kind == "teaser" else None
        items.append(
            new_item(
                kind, rnd.choices(LANGS, LANG_WEIGHTS)[0], day, None, rnd.gauss(0, 1.2), rnd.gauss(0, 0.8), doc=doc
            )
        )
    return ClusterResult(items=items[:n], stories=stories, duplicate_groups=groups, model="synthetic")


def _iso(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86400))


IN_PAGE = """
const t = performance.now();
%s
return performance.now() - t;
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=5, help="times the page is opened (median reported)")
    parser.add_argument("--keep", type=Path, help="write the page here and keep it (default: a temporary file)")
    args = parser.parse_args(argv)

    print(f"machine: {cpu_summary()}")
    t = time.perf_counter()
    result = synthetic_result(args.items, args.seed)
    built = time.perf_counter() - t
    print(
        f"synthetic result: {len(result.items):,} items, {len(result.stories):,} stories "
        f"(largest {max(s.size for s in result.stories):,}), {len(result.duplicate_groups):,} duplicate groups, "
        f"{len(result.noise):,} noise ({built:.1f} s to make)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        page = args.keep or Path(tmp) / "browser.html"
        t = time.perf_counter()
        write_html(result, page, title=f"Synthetic result of {args.items:,} items")
        written = time.perf_counter() - t
        size = page.stat().st_size
        print(f"write_html: {written:.2f} s; page {size / 1e6:.1f} MB ({size:,} bytes)")

        from selenium.webdriver.support.ui import WebDriverWait

        driver = open_chromium(1400, 1000)
        try:
            print(f"browser: Chromium {driver.capabilities.get('browserVersion', '?')}, headless")
            rounds = []
            for _ in range(args.rounds):
                driver.get("about:blank")
                t = time.perf_counter()
                driver.get(page.resolve().as_uri())
                WebDriverWait(driver, 600, poll_frequency=0.05).until(
                    lambda d: d.execute_script("return document.documentElement.dataset.ready")
                )
                opened = time.perf_counter() - t
                info = driver.execute_script(
                    "const m = performance.memory || {};"
                    "return Object.assign({heap: m.usedJSHeapSize || 0}, window.storyBrowser);"
                )
                rounds.append((opened, info))
            opened, info = sorted(rounds, key=lambda r: r[0])[len(rounds) // 2]
            print(
                f"open to first render (driver.get to the ready flag), median of {len(rounds)}: {opened:.2f} s "
                f"(rounds: {', '.join(f'{r[0]:.2f}' for r in rounds)}); in that round, from the page: "
                f"ready {info['readyMs'] / 1000:.2f} s after navigation start, of which JSON.parse "
                f"{info['parseMs'] / 1000:.2f} s and first render {info['renderMs'] / 1000:.2f} s; "
                f"JS heap {info['heap'] / 1e6:.0f} MB"
            )
            lang = driver.execute_script(
                IN_PAGE
                % """
                const s = document.getElementById("f-lang"); s.value = s.options[3].value;
                s.dispatchEvent(new Event("change"));"""
            )
            word = result.items[len(result.items) // 2].title.split()[-1].lower()
            text = driver.execute_script(
                IN_PAGE
                % """
                const s = document.getElementById("f-lang"); s.value = "-1";
                const q = document.getElementById("f-text"); q.value = arguments[0];
                q.dispatchEvent(new Event("change"));""",
                word,
            )
            shown = driver.execute_script("return document.getElementById('tab-stories').textContent")
            driver.execute_script("""
                document.getElementById("f-text").value = "";
                document.getElementById("f-text").dispatchEvent(new Event("change"));""")
            story = driver.execute_script(
                IN_PAGE
                % """
                document.querySelector("#story-list li.story").click();"""
            )
            members = driver.execute_script("return document.querySelectorAll('#detail .item').length")
            print(
                f"in the page: language filter {lang:.0f} ms; text search {text:.0f} ms ({word!r}: {shown}); "
                f"opening the largest story {story:.0f} ms ({members} member cards drawn)"
            )
        finally:
            driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
