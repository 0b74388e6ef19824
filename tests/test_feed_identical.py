"""The feed's own placement (on what it keeps, touching only what a post changes)
gives what `cluster update` gives for the same items in the same order.

The corpora of test_serve.py are small: nearly every post there adds or doubles a
language, so the feed falls back to the night's placement over every item. Here a
seeded generator writes a first night of a few hundred items in three languages,
and the posts that follow (one by one, in batches, a few of them edits of stored
items) neither add a language nor double one: the feed places them on what it
keeps, and the test checks that it did (``Feed.placed``). It checks too that the
story listing the feed keeps up to date post by post is the one made afresh from
the state. Fake encoder only."""

from __future__ import annotations

import random
import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fakes import LEXICON, bilingual  # noqa: E402
from state_checks import integrity, update_nights  # noqa: E402

from clusterer.align import unpack  # noqa: E402
from clusterer.errors import StateError  # noqa: E402
from clusterer.nightly.feed import Feed  # noqa: E402
from clusterer.nightly.state import State  # noqa: E402
from clusterer.pipeline import Clusterer, to_record  # noqa: E402

# the English words the fake encoder maps French ones onto, and one French word for each
FRENCH = {en: fr for fr, en in sorted(LEXICON.items())}
TOPIC = sorted(FRENCH)
FILLER = {
    lang: words.split()
    for lang, words in {
        "en": "report morning statement officials reporters crowd region weekend evening government",
        "fr": "rapport matin declaration responsables journalistes foule semaine soir gouvernement",
        "de": "bericht morgen erklarung beamte reporter menge region wochenende abend regierung",
    }.items()
}
LANGS = ["en", "en", "en", "fr", "fr", "de"]  # a first night of 240: 120, 80, 40


def _name(rng: random.Random) -> str:
    return "".join(rng.choice(s) for s in ("BKMTVRL", "aeiou", "lnrst", "aeiou", "vdkm")).capitalize()


class News:
    """Seeded news records: stories (names and topic words of their own, a base
    date, a later turn some of their articles are dated at), articles on them in
    English, French and German (the French with the words the fake encoder
    translates), near copies of earlier articles (one sentence differs), French
    translations of English ones, articles on two stories at once, articles on no
    story, and edits of earlier records (the same id, a sentence added). Stories
    past the first ``stories`` appear in the posts only (``late``)."""

    def __init__(self, seed: int, stories: int = 40, late: int = 6):
        self.rng = random.Random(seed)
        rng = self.rng
        self.stories = [
            ([_name(rng) for _ in range(3)], rng.sample(TOPIC, 4), rng.randint(1, 12)) for _ in range(stories + late)
        ]
        self.open = stories
        self.made: list[dict] = []

    def sentence(self, story: int, lang: str) -> str:
        rng = self.rng
        names, topic, _ = self.stories[story]
        words = rng.sample(names, 2) + [w if lang != "fr" else FRENCH[w] for w in rng.sample(topic, 2)]
        words += rng.sample(FILLER[lang], 3) + [str(rng.randint(2, 900))]
        rng.shuffle(words)
        return " ".join(words).capitalize() + "."

    def article(self, k: int, lang: str, stories: list[int]) -> dict:
        rng = self.rng
        day = self.stories[stories[0]][2] + (rng.randint(0, 3) if rng.random() < 0.8 else rng.randint(9, 16))
        sentences = [self.sentence(stories[j % len(stories)], lang) for j in range(rng.randint(3, 6))]
        return {
            "id": f"a{k}",
            "lang": lang,
            "date": f"2026-03-{day:02d}",
            "title": self.sentence(stories[0], lang)[:-1],
            "text": " ".join(sentences),
        }

    def stray(self, k: int, lang: str) -> dict:
        rng = self.rng
        words = [_name(rng) for _ in range(4)] + rng.sample(FILLER[lang], 5)
        return {"id": f"a{k}", "lang": lang, "date": f"2026-03-{rng.randint(1, 28):02d}", "text": " ".join(words)}

    def copy(self, k: int, of: dict) -> dict:
        sentences = of["text"].split(". ")
        sentences[self.rng.randrange(len(sentences))] = "Updated at noon with comments"
        return {**of, "id": f"a{k}", "text": ". ".join(sentences)}

    def translation(self, k: int, of: dict) -> dict:
        words = dict(zip(FILLER["en"], FILLER["fr"])) | FRENCH

        def fr(text: str) -> str:
            return " ".join(
                words.get(w.lower().rstrip("."), w.rstrip(".")) + "." * w.endswith(".") for w in text.split()
            )

        return {**of, "id": f"a{k}", "lang": "fr", "title": fr(of.get("title", "")), "text": fr(of["text"])}

    def records(self, n: int) -> list[dict]:
        """``n`` records, and after the first night stories that were not in it."""
        rng, out = self.rng, []
        for _ in range(n):
            k = len(self.made)
            lang = LANGS[k % len(LANGS)]
            shown = len(self.stories) if self.made and len(self.made) >= 240 else self.open
            roll = rng.random()
            english = [r for r in self.made[-60:] if r["lang"] == "en"]
            if self.made and roll < 0.08:
                record = self.copy(k, rng.choice(self.made))
            elif english and roll < 0.14:
                record = self.translation(k, rng.choice(english))
            elif roll < 0.19:
                record = self.stray(k, lang)
            elif roll < 0.23:
                record = self.article(k, lang, rng.sample(range(shown), 2))
            else:
                late = shown > self.open and rng.random() < 0.4
                record = self.article(k, lang, [rng.randrange(self.open, shown) if late else rng.randrange(shown)])
            self.made.append(record)
            out.append(record)
        return out

    def edit(self, rewrite: bool = False) -> dict:
        """An earlier record again (a changed item): with a sentence added, or
        (``rewrite``) rewritten as an article on another story."""
        of = self.rng.choice(self.made)
        if rewrite:
            again = self.article(0, of["lang"], [self.rng.randrange(self.open)])
            return {**again, "id": of["id"]}
        return {**of, "text": of["text"] + " Further details were given later."}


