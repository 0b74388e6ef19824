import json
import random

import pytest
from fakes import topical

from clusterer import Clusterer, Record
from clusterer.errors import CorpusError
from clusterer.records import Item, embedding_text

QUAKE = (
    "A magnitude 7.8 earthquake struck southern Turkey and northern Syria on Monday, "
    "killing more than 2,300 people, officials in Ankara and Damascus said. Rescue teams "
    "searched collapsed buildings in Gaziantep, Kahramanmaras and Aleppo through the night, "
    "and aftershocks of magnitude 7.5 followed."
)
QUAKE_REPOST = QUAKE.replace("through the night", "through a freezing night")
QUAKE_OTHER = (
    "Rescue teams in Gaziantep pulled survivors from the rubble two days after the "
    "earthquake in Turkey and Syria, as the death toll rose above 11,000 and aid "
    "arrived in Aleppo and Kahramanmaras from dozens of countries."
)
ELECTION = (
    "Voters in Nigeria went to the polls on Saturday to choose a successor to President "
    "Muhammadu Buhari, with Bola Tinubu, Atiku Abubakar and Peter Obi the main candidates "
    "among 18 contenders, the electoral commission INEC said in Abuja."
)
ELECTION_2 = (
    "Bola Tinubu was declared the winner of Nigeria's presidential election by INEC in "
    "Abuja, ahead of Atiku Abubakar and Peter Obi, who said they would challenge the "
    "result of the vote to succeed Muhammadu Buhari."
)
STRAY = "The recipe calls for flour, butter, two eggs and a pinch of salt, baked for 40 minutes."
PAGE = (
    ELECTION + "\n\nRead more\n\n"
    "Bakery prices rise\n\nBread and pastry cost more this winter as flour and butter prices "
    "climbed across the region.\n\n"
    "Local football club wins cup\n\nThe club won the regional cup final on penalties after a "
    "goalless draw, its first trophy in a decade."
)


def corpus():
    return [
        Record("quake-1", QUAKE, lang="en", date="2023-02-06"),
        Record("quake-2", QUAKE_REPOST, lang="en", date="2023-02-06"),
        Record("quake-3", QUAKE_OTHER, lang="en", date="2023-02-08"),
        Record("nigeria-page", PAGE, lang="en", date="2023-02-25"),
        Record("nigeria-2", ELECTION_2, lang="en", date="2023-03-01"),
        Record("stray", STRAY, lang="en", date="2023-02-10"),
    ]


def run(records, **kw):
    return Clusterer(encoder=topical(), cache_dir=None, **kw).run(records)


def test_stories_duplicates_and_noise():
    result = run(corpus())
    story = {it.id: it.story for it in result.items}
    assert story["quake-1"] == story["quake-2"] == story["quake-3"] is not None
    assert story["nigeria-page"] == story["nigeria-2"] is not None
    assert story["quake-1"] != story["nigeria-page"]
    assert story["stray"] is None  # a lone article founds no story
    assert story["nigeria-page#teaser-1"] is None and story["nigeria-page#teaser-2"] is None
    assert [g.members for g in result.duplicate_groups] == [["quake-1", "quake-2"]]
    assert result.duplicate_groups[0].canonical == "quake-1"
    assert set(result.noise) == {"stray", "nigeria-page#teaser-1", "nigeria-page#teaser-2"}


def test_result_does_not_depend_on_input_order():
    base = run(corpus()).to_dict()
    for seed in range(3):
        shuffled = corpus()
        random.Random(seed).shuffle(shuffled)
        other = run(shuffled).to_dict()
        key = lambda d: sorted(d["items"], key=lambda it: it["id"])  # noqa: E731
        assert key(other) == key(base)
        assert other["stories"] == base["stories"]
        assert other["duplicate_groups"] == base["duplicate_groups"]


def test_teasers_never_found_a_story():
    # two pages whose teaser blocks carry the same two teasers: they match each other, not an article
    records = [Record(f"page-{k}", PAGE, lang="en") for k in range(2)]
    result = run(records)
    teasers = [it for it in result.items if it.kind == "teaser"]
    assert len(teasers) == 4 and all(t.story is None for t in teasers)


def test_json_shape(tmp_path):
    data = json.loads(json.dumps(run(corpus()).to_dict()))
    assert set(data) >= {"items", "stories", "duplicate_groups", "noise"}
    for item in data["items"]:
        assert set(item) >= {"id", "doc", "kind", "lang", "title", "story", "duplicate_group"}
    teaser = next(i for i in data["items"] if i["id"] == "nigeria-page#teaser-1")
    assert teaser["doc"] == "nigeria-page" and teaser["kind"] == "teaser"
    assert teaser["title"] == "Bakery prices rise"


def test_records_as_dicts_and_errors():
    result = run([{"id": "a", "text": QUAKE}, {"id": "b", "text": QUAKE_OTHER}])
    assert len(result.items) == 2
    with pytest.raises(CorpusError):
        run([{"id": "a"}])
    with pytest.raises(CorpusError):
        run([Record("a", QUAKE), Record("a", QUAKE_OTHER)])
    with pytest.raises(CorpusError):
        run([])


def test_embedding_text_prefixes_title_once():
    assert embedding_text(Item("x", "x", "article", "Body.", title="Head")) == "Head\nBody."
    assert embedding_text(Item("x", "x", "article", "Head\nBody.", title="Head")) == "Head\nBody."


def test_folder_run_reports_skipped_files(tmp_path):
    (tmp_path / "a.txt").write_text(QUAKE, encoding="utf-8")
    (tmp_path / "b.txt").write_text(QUAKE_OTHER, encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes(b"\x00\x01binary")
    result = run(str(tmp_path))
    assert {it.id for it in result.items} == {"a.txt", "b.txt"}
    assert [s.path for s in result.skipped] == ["bad.txt"]


def test_a_story_title_is_a_headline_where_any_article_has_one():
    from clusterer.records import ARTICLE, Item
    from clusterer.result import story_title

    items = [
        Item(id="a", doc="a", kind=ARTICLE, text="Hanoi (VNA) – In the frame of his visit…", date="2018-12-11"),
        Item(
            id="b", doc="b", kind=ARTICLE, text="…", title="Vietnam and Russia discuss e-government", date="2018-12-12"
        ),
        Item(id="c", doc="c", kind=ARTICLE, text="…", title="A later headline", date="2019-05-01"),
    ]
    assert story_title(items, [0, 1, 2]) == "Vietnam and Russia discuss e-government"
    items[0].title = "The canonical article's own headline"
    assert story_title(items, [0, 1, 2]) == "The canonical article's own headline"
    assert story_title(items, [0]) == "The canonical article's own headline"
    items[0].title = None
    assert story_title(items, [0]).startswith("Hanoi (VNA)")
