"""Stories as threads of events (tests/data/threads, written for these tests: 12 made-up
stories of 2-4 events over weeks to years in 18 languages, two pairs of look-alike
threads, unrelated pages; each page labelled with its story, event and duplicate group).

The fast tests check the rules with fixed vectors; the others run the corpus through the
real bundled model, one test per failure kind of issue 22: a story cut at its events, two
threads of one kind merged, events that serve neither level."""

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from clusterer import Clusterer
from clusterer.entities import name_key, names
from clusterer.evaluation.metrics import bcubed
from clusterer.stories.similarity import StoryParams
from clusterer.stories.threads import EventSimilarity, thread_events

CORPUS = Path(__file__).parent / "data" / "threads" / "threads.jsonl"
GOLD = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
# threads the default settings keep whole (bridge and quake: known limits, below)
WHOLE = ["cathedral", "hostages", "moon", "primate", "sub", "trial"]


# ---------------------------------------------------------------- names


def test_names_are_capitals_inside_sentences_and_latin_words_in_other_scripts():
    text = (
        "Search Goes On For The Missing Crew\n"
        "The navy said that the submersible Aurora Deep of Meridian Abyssal lost contact. Rescuers wait.\n"
        "Путин встретился с Вежбицким в Гнезно.\n"
        "韩国航空宇宙研究院(KARI)的Dalbit-2号探测器成功着陆。"
    )
    got = names(text)
    assert {"auror", "deep", "merid", "abyss", "vezhb", "gnezn", "kari", "dalbi"} <= got
    # sentence openers and a title-case headline are no names; nor is a Chinese word
    assert not {"the", "searc", "goes", "missi", "rescu", "putin"} & got
    assert name_key("Wierzbickiego") == name_key("Wierzbicki") == "wierz"
    assert name_key("Путин") == "putin"


# ---------------------------------------------------------------- threads of events


def _unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_shared_names_lift_the_time_prior_to_one_and_no_further():
    params = StoryParams()
    a, b = _unit([1, 0, 0, 0]), _unit([0.6, 0.8, 0, 0])
    years = 5 * 365.0
    same = EventSimilarity(np.stack([a, b]), [0.0, years], [frozenset({"vaucl", "marte"})] * 2, params)
    other = EventSimilarity(np.stack([a, b]), [0.0, years], [frozenset({"chile"}), frozenset({"kenya"})], params)
    cos = float(a @ b)
    assert same.block([0], [1])[0, 0] == pytest.approx(cos)  # the names carry the thread across the years
    assert other.block([0], [1])[0, 0] == pytest.approx(cos * params.thread_time_floor)  # only the floor left
    assert np.allclose(same.pairs([0], [1]), same.block([0], [1])[0])


def test_thread_events_joins_a_thread_and_keeps_look_alikes_apart():
    """Four events of one kind, years apart: the two that share their actors form one
    story, the two with other actors stay apart from it and from each other."""
    params = StoryParams()
    rng = np.random.default_rng(0)
    base = rng.standard_normal(32)
    vectors = np.stack([_unit(base + 0.3 * rng.standard_normal(32)) for _ in range(8)])
    events = np.repeat(np.arange(4), 2)
    days = [0, 1, 400, 401, 800, 801, 1200, 1201]
    actors = {0: "Halloran Lumera Milan", 2: "Ortuzar Chile Santiago", 3: "Kariuki Kenya Nairobi"}
    actors[1] = actors[0]
    article_names = [frozenset({name_key(w) for w in actors[int(e)].split()} | {"hanoi"}) for e in events]
    stories = thread_events(vectors * 0.8, days, article_names, events, params)
    assert stories[0] == stories[1]
    assert len({stories[0], stories[2], stories[3]}) == 3


# ---------------------------------------------------------------- the corpus, real model


@pytest.fixture(scope="module")
def threads(model_cache):
    records = [{k: g[k] for k in ("id", "text", "url", "date")} for g in GOLD]
    with Clusterer(cache_dir=model_cache) as clusterer:
        result = clusterer.run(records)
    return result, {it.id: it for it in result.items}


def _gold(level: str) -> dict:
    return {g["id"]: g[level] for g in GOLD}


def _members(level: str) -> dict:
    out = defaultdict(list)
    for g in GOLD:
        if g[level] is not None:
            out[g[level]].append(g["id"])
    return out


@pytest.mark.parametrize("story", WHOLE)
def test_a_thread_of_events_is_one_story(threads, story):
    """A story cut at its events (a hospital stay, a death, a funeral, a successor; a
    fire and the reopening five years later) was the first failure kind: every
    article of the thread in one story, its events inside it."""
    _, items = threads
    members = [items[i] for i in _members("story")[story] if items[i].story is not None]
    assert len(members) >= len(_members("story")[story]) - 1  # a short page may stay noise
    assert len({it.story for it in members}) == 1
    gold_events = {g["event"] for g in GOLD if g["story"] == story}
    assert len({it.event for it in members}) == len(gold_events)


@pytest.mark.xfail(
    strict=True,
    reason="known limit: an inquiry 16 months after a bridge collapse, and a donors' conference two "
    "months after an earthquake, come out as stories of their own (their reports share few names with "
    "the first events' and little of their wording)",
)
@pytest.mark.parametrize("story", ["bridge", "quake"])
def test_threads_that_still_break(threads, story):
    _, items = threads
    assert len({items[i].story for i in _members("story")[story] if items[i].story is not None}) == 1


