"""The nightly job's steps, each alone, on plain inputs and without a model: the
diff against the state, the assignment (batch overlap and incremental placing),
the language means, the report builder, and the batched reading of the corpus
(with the fake encoder)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from clusterer.debias import Prior, center_by_language, language_means
from clusterer.duplicates import DuplicateParams, TextFeatures
from clusterer.embed.cache import text_key
from clusterer.nightly.assign import Placement, assign_batch, assign_incremental, batch_means, update_means
from clusterer.nightly.changes import ChangeReport, ItemChange, Merge, NewDuplicate, Split
from clusterer.nightly.diff import CHANGED, NEW, UNCHANGED, Stored, diff, missing, status
from clusterer.nightly.outcome import build_outcome, seal
from clusterer.nightly.state import OVERALL, GroupRow, StoredItem, lang_key
from clusterer.nightly.tonight import Tonight, read_tonight
from clusterer.pipeline import Clusterer
from clusterer.records import ARTICLE, Item, Record, Skipped, embedding_text
from clusterer.result import SNIPPET_CHARS, snippet
from clusterer.stories.similarity import StoryParams

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fakes import FakeEncoder  # noqa: E402


def row(i: str, h: str = "", story=None, dup=None, run=1, deleted=False, source=None, date="2024-01-01") -> StoredItem:
    return StoredItem(
        id=i,
        doc=i,
        kind=ARTICLE,
        lang="en",
        title=f"Title {i}",
        date=date,
        url=None,
        hash=h or f"h-{i}",
        first_seen=run,
        last_seen=run,
        deleted=deleted,
        story=story,
        dup=dup,
        source=source if source is not None else f"{i}.txt",
    )


def item(i: str, text: str = "", lang: str | None = "en", date: str | None = "2024-01-01") -> Item:
    return Item(id=i, doc=i, kind=ARTICLE, text=text, title=f"Title {i}", lang=lang, date=date, source=f"{i}.txt")


# -- the diff ---------------------------------------------------------------------
def test_status_of_an_item_against_the_rows():
    rows = {"a": row("a", "h1"), "gone": row("gone", "h2", deleted=True)}
    assert status("a", "h1", rows) == UNCHANGED
    assert status("a", "other", rows) == CHANGED
    assert status("b", "h1", rows) == NEW  # not stored
    assert status("gone", "h2", rows) == NEW  # stored as deleted: new again, whatever its hash


def test_diff_sorts_tonight_and_the_missing_rows():
    rows = {
        "a": row("a", "ha"),
        "b": row("b", "hb"),
        "c": row("c", "hc"),
        "d": row("d", "hd"),
        "z": row("z", "hz", deleted=True),
    }
    hashes = {"z": "hz", "new": "hn", "b": "changed", "a": "ha"}  # corpus order
    d = diff(hashes, rows, skipped=[], skipped_then={})
    assert (d.new, d.changed, d.unchanged) == (["z", "new"], ["b"], ["a"])
    assert (d.deleted, d.kept) == (["c", "d"], [])
    assert d.fresh == {"z", "new", "b"}
    assert [r.id for r in missing(hashes, rows)] == ["c", "d"]  # deleted rows are not missing


def test_a_missing_row_is_kept_when_its_input_may_hold_it():
    rows = {
        "whole": row("whole", source="unreadable.txt", run=2),
        "shown": row("shown", source="wire.jsonl", run=2),
        "new_damage": row("new_damage", source="feed.jsonl", run=2),
        "old_damage": row("old_damage", source="old.jsonl", run=2),
        "old_schema": row("old_schema", run=2),
        "plain": row("plain", source="plain.txt", run=2),
    }
    rows["old_schema"].source = None  # written before schema 2: its file is not known
    skipped = [
        Skipped("unreadable.txt", "cannot read"),  # the whole file
        Skipped("wire.jsonl", "invalid JSON", line=3, record="shown", digest="x1"),  # a line that shows its id
        Skipped("feed.jsonl", "invalid JSON", line=7, digest="new"),  # no id, not there on night 2
        Skipped("old.jsonl", "invalid JSON", line=1, digest="same"),  # no id, there on night 2 already
        Skipped("wire.jsonl", "repeated id", line=9, unread=False, record="plain"),  # read and refused
    ]
    then = {2: [{"path": "old.jsonl", "digest": "same"}]}
    d = diff({}, rows, skipped, then)
    assert d.kept == ["new_damage", "old_schema", "shown", "whole"]
    assert d.deleted == ["old_damage", "plain"]
    # the same damage on the night the row was last read hides nothing of it
    then[2].append({"path": "feed.jsonl", "digest": "new"})
    d = diff({}, rows, skipped, then)
    assert "new_damage" in d.deleted and "old_schema" in d.deleted


# -- the assignment -------------------------------------------------------------------
def test_assign_batch_keeps_ids_by_overlap_and_reports_merges_and_splits():
    rows = {
        "a": row("a", story="S000001", dup="D000001"),
        "b": row("b", story="S000001", dup="D000001"),
        "c": row("c", story="S000002"),
        "d": row("d", story="S000002"),
        "e": row("e", story="S000002"),
        "k": row("k", story="S000002", dup="D000002"),  # kept unread tonight
        "x": row("x", story="S000009", deleted=True),  # deleted before: takes no part
    }
    stored = Stored(rows, next_story=10, next_dup=3)
    stories = [["a", "b", "c", "new1"], ["d", "e"], ["x", "new2"]]
    dups = [["a", "b", "new1"]]
    p = assign_batch(stored, stories, dups, kept=[rows["k"]])
    # S000002 keeps d, e (two members beat c's one); S000001 keeps the first cluster
    assert p.story == {
        "a": "S000001",
        "b": "S000001",
        "c": "S000001",
        "new1": "S000001",
        "d": "S000002",
        "e": "S000002",
        "x": "S000010",
        "new2": "S000010",
        "k": "S000002",
    }
    assert p.dup == {"a": "D000001", "b": "D000001", "new1": "D000001", "k": "D000002"}
    assert (p.next_story, p.next_dup) == (11, 3)
    assert p.stories_merged == [Merge("S000001", ["S000002"])]
    assert p.stories_split == [Split("S000002", ["S000001", "S000002"])]
    assert p.dups_merged == [] and p.dups_split == []


def unit(*weights: float, dim: int = 8) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    v[: len(weights)] = weights
    return v / np.linalg.norm(v)


FLOOD = "Floods hit the valley after three days of rain; the river rose and villages were evacuated."


def test_assign_incremental_places_fresh_items_among_the_stored():
    texts = {
        "a1": FLOOD,
        "a2": "The river kept rising in the valley on Tuesday as rescue teams moved residents to schools.",
        "b1": "The chess final ended in a draw after six hours of play in the tournament hall.",
        "a3": FLOOD,  # new tonight: a copy of a1
        "c1": "Shares of the carmaker fell after it cut its forecast for the year.",  # new, alone
    }
    vectors = {
        "a1": unit(1, 0.05),
        "a2": unit(0.95, 0.2),
        "b1": unit(0, 0, 0, 1),
        "a3": unit(1, 0.05),
        "c1": unit(0, 0, 0, 0, 0, 1),
    }
    rows = {
        "a1": row("a1", story="S000001"),
        "a2": row("a2", story="S000001"),
        "b1": row("b1"),
        "k1": row("k1", story="S000001", dup="D000004"),
    }
    stored = Stored(rows, next_story=2, next_dup=5)
    items = [item(i, texts[i]) for i in texts]
    features = [TextFeatures.of(embedding_text(it), it.lang) for it in items]
    for it in items:
        it.text = ""  # the Placer works from the features, not the texts
    centred = np.stack([vectors[it.id] for it in items])
    fresh = [it.id in ("a3", "c1") for it in items]
    p = assign_incremental(
        stored,
        items,
        features,
        centred,
        fresh,
        kept=[rows["k1"]],
        duplicates=DuplicateParams(),
        stories=StoryParams(),
        candidates=30,
    )
    assert p.story == {"a1": "S000001", "a2": "S000001", "a3": "S000001", "k1": "S000001"}
    assert p.dup == {"a1": "D000005", "a3": "D000005", "k1": "D000004"}
    assert (p.next_story, p.next_dup) == (2, 6)
    assert p.stories_merged == [] and p.dups_merged == [] and p.stories_split == []


# -- the language means ----------------------------------------------------------------
def test_batch_means_are_those_the_analysis_centred_with():
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(6, 8)).astype(np.float32)
    langs = ["en", "fr", "en", None, "en", "fr"]
    used = language_means(vectors, langs, shrink=5.0)
    means = batch_means(langs, vectors, used)
    assert list(means) == [lang_key("en"), lang_key("fr"), lang_key(None), OVERALL]
    assert [means[lang_key(lang)][0] for lang in ("en", "fr", None)] == [3, 2, 1]
    for lang, vec in used.items():
        np.testing.assert_array_equal(means[lang_key(lang)][1], vec.astype(np.float32))
    assert means[OVERALL][0] == 6
    np.testing.assert_array_equal(means[OVERALL][1], vectors.mean(axis=0))
    assert batch_means([], np.zeros((0, 0), np.float32), {}) == {}


def test_update_means_refreshes_new_and_doubled_languages_only():
    rng = np.random.default_rng(4)
    vectors = rng.normal(size=(12, 8)).astype(np.float32)
    langs = ["en"] * 7 + ["de"] * 4 + ["fr"]
    stored_en, stored_de, overall = (rng.normal(size=8).astype(np.float32) for _ in range(3))
    stored = {lang_key("en"): (4, stored_en), lang_key("de"): (2, stored_de), OVERALL: (6, overall)}
    means = update_means(stored, langs, vectors, shrink=5.0, prior=None)
    np.testing.assert_array_equal(means[lang_key("en")][1], stored_en)  # 7 < 2 x 4: kept
    assert means[lang_key("en")][0] == 4
    np.testing.assert_array_equal(means[OVERALL][1], overall)  # the corpus mean stays
    prior = Prior(overall=overall)  # no reference prior: the stored corpus mean stands in
    de = language_means(vectors[7:11], ["de"] * 4, shrink=5.0, prior=prior)["de"]
    fr = language_means(vectors[11:], ["fr"], shrink=5.0, prior=prior)["fr"]
    assert means[lang_key("de")][0] == 4 and means[lang_key("fr")][0] == 1
    np.testing.assert_array_equal(means[lang_key("de")][1], de.astype(np.float32))
    np.testing.assert_array_equal(means[lang_key("fr")][1], fr.astype(np.float32))
    # a first night without a corpus mean stored takes tonight's
    fresh = update_means({}, langs, vectors, shrink=5.0, prior=None)
    np.testing.assert_array_equal(fresh[OVERALL][1], vectors.mean(axis=0))
    assert update_means(stored, [], np.zeros((0, 0), np.float32), shrink=5.0, prior=None) == stored


@pytest.mark.parametrize("use_prior", [True, False])
def test_analysis_carries_the_language_means_it_centred_with(use_prior):
    c = Clusterer(encoder=FakeEncoder(), cache_dir=None, use_prior=use_prior)
    records = [
        Record("r1", FLOOD, lang="en"),
        Record("r2", "Les crues ont inondé la vallée après trois jours de pluie.", lang="fr"),
        Record("r3", "The river rose again; villages in the valley were evacuated.", lang="en"),
        Record("r4", "Hochwasser im Tal nach drei Tagen Regen.", lang="de"),
    ]
    items = c.split(records)
    vectors = c.embed(items)
    analysis = c.analyse(items, vectors=vectors)
    langs = [it.lang for it in items]
    expected = language_means(vectors, langs, shrink=c.language_shrink, prior=c.prior())
    assert set(analysis.language_means) == set(expected) == {"en", "fr", "de"}
    for lang, vec in expected.items():
        np.testing.assert_array_equal(analysis.language_means[lang], vec)
    np.testing.assert_array_equal(analysis.centred, center_by_language(vectors, langs, means=analysis.language_means))
    np.testing.assert_array_equal(analysis.centred, c.centre(vectors, langs))


# -- the report builder -----------------------------------------------------------------
def test_build_outcome_writes_rows_and_fills_the_report():
    rows = {
        "a": row("a", "ha", story="S000001", dup="D000001"),
        "b": row("b", "hb", story="S000001", dup="D000001"),
        "c": row("c", "hc", story="S000002"),  # deleted tonight: its story dissolves
        "e": row("e", "he"),  # noise until tonight
        "k": row("k", "hk", story="S000001"),  # kept unread
        "z": row("z", "hz", deleted=True),  # deleted earlier, back tonight
    }
    stories = {
        "S000001": GroupRow("S000001", 1, extra="Title a"),
        "S000002": GroupRow("S000002", 1, extra="Title c"),
        "S000004": GroupRow("S000004", 1, extra="Title q"),  # merged into S000001 tonight
    }
    dups = {"D000001": GroupRow("D000001", 1, extra="a")}
    stored = Stored(rows, stories, dups, next_story=5, next_dup=2)
    items = [item("a"), item("b"), item("e"), item("f", date="2023-12-31"), item("z")]
    for it in items:
        it.meta["snippet"] = f"Text of {it.id}"
    hashes = {"a": "ha", "b": "hb2", "e": "he", "f": "hf", "z": "hz"}
    vectors = np.arange(20, dtype=np.float32).reshape(5, 4)
    tonight = Tonight(items, hashes, vectors, features=[], embedded=3)
    d = diff(hashes, rows, [Skipped("k.txt", "cannot read")], {})
    assert (d.new, d.changed, d.deleted, d.kept) == (["f", "z"], ["b"], ["c"], ["k"])
    placement = Placement(
        story={"a": "S000001", "b": "S000001", "e": "S000001", "f": "S000005", "z": "S000005", "k": "S000001"},
        dup={"a": "D000001", "b": "D000001", "f": "D000002", "z": "D000002"},
        next_story=6,
        next_dup=3,
        stories_merged=[Merge("S000001", ["S000004"])],
    )
    means = {OVERALL: (5, np.ones(4, np.float32))}
    report = ChangeReport(run=3, kind="update", state="s", corpus="c", model="m", started="t0")
    changes = build_outcome(report, stored, tonight, d, placement, means)

    written = {r.id: r for r in changes.items}
    assert [r.id for r in changes.items] == ["a", "b", "e", "f", "z", "k", "c"]
    assert (written["a"].first_seen, written["a"].last_seen, written["a"].hash) == (1, 3, "ha")
    assert (written["b"].hash, written["f"].first_seen, written["z"].first_seen) == ("hb2", 3, 1)
    assert written["z"].story == "S000005" and not written["z"].deleted
    assert (written["k"].story, written["k"].last_seen) == ("S000001", 1)  # kept as it was
    assert written["c"].deleted and written["c"].story is None
    assert list(changes.vectors) == ["b", "f", "z"]  # new vectors only
    np.testing.assert_array_equal(changes.vectors["f"], vectors[3])
    assert (changes.means, changes.next_story, changes.next_dup) == (means, 6, 3)
    assert (changes.run.id, changes.run.kind, changes.run.started) == (3, "update", "t0")

    fates = {g.id: (g.status, g.merged_into, g.extra) for g in changes.stories}
    assert fates == {
        "S000001": ("live", None, "Title a"),
        "S000005": ("live", None, "Title f"),  # f is the earliest
        "S000002": ("dissolved", None, "Title c"),
        "S000004": ("merged", "S000001", "Title q"),
    }
    assert {g.id: (g.status, g.extra) for g in changes.dup_groups} == {
        "D000001": ("live", "a"),
        "D000002": ("live", "f"),
    }
    assert [(g.id, g.members, g.title) for g in report.stories_created] == [("S000005", ["f", "z"], "Title f")]
    assert [(g.id, g.members, g.canonical) for g in report.duplicate_groups_created] == [("D000002", ["f", "z"], "f")]
    assert report.stories_dissolved == ["S000002"] and report.stories_merged == placement.stories_merged
    assert report.new_duplicates == [NewDuplicate("b", "D000001", "a"), NewDuplicate("z", "D000002", "f")]
    assert report.new_items == [
        ItemChange("f", ARTICLE, "en", "S000005", "D000002"),
        ItemChange("z", ARTICLE, "en", "S000005", "D000002"),
    ]
    assert report.changed_items == [ItemChange("b", ARTICLE, "en", "S000001", "D000001", "S000001", "D000001")]
    assert report.deleted_items == [ItemChange("c", ARTICLE, "en", previous_story="S000002")]
    assert report.noise_placed == [ItemChange("e", ARTICLE, "en", "S000001", None)]
    assert report.kept_unread == ["k"]
    assert list(report.counts.items()) == [
        ("stories", 2),
        ("events", 0),  # this placement gives none
        ("duplicate_groups", 2),
        ("items", 5),
        ("new", 2),
        ("changed", 1),
        ("deleted", 1),
        ("unchanged", 2),
        ("embedded", 3),
        ("skipped", 0),
        ("kept_unread", 1),
    ]
    seal(report, changes, "t1")
    assert report.finished == changes.run.finished == "t1"
    assert changes.run.counts == report.counts and changes.run.report == report.to_dict()


# -- reading the corpus in batches -------------------------------------------------------
WORDS = {  # id: (title, text)
    "r": ("Valley floods", FLOOD),  # a republication of a's page under a new id
    "b": ("Strike", "Workers at the factory went on strike over wages on Monday."),
    "c": ("Summit", "Leaders signed an agreement on carbon emissions at the climate summit."),
    "d": ("Chess", "The chess champion won the final game of the tournament."),
    "a": ("Valley floods", FLOOD),
    "a2": ("Valley floods", FLOOD),  # the same page again, unchanged
}
RECORDS = [{"id": i, "text": text, "lang": "en", "title": title} for i, (title, text) in WORDS.items()]


def stored_for(c: Clusterer) -> tuple[dict, dict]:
    """Rows as a state holds them: a and a2 unchanged, b changed, d deleted before,
    c and r not stored; and a distinct stored vector per row."""
    model = c._embedder().encoder.name
    h = {it.id: text_key(model, embedding_text(it)) for it in c.split([Record(**r) for r in RECORDS])}
    rows = {
        "a": row("a", h["a"]),
        "a2": row("a2", h["a2"]),
        "b": row("b", "an older text"),
        "d": row("d", h["d"], deleted=True),
    }
    vecs = {i: np.full(8, k + 1, dtype=np.float32) for k, i in enumerate(rows)}
    return rows, vecs


@pytest.mark.parametrize("reuse", [True, False])
def test_read_tonight_embeds_only_what_needs_it_and_keeps_no_text(reuse):
    encoder = FakeEncoder(dim=8)
    c = Clusterer(encoder=encoder, cache_dir=None, use_prior=False, read_batch=2)
    rows, vecs = stored_for(c)
    asked: list[list[str]] = []

    def stored_vectors(ids):
        asked.append(list(ids))
        return np.stack([vecs[i] for i in ids])

    tonight = read_tonight(c, RECORDS, rows, stored_vectors, reuse_stored=reuse)
    ids = [it.id for it in tonight.items]
    assert ids == list(WORDS) and list(tonight.hashes) == ids
    assert asked == [["a", "a2"]]  # the third batch's unchanged items, read from the state
    np.testing.assert_array_equal(tonight.vector("a"), vecs["a"])
    np.testing.assert_array_equal(tonight.vector("a2"), vecs["a2"])
    embedded = {t.split("\n", 1)[0] for t in encoder.texts}
    if reuse:  # r waits for the end of the corpus, then takes the last holder's stored vector
        np.testing.assert_array_equal(tonight.vector("r"), vecs["a2"])
        assert embedded == {"Strike", "Summit", "Chess"} and tonight.embedded == 3
    else:
        assert embedded == {"Valley floods", "Strike", "Summit", "Chess"} and tonight.embedded == 4
    assert tonight.vectors.shape == (6, 8) and tonight.vectors.dtype == np.float32
    for it, feat in zip(tonight.items, tonight.features):
        title, text = WORDS[it.id]
        assert it.text == "" and it.meta["snippet"] == snippet(text, SNIPPET_CHARS)
        full = f"{title}\n{text}"
        want = TextFeatures.of(full, "en")
        assert (feat.grams, feat.chars, feat.sentences, feat.figures) == (
            want.grams,
            want.chars,
            want.sentences,
            want.figures,
        )
        np.testing.assert_array_equal(feat.sketch, want.sketch)
    assert tonight.skipped == [] and tonight.langs == ["en"] * 6