def posts(seed: int) -> tuple[list[dict], list[list[dict]]]:
    """A first night of 240 records, then 36 posts of one record and 4 of six, in
    which three records are edits of stored ones (one of them moves to another story)."""
    news = News(seed)
    first = news.records(240)
    later: list[list[dict]] = []
    for k in range(40):
        batch = news.records(1 if k < 36 else 6)
        if k in (10, 25, 38):
            batch = [news.edit(rewrite=k == 25)] if k < 36 else [*batch[:-1], news.edit()]
        later.append(batch)
    return first, later


def where(path: Path) -> dict:
    """Every live item's story, event and duplicate group, each group's canonical
    item, and each story's title."""
    with State(path) as st:
        items = {i: (r.story, r.event, r.dup) for i, r in st.items().items() if not r.deleted}
        dups = {g.id: g.extra for g in st.dup_groups().values() if g.status == "live"}
        stories = {g.id: g.extra for g in st.stories().values() if g.status == "live"}
    return {"items": items, "canonical": dups, "titles": stories}


@pytest.mark.parametrize("seed", [3, 11])
def test_posts_placed_on_what_the_feed_keeps_are_what_cluster_update_gives(tmp_path, seed):
    first, later = posts(seed)
    update_nights(tmp_path / "update.sqlite", tmp_path, [first, *later])

    feed = Feed(tmp_path / "serve.sqlite", Clusterer(encoder=bilingual(), cache_dir=None))
    feed.open()
    for records in [first, *later]:
        assert feed.add(records).run is not None
        listed = feed.stories(limit=5)  # the listing kept from the first post on

    assert feed.placed["full"] == 1  # the first post only
    assert feed.placed["kept"] == len(later)
    got, want = where(tmp_path / "serve.sqlite"), where(tmp_path / "update.sqlite")
    # the corpus is not trivial: stories across languages, duplicate groups, edits
    assert len(want["items"]) == 240 + sum(map(len, later)) - 3
    assert len(want["canonical"]) >= 5 and len(want["titles"]) >= 20
    for key in ("items", "canonical", "titles"):
        assert got[key] == want[key], key
    assert integrity(tmp_path / "serve.sqlite") == "ok"

    # the listing kept up to date post by post is the one made afresh from the state
    fresh = Feed(tmp_path / "serve.sqlite", Clusterer(encoder=bilingual(), cache_dir=None))
    fresh.open()
    assert listed == fresh.stories(limit=5)
    for since in (None, "2026-03-10", "2026-03-20"):
        assert feed.stories(since, limit=1000) == fresh.stories(since, limit=1000)


@pytest.mark.parametrize("size", [1, 2])
def test_a_post_of_one_text_embeds_its_sentences_in_the_texts_call(tmp_path, size):
    """A one-text post's sentences go to the encoder with its text (the engine runs
    them beside it) and are not embedded again when the post's translation is
    aligned with its English original; a post of two texts embeds its texts alone."""
    first, _ = posts(3)
    starts: list[int] = []
    encoder = bilingual(before_batch=lambda _: starts.append(len(encoder.texts)))
    clusterer = Clusterer(encoder=encoder, cache_dir=None)
    feed = Feed(tmp_path / "serve.sqlite", clusterer)
    feed.open()
    feed.add(first)
    originals = [r for r in first if r["lang"] == "en" and r.get("title") and len(r["text"].split(". ")) >= 4][:size]
    post = [News(0).translation(1000 + k, of) for k, of in enumerate(originals)]
    _, texts, features = clusterer.prepare([to_record(r) for r in post])
    sentences = {s for f in features for s in unpack(f.sentences)}

    before = len(starts)
    infos = feed.add(post).items
    calls = [encoder.texts[a:b] for a, b in zip(starts[before:], [*starts[before + 1 :], len(encoder.texts)])]
    for info, of in zip(infos, originals):
        assert info.duplicate_group is not None and of["id"] in info.duplicate_group.members  # aligned
    if size == 1:
        assert set(calls[0]) == {*texts, *sentences}
        assert not sentences & {t for call in calls[1:] for t in call}
    else:
        assert sorted(calls[0]) == sorted(texts)


def test_a_post_that_fails_leaves_lookups_as_committed_and_the_next_posts_place_as_update(tmp_path, monkeypatch):
    """A post grows the feed's lists in place before it commits: one whose commit fails
    (a disk error) is not seen by lookups meanwhile, and the posts after it are placed
    as `cluster update` places the same items without it."""
    first, later = posts(11)
    failed = later[3]
    feed = Feed(tmp_path / "serve.sqlite", Clusterer(encoder=bilingual(), cache_dir=None))
    feed.open()
    for records in [first, *later[:3]]:
        feed.add(records)
    committed = len(feed.result().items)

    def broken(self, model, changes):
        raise sqlite3.OperationalError("disk I/O error")

    with monkeypatch.context() as patch:
        patch.setattr(State, "commit", broken)
        with pytest.raises(StateError, match="disk I/O error"):
            feed.add(failed)
        assert [feed.item(r["id"]) for r in failed] == [None] * len(failed)
        assert len(feed.result().items) == committed
    for records in later[4:]:
        feed.add(records)

    update_nights(tmp_path / "update.sqlite", tmp_path, [first, *later[:3], *later[4:]])
    assert where(tmp_path / "serve.sqlite") == where(tmp_path / "update.sqlite")
    assert feed.placed["kept"] >= len(later) - 3  # the kept path, before and after the failure
