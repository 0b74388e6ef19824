"""The nightly state database: round trip, one transaction per run, lock, model check."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from state_checks import integrity  # noqa: E402

from clusterer.errors import StateError  # noqa: E402
from clusterer.nightly.state import (  # noqa: E402
    SCHEMA_VERSION,
    Changes,
    GroupRow,
    RunRecord,
    State,
    StateLock,
    StoredItem,
    lang_key,
)


def item(i: str, story=None, dup=None, run=1, event=None) -> StoredItem:
    return StoredItem(
        id=i,
        doc=i,
        kind="article",
        lang="en",
        title=None,
        date="2024-01-01",
        url=None,
        hash="h" + i,
        first_seen=run,
        last_seen=run,
        story=story,
        dup=dup,
        event=event,
    )


def changes(run: int = 1) -> Changes:
    vec = np.ones(4, dtype=np.float32) / 2
    return Changes(
        run=RunRecord(run, "batch", "t0", "t1", counts={"new": 2}),
        items=[item("a", "S000001", "D000001", event="E000002"), item("b", "S000001", "D000001", event="E000002")],
        vectors={"a": vec, "b": -vec},
        stories=[GroupRow("S000001", run, extra="title")],
        dup_groups=[GroupRow("D000001", run, extra="a")],
        means={lang_key("en"): (2, vec)},
        next_story=2,
        next_dup=2,
        events=[GroupRow("E000002", run, extra="S000001")],
        next_event=3,
    )


def test_round_trip(tmp_path):
    path = tmp_path / "s.sqlite"
    with State(path) as st:
        assert st.is_empty() and st.model is None and st.next_run_id() == 1
        st.commit("m", changes())
    with State(path) as st:
        assert st.model == "m" and st.counters() == (2, 2, 3) and st.next_run_id() == 2
        rows = st.items()
        assert rows["a"].story == "S000001" and rows["b"].dup == "D000001" and not rows["a"].deleted
        np.testing.assert_array_equal(st.vectors(["b", "a"])[0], -np.ones(4) / 2)
        assert st.means()[lang_key("en")][0] == 2
        assert st.stories()["S000001"].extra == "title"
        assert rows["a"].event == "E000002" and st.events()["E000002"].extra == "S000001"
        assert st.runs()[0].counts == {"new": 2}
    assert integrity(path) == "ok"


def test_commit_is_all_or_nothing(tmp_path):
    path = tmp_path / "s.sqlite"
    bad = changes()
    bad.vectors["a"] = object()  # fails half-way through the transaction
    with State(path) as st:
        with pytest.raises(TypeError):
            st.commit("m", bad)
        assert st.is_empty() and st.runs() == [] and st.model is None
        st.commit("m", changes())
        assert len(st.items()) == 2


def test_other_model_refused(tmp_path):
    with State(tmp_path / "s.sqlite") as st:
        st.commit("model-a", changes())
        st.check_model("model-a")
        with pytest.raises(StateError, match="model-a"):
            st.check_model("model-b")


def test_lock_is_exclusive_and_released(tmp_path):
    path = tmp_path / "s.sqlite"
    with StateLock(path), pytest.raises(StateError, match="another update is running"):
        StateLock(path).acquire()
    with StateLock(path):  # released on exit
        pass


def test_not_a_database(tmp_path):
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="not a usable state"):
        State(path)


def test_a_schema_2_state_is_upgraded_in_place(tmp_path):
    """A state written before events opens: its items get an empty event (until a
    rebuild gives them one), the events table is there, the schema is the current one."""
    import sqlite3

    path = tmp_path / "s.sqlite"
    with State(path) as st:
        st.commit("m", changes())
    db = sqlite3.connect(path)  # make it what schema 2 wrote
    db.execute("DROP TABLE events")
    db.execute("ALTER TABLE items DROP COLUMN event")
    db.execute("UPDATE meta SET v = '2' WHERE k = 'schema'")
    db.execute("DELETE FROM meta WHERE k = 'next_event'")
    db.commit()
    db.close()
    with State(path) as st:
        rows = st.items()
        assert rows["a"].story == "S000001" and rows["a"].event is None
        assert st.events() == {} and st.counters() == (2, 2, 1)
        st.commit("m", changes(run=2))
    with State(path) as st:
        assert st.items()["a"].event == "E000002" and st._meta("schema") == str(SCHEMA_VERSION)
    assert integrity(path) == "ok"


def test_features_round_trip_and_a_schema_3_state_is_upgraded(tmp_path):
    """Duplicate features and openings are stored with an item and read back as they
    were; a state from before them opens, with no features until a night stores them."""
    import sqlite3

    from clusterer.duplicates import TextFeatures

    text = "Flood waters rose 3 metres in Valdoria on Tuesday. Ministers met in Paris. Some 400 homes were lost."
    feats = TextFeatures.of(text, "en")
    path = tmp_path / "s.sqlite"
    ch = changes()
    ch.features = {"a": (feats, "Flood waters rose")}
    with State(path) as st:
        st.commit("m", ch)
    with State(path) as st:
        got, snippet = st.features(["a", "b"])["a"]
        assert st.feature_ids() == {"a"} and snippet == "Flood waters rose" and st.last_run() == 1
        np.testing.assert_array_equal(got.sketch, feats.sketch)
        assert (got.grams, got.chars, got.sentences, got.figures, got.names) == (
            feats.grams,
            feats.chars,
            feats.sentences,
            feats.figures,
            feats.names,
        )
    db = sqlite3.connect(path)  # make it what schema 3 wrote
    db.execute("DROP TABLE features")
    db.execute("UPDATE meta SET v = '3' WHERE k = 'schema'")
    db.commit()
    db.close()
    with State(path) as st:
        assert st.features() == {} and st._meta("schema") == str(SCHEMA_VERSION)
    assert integrity(path) == "ok"
