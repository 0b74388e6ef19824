"""The nightly state database: round trip, one transaction per run, lock, model check."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from state_checks import integrity  # noqa: E402

from clusterer.errors import StateError  # noqa: E402
from clusterer.nightly.state import Changes, GroupRow, RunRecord, State, StateLock, StoredItem, lang_key  # noqa: E402


def item(i: str, story=None, dup=None, run=1) -> StoredItem:
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
    )


def changes(run: int = 1) -> Changes:
    vec = np.ones(4, dtype=np.float32) / 2
    return Changes(
        run=RunRecord(run, "batch", "t0", "t1", counts={"new": 2}),
        items=[item("a", "S000001", "D000001"), item("b", "S000001", "D000001")],
        vectors={"a": vec, "b": -vec},
        stories=[GroupRow("S000001", run, extra="title")],
        dup_groups=[GroupRow("D000001", run, extra="a")],
        means={lang_key("en"): (2, vec)},
        next_story=2,
        next_dup=2,
    )


def test_round_trip(tmp_path):
    path = tmp_path / "s.sqlite"
    with State(path) as st:
        assert st.is_empty() and st.model is None and st.next_run_id() == 1
        st.commit("m", changes())
    with State(path) as st:
        assert st.model == "m" and st.counters() == (2, 2) and st.next_run_id() == 2
        rows = st.items()
        assert rows["a"].story == "S000001" and rows["b"].dup == "D000001" and not rows["a"].deleted
        np.testing.assert_array_equal(st.vectors(["b", "a"])[0], -np.ones(4) / 2)
        assert st.means()[lang_key("en")][0] == 2
        assert st.stories()["S000001"].extra == "title"
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