def test_two_election_cycles_stay_two_stories(threads):
    """Two threads of one kind five years apart (the campaign and the results of two
    national elections, other leaders): two stories."""
    _, items = threads
    first = {items[i].story for i in _members("story")["election-2019"]}
    second = {items[i].story for i in _members("story")["election-2024"]}
    assert len(first) == len(second) == 1 and first != second


def test_two_state_visits_stay_two_stories(threads):
    """Two state visits to one capital by different presidents a year apart, reported to
    one template: their welcome-ceremony reports share most of their wording but not the
    guests' names, so they are two articles, and the visits two stories."""
    _, items = threads
    assert items["visit-chile-e1-en"].duplicate_group != items["visit-kenya-e1-en"].duplicate_group
    chile = {items[i].story for i in _members("story")["visit-chile"]}
    kenya = {items[i].story for i in _members("story")["visit-kenya"]}
    assert chile.isdisjoint(kenya)


def test_events_serve_their_level(threads):
    """Events scored against the gold events (B-cubed F1 >= 0.9, where the stories of
    before, one level for both, scored 0.86), nested in their stories, listed in
    time order under each story, and every duplicate group inside one event."""
    result, items = threads
    _, _, f1 = bcubed(_gold("event"), {i: it.event for i, it in items.items()})
    assert f1 >= 0.9
    events = {e.id: e for e in result.events}
    for story in result.stories:
        assert sorted(story.events) == sorted(e.id for e in result.events if e.story == story.id)
        firsts = [events[e].first_date for e in story.events]
        assert firsts == sorted(firsts)
    for it in items.values():
        assert (it.event is None) == (it.story is None or it.kind != "article")
        if it.event is not None:
            assert events[it.event].story == it.story and it.id in events[it.event].members
    for group in result.duplicate_groups:
        assert len({items[m].event for m in group.members}) == 1


def test_unrelated_pages_are_noise(threads):
    _, items = threads
    assert all(items[g["id"]].story is None for g in GOLD if g["story"] is None)


def test_the_nightly_job_threads_events_as_the_batch_run_does(tmp_path, model_cache):
    """The corpus arrives over five nights, by date: each thread the batch run keeps
    whole is one story of the state too (the later events join the stored story they
    continue), with stable event ids inside it, and the election cycles stay apart."""
    from clusterer import Nightly
    from clusterer.nightly.state import State

    ordered = sorted(GOLD, key=lambda g: (g["date"], g["id"]))
    per = -(-len(ordered) // 5)
    corpus = tmp_path / "feed.jsonl"
    seen: list = []
    for night in range(5):
        seen += ordered[night * per : (night + 1) * per]
        corpus.write_text(
            "".join(
                json.dumps({k: g[k] for k in ("id", "text", "url", "date")}, ensure_ascii=False) + "\n" for g in seen
            ),
            encoding="utf-8",
        )
        with Clusterer(cache_dir=model_cache) as clusterer:
            Nightly(tmp_path / "state.sqlite", clusterer).update(corpus)
    with State(tmp_path / "state.sqlite") as st:
        rows = {i: r for i, r in st.items().items() if not r.deleted}
    for story in WHOLE:
        placed = [rows[i] for i in _members("story")[story] if rows[i].story is not None]
        assert len(placed) >= len(_members("story")[story]) - 1, story
        assert len({r.story for r in placed}) == 1, story
        assert all(r.event and r.event.startswith("E") for r in placed)
    first = {rows[i].story for i in _members("story")["election-2019"]}
    second = {rows[i].story for i in _members("story")["election-2024"]}
    assert first.isdisjoint(second)


# ---------------------------------------------------------------- the validation set
# tests/data/threads/validation.jsonl was written after the settings were chosen and was
# never used to choose them: what it shows is how the rule holds on threads it has not seen.
VALIDATION = [
    json.loads(line)
    for line in (CORPUS.parent / "validation.jsonl").read_text(encoding="utf-8").splitlines()
    if line.strip()
]


@pytest.fixture(scope="module")
def validation(model_cache):
    records = [{k: g[k] for k in ("id", "text", "url", "date")} for g in VALIDATION]
    with Clusterer(cache_dir=model_cache) as clusterer:
        result = clusterer.run(records)
    return {it.id: it for it in result.items}


def _stories_of(items, story: str) -> set:
    return {items[g["id"]].story for g in VALIDATION if g["story"] == story}


@pytest.mark.parametrize("story", ["crash", "doping", "merger"])
def test_unseen_threads_are_one_story(validation, story):
    """An air crash, its black boxes and the final report two years later; a positive
    test, a ban and the appeal's verdict; a takeover, a probe and its blocking."""
    assert len(_stories_of(validation, story)) == 1 and None not in _stories_of(validation, story)


def test_unseen_heatwaves_of_two_summers_stay_apart(validation):
    assert _stories_of(validation, "heat-2022").isdisjoint(_stories_of(validation, "heat-2025"))


@pytest.mark.xfail(
    strict=True,
    reason="known limit: two central-bank rate cycles two years apart share the bank's names, which "
    "lift the time prior, and read alike; their governors differ, but that is not weighed apart",
)
def test_unseen_rate_cycles_of_two_years_stay_apart(validation):
    assert _stories_of(validation, "rates-2023").isdisjoint(_stories_of(validation, "rates-2025"))


@pytest.mark.xfail(
    strict=True,
    reason="known limit: an eruption and the lava reaching a village two weeks later, and a heat record "
    "and the fires or drought a week later, come out as two stories (their reports share few names)",
)
@pytest.mark.parametrize("story", ["volcano", "heat-2022", "heat-2025"])
def test_unseen_threads_that_still_break(validation, story):
    assert len(_stories_of(validation, story)) == 1
