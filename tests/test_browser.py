"""The story browser (clusterer/browser.py): the page's data, and the page itself
opened from disk in headless Chromium (Debian's chromium and chromium-driver,
driven by Selenium; see tests/headless.py), built by the CLI with the real model
from the example corpus and from the seeds."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from clusterer.cli import main
from clusterer.output.browser import browser_data, render_html, write_html
from clusterer.pipeline import Clusterer
from clusterer.result import ClusterResult, DuplicateGroup, ItemResult, Story, load_result

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "corpus"


def embedded_data(page: str) -> dict:
    block = re.search(r'<script type="application/json" id="result-data">(.*?)</script>', page, re.S)
    return json.loads(block.group(1))


def small_result(title: str = "Storm") -> ClusterResult:
    items = [
        ItemResult(
            id="a",
            doc="a",
            kind="article",
            lang="en",
            title=title,
            date="2026-01-15",
            url="https://example.org/a",
            story="s1",
            duplicate_group="d1",
            snippet="A storm.",
            x=0.5,
            y=-0.25,
        ),
        ItemResult(
            id="b",
            doc="b",
            kind="article",
            lang="fr",
            title="Tempête",
            date="2026-01-16",
            story="s1",
            duplicate_group="d1",
            x=0.4,
            y=-0.2,
        ),
        ItemResult(id="b#teaser-1", doc="b", kind="teaser", lang="fr", title="Autre chose"),
    ]
    return ClusterResult(
        items=items,
        stories=[Story(id="s1", title=title, members=["a", "b"], languages=["en", "fr"], articles=2)],
        duplicate_groups=[
            DuplicateGroup(
                id="d1",
                members=["a", "b"],
                canonical="a",
                languages=["en", "fr"],
                story="s1",
                evidence=[{"a": "a", "b": "b", "same_language": False, "cosine": 0.61, "aligned_sentences": 5}],
            )
        ],
        model="test",
    )


# ---- the page's data, no browser --------------------------------------------


def test_page_loads_nothing_and_no_text_can_close_its_script(tmp_path):
    hostile = "</script><script>alert(1)</script> <!-- <script> </SCRIPT >"
    result = small_result(title=hostile)
    page = render_html(result, title="<b>mine</b>")
    assert page.count("<script") == 2 and page.lower().count("</script") == 2
    assert "<link" not in page and " src=" not in page and 'http-equiv="Content-Security-Policy"' in page
    assert "<title>&lt;b&gt;mine&lt;/b&gt;</title>" in page
    data = embedded_data(page)
    assert data == json.loads(json.dumps(browser_data(result)))
    assert data["stories"][0]["title"] == hostile and data["items"]["title"][0] == hostile
    write_html(result, tmp_path / "page.html")
    assert (tmp_path / "page.html").read_text(encoding="utf-8") == render_html(result)
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]  # no temporary file left


def test_data_refers_to_items_by_position():
    data = browser_data(small_result())
    items = data["items"]
    assert items["id"] == ["a", "b", "b#teaser-1"] and items["kind"] == "aat"
    assert [data["langs"][c] for c in items["lang"]] == ["en", "fr", "fr"]
    assert items["story"] == [0, 0, -1] and items["group"] == [0, 0, -1]
    assert items["x"] == [0.5, 0.4, None] and items["day"][0] == 20468  # 2026-01-15
    [story] = data["stories"]
    assert story["members"] == [0, 1] and story["groups"] == [0]
    assert (story["start"], story["end"]) == (20468, 20469)
    [group] = data["groups"]
    assert group["canonical"] == 0 and (group["evidence"][0]["a"], group["evidence"][0]["b"]) == (0, 1)


def test_result_keeps_map_coordinates_and_snippets(fake_encoder):
    result = Clusterer(encoder=fake_encoder, cache_dir=None).run(EXAMPLES)
    for it in result.items:
        assert isinstance(it.x, float) and isinstance(it.y, float)
        assert round(it.x, 4) == it.x and round(it.y, 4) == it.y
        assert it.snippet and len(it.snippet) <= 200
    assert len({(it.x, it.y) for it in result.items}) == len(result.items)
    again = ClusterResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again.items == result.items
    # a result written before the map: it loads, and its page says there is no map
    old = result.to_dict()
    for it in old["items"]:
        del it["x"], it["y"], it["snippet"]
    loaded = ClusterResult.from_dict(old)
    assert all(it.x is None and it.snippet is None for it in loaded.items)
    assert browser_data(loaded)["items"]["x"] == [None] * len(loaded.items)


def test_map_coordinates_are_the_principal_components_in_bounded_memory():
    import numpy as np
    from sklearn.decomposition import PCA

    from clusterer.result import map_coordinates

    rng = np.random.default_rng(3)
    x = rng.normal(size=(3000, 64)).astype(np.float32)
    x[:, 0] *= 6
    x[:, 1] *= 3
    full = PCA(n_components=2, random_state=0).fit_transform(x.astype(np.float64))
    assert np.abs(map_coordinates(x) - full).max() <= 1e-4
    sampled = map_coordinates(x, fit_rows=500, block=700)  # fitted on a sample, applied block by block
    assert (sampled == map_coordinates(x, fit_rows=500, block=700)).all()
    for axis in (0, 1):
        assert abs(np.corrcoef(sampled[:, axis], full[:, axis])[0, 1]) > 0.99
    assert map_coordinates(x[:1]).tolist() == [[0.0, 0.0]] and map_coordinates(x[:0]).shape == (0, 2)


def test_html_inside_the_corpus_is_refused(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Some text.", encoding="utf-8")
    result = CliRunner().invoke(
        main, [str(corpus), "--html", str(corpus / "page.html"), "-q", "--cache-dir", str(tmp_path / "c")]
    )
    assert result.exit_code == 1 and "is an input of the corpus" in result.output
    assert not (corpus / "page.html").exists()


# ---- the page in a browser --------------------------------------------------


@pytest.fixture(scope="module")
def chromium():
    from headless import BrowserUnavailable, open_chromium

    try:
        driver = open_chromium(1400, 1000)
    except BrowserUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"headless Chromium is required when CI is set: {exc}")
        pytest.skip(f"no headless Chromium here: {exc}")
    yield driver
    driver.quit()


def cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def seeds_page(tmp_path_factory, model_cache):
    """The seeds through `cluster --out`, then the page from the saved result
    through `cluster report --html`."""
    from conftest import shared_path

    tmp = tmp_path_factory.mktemp("browser-seeds")
    cli(shared_path("seeds"), "--out", tmp / "r.json", "--cache-dir", model_cache, "-q")
    cli("report", tmp / "r.json", "--html", tmp / "seeds.html")
    return tmp / "seeds.html", load_result(tmp / "r.json")


@pytest.fixture(scope="module")
def examples_page(tmp_path_factory, model_cache):
    tmp = tmp_path_factory.mktemp("browser-examples")
    cli(EXAMPLES, "--out", tmp / "r.json", "--html", tmp / "examples.html", "--cache-dir", model_cache, "-q")
    return tmp / "examples.html", load_result(tmp / "r.json")


def open_page(driver, path: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(path.resolve().as_uri())
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.documentElement.dataset.ready"))
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def shown(driver, selector: str, attribute: str):
    return [e.get_attribute(attribute) for e in driver.find_elements("css selector", selector)]


def set_control(driver, element_id: str, value: str, event: str = "change") -> None:
    driver.execute_script(
        "const e = document.getElementById(arguments[0]); e.value = arguments[1];"
        "e.dispatchEvent(new Event(arguments[2]));",
        element_id,
        value,
        event,
    )


def wait_for_stories(driver, expected):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 5).until(lambda d: shown(d, "#story-list li.story", "data-story") == expected)


def test_browser_shows_the_seeds_as_the_result_says(chromium, seeds_page, tmp_path):
    path, result = seeds_page
    open_page(chromium, path)
    assert shown(chromium, "#story-list li.story", "data-story") == [s.id for s in result.stories] == ["s1"]
    story = result.stories[0]
    assert chromium.find_element("css selector", "li.story .story-title").text == story.title
    chromium.find_element("css selector", 'li.story[data-story="s1"]').click()
    detail = chromium.find_element("id", "detail")
    assert detail.get_attribute("data-story") == "s1"
    # one duplicate group: the Vietnamese Nhân Dân piece and its French VNA counterpart
    [group] = result.duplicate_groups
    assert shown(chromium, "#detail .group", "data-group") == [group.id]
    assert shown(chromium, "#detail .group .item", "data-item") == group.members
    assert shown(chromium, "#detail .group .item.canonical", "data-item") == [group.canonical]
    assert len(chromium.find_elements("css selector", "#detail table.evidence tr")) == 1 + len(group.evidence)
    # the story opens on its events in time order, each with its groups and other articles
    events = {e.id: e for e in result.events}
    assert shown(chromium, "#detail .event", "data-event") == story.events
    others = [m for e in story.events for m in events[e].members if result.item(m).duplicate_group is None]
    listed = '#detail [data-section="other articles"] .item, #detail [data-section="articles"] .item'
    assert shown(chromium, listed, "data-item") == others
    assert len(story.members) == 5 and not chromium.find_elements("css selector", '#detail [data-section="teasers"]')
    titles = chromium.find_element("css selector", "#detail table.titles").text
    assert {"FR", "VI"} <= {line.split()[0] for line in titles.splitlines()}
    # the teasers ("Voir plus") are noise, listed apart from the strays
    chromium.find_element("id", "tab-noise").click()
    teasers = [i for i in result.noise if result.item(i).kind == "teaser"]
    assert len(teasers) == 13 and len(result.noise) == 13
    assert shown(chromium, "#teaser-list .item", "data-item") == teasers
    assert shown(chromium, "#stray-list .item", "data-item") == []
    assert chromium.find_element("id", "tab-noise").text == "Noise (13)"
    # the map is drawn: coloured points for the story
    coloured = chromium.execute_script(
        "const c = document.getElementById('map'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let p = 0; p < d.length; p += 4) if (Math.abs(d[p] - d[p + 2]) > 60) n++; return n;"
    )
    assert coloured > 0
    # a date range after the story: nothing listed; cleared: back
    set_control(chromium, "f-from", "2020-01-01")
    wait_for_stories(chromium, [])
    assert chromium.find_element("id", "tab-stories").text == "Stories (0)"
    chromium.find_element("id", "f-clear").click()
    wait_for_stories(chromium, ["s1"])
    chromium.find_element("id", "tab-stories").click()
    chromium.find_element("css selector", 'li.story[data-story="s1"]').click()
    chromium.save_screenshot(str(tmp_path / "browser-seeds.png"))
    assert (tmp_path / "browser-seeds.png").stat().st_size > 10_000


def test_browser_filters_the_example_corpus(chromium, examples_page, tmp_path):
    from selenium.webdriver.support.ui import Select

    path, result = examples_page
    open_page(chromium, path)
    by_language = {lang: [s.id for s in result.stories if lang in s.languages] for lang in ("de", "vi")}
    assert by_language == {"de": ["s1"], "vi": ["s2"]}  # the storm, the metro
    assert shown(chromium, "#story-list li.story", "data-story") == ["s1", "s2"]
    language = Select(chromium.find_element("id", "f-lang"))
    [de] = [o.get_attribute("value") for o in language.options if o.text.startswith("de ")]
    language.select_by_value(de)
    wait_for_stories(chromium, by_language["de"])
    language.select_by_value("-1")
    wait_for_stories(chromium, ["s1", "s2"])
    chromium.find_element("id", "f-text").send_keys("METRO")
    wait_for_stories(chromium, by_language["vi"])
    # noise follows the filters too: the metro page's teasers match, the jazz record does not
    chromium.find_element("id", "tab-noise").click()
    assert shown(chromium, "#teaser-list .item", "data-item") == ["metro_vi.txt#teaser-1", "metro_vi.txt#teaser-2"]
    assert shown(chromium, "#stray-list .item", "data-item") == []
    chromium.find_element("id", "f-clear").click()
    wait_for_stories(chromium, ["s1", "s2"])
    assert shown(chromium, "#stray-list .item", "data-item") == ["jazz-fr"]
    # sorted by date and by size; opened from the map
    Select(chromium.find_element("id", "f-sort")).select_by_value("oldest")
    assert sorted(shown(chromium, "#story-list li.story", "data-story")) == ["s1", "s2"]
    Select(chromium.find_element("id", "f-sort")).select_by_value("size")
    wait_for_stories(chromium, ["s1", "s2"])
    storm = result.item("storm_de.txt")
    chromium.execute_script(
        "const c = document.getElementById('map'), r = c.getBoundingClientRect(), d = window.storyBrowser;"
        "const [px, py] = d.project(arguments[0], arguments[1]);"
        "c.dispatchEvent(new MouseEvent('click', {clientX: r.left + px, clientY: r.top + py, bubbles: true}));",
        storm.x,
        storm.y,
    )
    assert chromium.find_element("id", "detail").get_attribute("data-story") == "s1"
    assert shown(chromium, "#detail .group .item.canonical", "data-item") == ["storm_en.txt"]
    chromium.save_screenshot(str(tmp_path / "browser-examples.png"))
