"""`cluster update --html`: the story browser of the nightly state after a run,
the run's changes on top (clusterer/snapshot.py and the page's Tonight panel).
Nights of the fake encoder through the CLI, each page's data checked against the
state and the report; then the night-2 page in headless Chromium."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fakes import bilingual  # noqa: E402
from test_browser import chromium, embedded_data, open_page, shown  # noqa: E402,F401 (chromium: a fixture)
from test_nightly import corpus_for  # noqa: E402

import clusterer.cli as cli  # noqa: E402
from clusterer.debias import center_by_language  # noqa: E402
from clusterer.errors import StateError  # noqa: E402
from clusterer.nightly.job import Nightly  # noqa: E402
from clusterer.nightly.state import State, means_by_lang  # noqa: E402
from clusterer.output.browser import browser_data, write_html  # noqa: E402
from clusterer.pipeline import Clusterer  # noqa: E402
from clusterer.result import map_coordinates  # noqa: E402


def standing(path: Path) -> dict:
    """What the state holds now: live rows, story titles, canonical items, the map
    its vectors and means give."""
    with State(path) as st:
        rows = {i: r for i, r in st.items().items() if not r.deleted}
        ids = sorted(rows)
        centred = center_by_language(st.vectors(ids), [rows[i].lang for i in ids], means=means_by_lang(st.means()))
        return {
            "rows": rows,
            "titles": {k: g.extra for k, g in st.stories().items()},
            "canonical": {k: g.extra for k, g in st.dup_groups().items()},
            "xy": dict(zip(ids, map_coordinates(centred).tolist())),
        }


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    """Three nights of `cluster update --report --html`; per night the page's data,
    the report JSON and the state as the night left it."""
    tmp = tmp_path_factory.mktemp("nightly-pages")
    state = tmp / "state.sqlite"
    out = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "make_clusterer", lambda options: Clusterer(encoder=bilingual(), cache_dir=tmp / "cache"))
        for night in (1, 2, 3):
            page, report = tmp / f"night{night}.html", tmp / f"report{night}.json"
            done = CliRunner().invoke(
                cli.main,
                [
                    "update",
                    str(corpus_for(night, tmp)),
                    "--state",
                    str(state),
                    "--report",
                    str(report),
                    "--html",
                    str(page),
                ],
            )
            assert done.exit_code == 0, done.output
            assert done.output.rstrip().endswith(f"Wrote {page}")
            out.append(
                {
                    "page": page,
                    "data": embedded_data(page.read_text(encoding="utf-8")),
                    "report": json.loads(report.read_text(encoding="utf-8")),
                    "state": standing(state),
                }
            )
    return tmp, out


def test_page_is_the_state_after_the_run(nights):
    _, out = nights
    for night in out:
        data, st = night["data"], night["state"]
        items, rows = data["items"], st["rows"]
        ids = items["id"]
        assert ids == sorted(rows)  # the live items, deleted ones left out
        story_id = [s["id"] for s in data["stories"]]
        group_id = [g["id"] for g in data["groups"]]
        for k, i in enumerate(ids):
            assert (story_id[items["story"][k]] if items["story"][k] >= 0 else None) == rows[i].story, i
            assert (group_id[items["group"][k]] if items["group"][k] >= 0 else None) == rows[i].dup, i
            assert items["title"][k] == (rows[i].title or "") and items["kind"][k] == rows[i].kind[0]
        assert set(items["snippet"]) == {""}  # the state keeps no texts
        for s in data["stories"]:
            assert [ids[p] for p in s["members"]] == sorted(i for i, r in rows.items() if r.story == s["id"])
            assert s["title"] == st["titles"][s["id"]] and s["title"]
        assert story_id == sorted({r.story for r in rows.values() if r.story})
        for g in data["groups"]:
            assert [ids[p] for p in g["members"]] == sorted(i for i, r in rows.items() if r.dup == g["id"])
            assert ids[g["canonical"]] == st["canonical"][g["id"]] and g["evidence"] == []
            assert story_id[g["story"]] == rows[ids[g["canonical"]]].story
        # the map: stored raw vectors, centred by the stored means, projected as a batch run does
        assert [[items["x"][k], items["y"][k]] for k in range(len(ids))] == [st["xy"][i] for i in ids]
        assert len({(x, y) for x, y in zip(items["x"], items["y"])}) == len(ids)


def test_first_night_map_is_the_batch_runs(nights):
    tmp, out = nights
    batch = Clusterer(encoder=bilingual(), cache_dir=None).run(corpus_for(1, tmp))
    items = out[0]["data"]["items"]
    page = {i: (x, y) for i, x, y in zip(items["id"], items["x"], items["y"])}
    assert sorted(page) == sorted(it.id for it in batch.items)
    np.testing.assert_allclose(
        [page[it.id] for it in batch.items], [(it.x, it.y) for it in batch.items], rtol=0, atol=2e-4
    )


def test_changes_block_is_the_report(nights):
    _, out = nights
    for night in out:
        data, report = night["data"], night["report"]
        changes, ids, c = data["changes"], data["items"]["id"], report["counts"]
        name = lambda ref, ids=ids: ids[ref] if isinstance(ref, int) else ref  # noqa: E731
        assert (changes["run"], changes["kind"], changes["finished"]) == (
            report["run"],
            report["kind"],
            report["finished"],
        )
        assert changes["line"].startswith(
            f"run {report['run']} ({report['kind']}) on {report['state']}: "
            f"{c['items']} items; {c['new']} new, {c['changed']} changed, "
            f"{c['deleted']} deleted"
        )
        assert [[name(x), s, d] for x, s, d in changes["new_items"]] == [
            [ch["id"], ch["story"], ch["duplicate_group"]] for ch in report["new_items"]
        ]
        assert all(isinstance(x, int) for x, _, _ in changes["new_items"])  # live: referred to by position
        assert [[name(x), name(k), g] for x, k, g in changes["new_duplicates"]] == [
            [d["id"], d["canonical"], d["group"]] for d in report["new_duplicates"]
        ]
        assert changes["stories_created"] == [
            [s["id"], s["title"], len(s["members"])] for s in report["stories_created"]
        ]
        assert changes["stories_merged"] == [[m["into"], m["merged"]] for m in report["stories_merged"]]
        assert changes["deleted_items"] == [
            [ch["id"], ch["previous_story"], ch["previous_duplicate_group"]] for ch in report["deleted_items"]
        ]
        assert [name(x) for x in changes["kept_unread"]] == report["kept_unread"]
    first, second, third = (night["data"]["changes"] for night in out)
    assert first["kind"] == "batch" and len(first["new_items"]) == 6
    ids2 = out[1]["data"]["items"]["id"]
    assert sorted(ids2[x] for x, _, _ in second["new_items"]) == sorted(
        [
            "flood-fr-1",
            "flood-en-3",
            "summit-en-1",
            "summit-fr-1",
            "pages/museum.txt",
            "pages/museum.txt#teaser-1",
            "pages/museum.txt#teaser-2",
        ]
    )
    assert [[ids2[x], ids2[k], g] for x, k, g in second["new_duplicates"]] == [["flood-fr-1", "flood-en-1", "D000001"]]
    assert [s[0] for s in second["stories_created"]] == ["S000003"]
    assert third["deleted_items"] == [["pages/strike-3.txt", "S000001", None]]
    assert "pages/strike-3.txt" not in out[2]["data"]["items"]["id"]


def test_page_data_is_the_states_result_and_the_changes(nights, tmp_path):
    tmp, out = nights
    result = Nightly(tmp / "state.sqlite").result()
    data = browser_data(result)
    assert "changes" not in data  # without a report: the batch page's data
    assert json.loads(json.dumps(data)) == {k: v for k, v in out[2]["data"].items() if k != "changes"}
    with pytest.raises(StateError, match="no state at"):
        Nightly(tmp_path / "none.sqlite").result()
    assert not (tmp_path / "none.sqlite").exists()


def test_html_may_not_be_the_state_or_the_report(tmp_path):
    corpus = corpus_for(1, tmp_path)
    state = tmp_path / "state.sqlite"
    for clash in (["--html", str(state)], ["--report", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.json")]):
        done = CliRunner().invoke(cli.main, ["update", str(corpus), "--state", str(state), *clash])
        assert done.exit_code == 2 and "give the page a path of its own" in done.output
    assert not state.exists()
    done = CliRunner().invoke(
        cli.main, ["update", str(corpus), "--state", str(state), "--html", str(corpus / "page.html")]
    )
    assert done.exit_code == 1 and "is an input of the corpus" in done.output and not state.exists()


# ---- the night-2 page in a browser ------------------------------------------


def test_tonight_panel_lists_the_new_items_and_opens_their_stories(chromium, nights, tmp_path):  # noqa: F811
    tmp, out = nights
    night = out[1]
    report = night["report"]
    open_page(chromium, night["page"])
    panel = chromium.find_element("id", "tonight")
    assert panel.find_element("css selector", "summary").text.startswith("Tonight: run 2 (update)")
    assert night["data"]["changes"]["line"] in panel.text
    assert "The state keeps no texts" in panel.text
    assert shown(chromium, '#tonight [data-section="new items"] .change', "data-item") == [
        ch["id"] for ch in report["new_items"]
    ]
    assert shown(chromium, '#tonight [data-section="new duplicates"] .change', "data-item") == ["flood-fr-1"]
    assert shown(chromium, '#tonight [data-section="stories created"] .story-link', "data-story") == ["S000003"]
    assert not chromium.find_elements("css selector", '#tonight [data-section="deleted items"]')
    # a story created tonight opens from the panel
    assert chromium.find_element("id", "detail").get_attribute("data-story") is None
    chromium.find_element("css selector", '#tonight [data-section="stories created"] .story-link').click()
    detail = chromium.find_element("id", "detail")
    assert detail.get_attribute("data-story") == "S000003"
    assert detail.find_element("css selector", "h2").text == report["stories_created"][0]["title"]
    assert shown(chromium, '#detail [data-section$="articles"] .item', "data-item") == [
        "summit-en-1",
        "summit-fr-1",
    ]
    # so does a new item's story: the translation, in its duplicate group with the original
    chromium.find_element(
        "css selector", '#tonight [data-section="new items"] .change[data-item="flood-fr-1"] .story-link'
    ).click()
    assert detail.get_attribute("data-story") == "S000002"
    assert shown(chromium, "#detail .group", "data-group") == ["D000001"]
    assert shown(chromium, "#detail .group .item.canonical", "data-item") == ["flood-en-1"]
    # a teaser in no story names none, and has nothing to open
    museum = chromium.find_element(
        "css selector", '#tonight [data-section="new items"] .change[data-item="pages/museum.txt#teaser-2"]'
    )
    assert "no story" in museum.text and not museum.find_elements("css selector", ".story-link")
    chromium.save_screenshot(str(tmp_path / "tonight.png"))
    # the same state's page without changes has no panel
    write_html(Nightly(tmp / "state.sqlite").result(), tmp_path / "plain.html")
    open_page(chromium, tmp_path / "plain.html")
    assert not chromium.find_elements("id", "tonight")
