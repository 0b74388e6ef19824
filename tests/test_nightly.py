"""The nightly job: three simulated nights, stable ids, only new items embedded,
the change report, deletion, rebuild, the lock, and SIGKILL at several points."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fakes import FakeEncoder, bilingual  # noqa: E402
from state_checks import fingerprint, integrity  # noqa: E402

from clusterer.cli import main as cli_main  # noqa: E402
from clusterer.debias import Prior, center_by_language, language_means  # noqa: E402
from clusterer.errors import StateError  # noqa: E402
from clusterer.nightly.job import Nightly  # noqa: E402
from clusterer.nightly.state import OVERALL, State, lang_key  # noqa: E402
from clusterer.pipeline import Clusterer  # noqa: E402
from clusterer.records import embedding_text  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "nightly"
DRIVER = Path(__file__).resolve().parent / "nightly_driver.py"
REPO = Path(__file__).resolve().parents[1]


def corpus_for(night: int, root: Path) -> Path:
    """The corpus as it stands on ``night``: files accumulate; on night 3 one page is
    deleted and one is edited."""
    corpus = root / f"corpus{night}"
    for n in range(1, night + 1):
        shutil.copytree(DATA / f"night{n}", corpus, dirs_exist_ok=True)
    if night >= 3:
        (corpus / "pages" / "strike-3.txt").unlink()
    return corpus


def corpus_texts(texts, corpus: Path) -> list:
    """The texts among ``texts`` that are items of ``corpus`` (not, e.g., a reference set
    the pipeline embeds for its own use)."""
    c = Clusterer(encoder=bilingual(), cache_dir=None)
    wanted = {embedding_text(it) for it in c.split(c.read(corpus)[0])}
    return [t for t in texts if t in wanted]


def nightly(tmp: Path, encoder: FakeEncoder) -> Nightly:
    return Nightly(tmp / "state.sqlite", Clusterer(encoder=encoder, cache_dir=tmp / "cache"))


def assignments(path: Path) -> dict:
    with State(path) as st:
        return {i: (r.story, r.dup) for i, r in st.items().items() if not r.deleted}


@pytest.fixture(scope="module")
def three_nights(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nights")
    encoder = bilingual()
    reports, embedded, states = [], [], []
    for night in (1, 2, 3):
        before = len(encoder.texts)
        corpus = corpus_for(night, tmp)
        reports.append(nightly(tmp, encoder).update(corpus))
        embedded.append(corpus_texts(encoder.texts[before:], corpus))
        states.append(assignments(tmp / "state.sqlite"))
    return tmp, reports, embedded, states


def test_first_night_is_a_batch_run(three_nights):
    _, reports, embedded, states = three_nights
    first = reports[0]
    assert first.kind == "batch" and first.run == 1
    assert len(embedded[0]) == first.counts["items"] == 6
    assert states[0]["strike-en-1"][0] == states[0]["pages/strike-3.txt"][0] == "S000001"
    assert states[0]["flood-en-1"][0] == states[0]["pages/flood-2.txt"][0] == "S000002"
    assert states[0]["chess-en-1"] == (None, None)
    assert [s.id for s in first.stories_created] == ["S000001", "S000002"]


def test_only_new_items_are_embedded(three_nights):
    _, reports, embedded, _ = three_nights
    assert reports[1].counts["embedded"] == len(embedded[1]) == 7  # 5 articles + 2 teasers
    assert reports[2].counts["embedded"] == len(embedded[2]) == 3  # 2 new + 1 edited page
    assert not any("Kestrel" in t for t in embedded[1] + embedded[2])


def test_ids_are_stable_across_nights(three_nights):
    _, _, _, states = three_nights
    for before, after in zip(states, states[1:]):
        for item, ids in before.items():
            if item in after and item != "pages/flood-2.txt":
                for old, new in zip(ids, after[item]):  # an id once given stays
                    assert old is None or new == old, item


def test_second_night_report(three_nights):
    _, reports, _, states = three_nights
    night = reports[1]
    assert night.kind == "update"
    assert {c.id for c in night.new_items} == {
        "flood-fr-1",
        "flood-en-3",
        "summit-en-1",
        "summit-fr-1",
        "pages/museum.txt",
        "pages/museum.txt#teaser-1",
        "pages/museum.txt#teaser-2",
    }
    # the translation joins the original's story and founds a duplicate group with it
    assert states[1]["flood-fr-1"] == ("S000002", "D000001")
    assert states[1]["flood-en-1"] == ("S000002", "D000001")
    assert [(d.id, d.group, d.canonical) for d in night.new_duplicates] == [("flood-fr-1", "D000001", "flood-en-1")]
    assert [(g.id, g.canonical) for g in night.duplicate_groups_created] == [("D000001", "flood-en-1")]
    # two new articles about a new event found a story; teasers never do
    assert [(s.id, s.members) for s in night.stories_created] == [("S000003", ["summit-en-1", "summit-fr-1"])]
    assert states[1]["pages/museum.txt#teaser-2"] == (None, None)
    assert not night.deleted_items and not night.changed_items


def test_third_night_report(three_nights):
    _, reports, _, states = three_nights
    night = reports[2]
    assert [(c.id, c.previous_story) for c in night.deleted_items] == [("pages/strike-3.txt", "S000001")]
    assert "pages/strike-3.txt" not in states[2]
    assert states[2]["strike-en-1"][0] == "S000001"  # two articles left: the story stays
    assert [c.id for c in night.changed_items] == ["pages/flood-2.txt"]
    assert states[2]["pages/flood-2.txt"][0] == "S000002"
    # a republication joins the existing group; the canonical stays the earliest
    assert states[2]["flood-en-1-wire"] == ("S000002", "D000001")
    assert [(d.id, d.canonical) for d in night.new_duplicates] == [("flood-en-1-wire", "flood-en-1")]
    # a new article and a stored unassigned one found a story together
    assert [(s.id, s.members) for s in night.stories_created] == [("S000004", ["chess-en-1", "chess-fr-1"])]


def test_state_keeps_history(three_nights):
    tmp, _, _, _ = three_nights
    with State(tmp / "state.sqlite") as st:
        rows = st.items()
        runs = st.runs()
        assert st.counters() == (5, 2, 5)
    assert integrity(tmp / "state.sqlite") == "ok"
    assert rows["pages/strike-3.txt"].deleted and rows["pages/strike-3.txt"].last_seen == 2
    assert rows["flood-en-1"].first_seen == 1 and rows["flood-en-1"].last_seen == 3
    assert rows["flood-fr-1"].first_seen == 2
    assert [(r.id, r.kind, r.status) for r in runs] == [(1, "batch", "ok"), (2, "update", "ok"), (3, "update", "ok")]
    assert runs[2].report["deleted_items"][0]["id"] == "pages/strike-3.txt"


def test_events_have_stable_ids_inside_their_stories(three_nights):
    """Every article in a story has an event (E000001, ...), each event lies in one
    story, a republication joins its group's event, ids are never reused."""
    tmp, reports, _, _ = three_nights
    with State(tmp / "state.sqlite") as st:
        rows = {i: r for i, r in st.items().items() if not r.deleted}
        events = st.events()
        next_event = st.counters()[2]
    for r in rows.values():
        assert (r.event is not None) == (r.story is not None and r.kind == "article"), r.id
    story_of_event: dict = {}
    for r in rows.values():
        if r.event:
            assert story_of_event.setdefault(r.event, r.story) == r.story
            assert events[r.event].status == "live" and events[r.event].extra == r.story
    assert rows["flood-en-1-wire"].event == rows["flood-en-1"].event  # one duplicate group, one event
    created = [e.id for rep in reports for e in rep.events_created]
    assert created == sorted(set(created)) and max(int(e[1:]) for e in events) < next_event
    assert [e.id for e in reports[0].events_created] == ["E000001", "E000002"]
    assert "Events created (2)" in reports[0].summary()


def test_rerun_without_changes_changes_nothing(tmp_path):
    encoder = bilingual()
    corpus = corpus_for(2, tmp_path)
    nightly(tmp_path, encoder).update(corpus)
    first = assignments(tmp_path / "state.sqlite")
    report = nightly(tmp_path, encoder).update(corpus)
    assert report.counts["new"] == report.counts["changed"] == report.counts["embedded"] == 0
    assert assignments(tmp_path / "state.sqlite") == first
    assert not report.stories_created and not report.stories_merged


def test_rebuild_keeps_ids_by_overlap(three_nights, tmp_path):
    tmp, _, _, states = three_nights
    state = tmp_path / "state.sqlite"
    shutil.copy(tmp / "state.sqlite", state)
    encoder = bilingual()
    corpus = corpus_for(3, tmp_path)
    report = Nightly(state, Clusterer(encoder=encoder, cache_dir=None)).rebuild(corpus)
    assert report.kind == "rebuild" and report.counts["embedded"] == 0
    assert corpus_texts(encoder.texts, corpus) == []  # vectors come from the state
    after = assignments(state)
    for item in ("flood-en-1", "flood-fr-1", "strike-en-1", "chess-en-1", "summit-fr-1"):
        assert after[item][0] == states[2][item][0], item
    assert after["flood-en-1"][1] == "D000001"


def test_other_model_is_refused(tmp_path):
    nightly(tmp_path, bilingual()).update(corpus_for(1, tmp_path))
    other = bilingual(name="test/another-model")
    with pytest.raises(StateError, match="built with model"):
        nightly(tmp_path, other).update(corpus_for(1, tmp_path))


def stored_means(path: Path) -> dict:
    with State(path) as st:
        return {k: v for k, (_, v) in st.means().items()}


def raw_by_lang(path: Path, clusterer: Clusterer, corpus: Path) -> tuple:
    """The corpus's items' languages and their raw vectors as the state holds them."""
    items = clusterer.split(clusterer.read(corpus)[0])
    with State(path) as st:
        return [it.lang for it in items], st.vectors([it.id for it in items])


@pytest.mark.parametrize("use_prior", [True, False])
def test_first_run_stores_the_means_batch_centring_used(tmp_path, use_prior):
    corpus = corpus_for(1, tmp_path)
    c = Clusterer(encoder=bilingual(), cache_dir=tmp_path / "cache", use_prior=use_prior)
    Nightly(tmp_path / "state.sqlite", c).update(corpus)
    langs, raw = raw_by_lang(tmp_path / "state.sqlite", c, corpus)
    means = stored_means(tmp_path / "state.sqlite")
    expected = language_means(raw, langs, c.language_shrink, c.prior())
    assert set(means) == {lang_key(lang) for lang in expected} | {OVERALL}
    for lang, vec in expected.items():
        np.testing.assert_array_equal(means[lang_key(lang)], vec)
    by_lang = {lang: means[lang_key(lang)] for lang in expected}
    np.testing.assert_array_equal(center_by_language(raw, langs, means=by_lang), c.centre(raw, langs))


@pytest.mark.parametrize("use_prior", [True, False])
def test_a_doubled_language_gets_a_fresh_shrunk_mean(tmp_path, use_prior):
    """Night 2 doubles both languages (en 5 -> 10, fr 1 -> 3): their means are taken
    again from their items, shrunk toward the same prior as in the batch run (the
    reference prior, or without one the stored corpus mean)."""
    c = Clusterer(encoder=bilingual(), cache_dir=tmp_path / "cache", use_prior=use_prior)
    Nightly(tmp_path / "state.sqlite", c).update(corpus_for(1, tmp_path))
    first = stored_means(tmp_path / "state.sqlite")
    corpus = corpus_for(2, tmp_path)
    Nightly(tmp_path / "state.sqlite", c).update(corpus)
    means = stored_means(tmp_path / "state.sqlite")
    np.testing.assert_array_equal(means[OVERALL], first[OVERALL])  # the corpus mean stays
    langs, raw = raw_by_lang(tmp_path / "state.sqlite", c, corpus)
    prior = c.prior() or Prior(first[OVERALL])
    for lang in ("en", "fr"):
        mine = raw[[k for k, x in enumerate(langs) if x == lang]]
        expected = language_means(mine, [lang] * len(mine), c.language_shrink, prior)[lang]
        np.testing.assert_allclose(means[lang_key(lang)], expected, rtol=0, atol=1e-7)


# ----------------------------------------------------------------- processes


def spawn(state: Path, corpus: Path, cache: Path, stall=None) -> subprocess.Popen:
    cmd = [sys.executable, str(DRIVER), str(state), str(corpus), str(cache)]
    if stall:
        cmd += ["--stall", *stall]
    return subprocess.Popen(cmd, cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(marker: Path, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"driver ended early: {proc.communicate()}")
        if time.monotonic() > end:
            proc.kill()
            raise AssertionError("driver never reached its stall point")
        time.sleep(0.02)


def kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted night 1 + night 2, run by the driver process."""
    tmp = tmp_path_factory.mktemp("reference")
    for night in (1, 2):
        done = subprocess.run(
            [sys.executable, str(DRIVER), str(tmp / "state.sqlite"), str(corpus_for(night, tmp)), str(tmp / "cache")],
            cwd=str(REPO),
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
    return fingerprint(tmp / "state.sqlite")


def test_sigkill_leaves_state_before_or_after(tmp_path, reference):
    state, cache = tmp_path / "state.sqlite", tmp_path / "cache"
    night1, night2 = corpus_for(1, tmp_path), corpus_for(2, tmp_path)
    assert (
        subprocess.run(
            [sys.executable, str(DRIVER), str(state), str(night1), str(cache)], cwd=str(REPO), capture_output=True
        ).returncode
        == 0
    )
    before = fingerprint(state)
    # embedding (batches of 2; earlier kills leave their batches in the cache, so
    # later points are reached with fewer batches), then inside the one transaction
    for k, point in enumerate(["embed:3", "embed:2", "embed:1", "write:2", "write:5", "write:10"]):
        marker = tmp_path / f"marker{k}"
        proc = spawn(state, night2, cache, (point, str(marker)))
        wait_for(marker, proc)
        kill(proc)
        assert integrity(state) == "ok"
        assert fingerprint(state) == before, point
    done = subprocess.run(
        [sys.executable, str(DRIVER), str(state), str(night2), str(cache)],
        cwd=str(REPO),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert integrity(state) == "ok"
    assert fingerprint(state) == reference
    with State(state) as st:  # the killed runs' embeddings were cached: nothing embedded twice
        assert st.runs()[-1].counts["embedded"] < 7


def test_sigkill_after_commit_keeps_the_run(tmp_path, reference):
    state, cache = tmp_path / "state.sqlite", tmp_path / "cache"
    assert (
        subprocess.run(
            [sys.executable, str(DRIVER), str(state), str(corpus_for(1, tmp_path)), str(cache)],
            cwd=str(REPO),
            capture_output=True,
        ).returncode
        == 0
    )
    marker = tmp_path / "marker"
    proc = spawn(state, corpus_for(2, tmp_path), cache, ("done", str(marker)))
    wait_for(marker, proc)
    kill(proc)
    assert integrity(state) == "ok"
    assert fingerprint(state) == reference


def test_second_run_fails_at_once_while_one_holds_the_lock(tmp_path):
    state, cache = tmp_path / "state.sqlite", tmp_path / "cache"
    corpus = corpus_for(1, tmp_path)
    marker = tmp_path / "marker"
    proc = spawn(state, corpus, cache, ("embed:1", str(marker)))
    try:
        wait_for(marker, proc)
        started = time.monotonic()
        with pytest.raises(StateError, match="another update is running"):
            Nightly(state, Clusterer(encoder=bilingual(), cache_dir=None)).update(corpus)
        result = CliRunner().invoke(cli_main, ["update", str(corpus), "--state", str(state), "--no-cache", "-q"])
        assert time.monotonic() - started < 20
        assert result.exit_code == 75  # EX_TEMPFAIL: try again later, not corruption
        assert "another update is running" in result.output
        # the same state through a symlink is the same state: locked too
        link = tmp_path / "link.sqlite"
        link.symlink_to(state)
        result = CliRunner().invoke(cli_main, ["update", str(corpus), "--state", str(link), "--no-cache", "-q"])
        assert result.exit_code == 75 and "another update is running" in result.output
        assert "Traceback" not in result.output
    finally:
        kill(proc)


def test_cli_update_writes_report(tmp_path, monkeypatch):
    import clusterer.cli as cli

    monkeypatch.setattr(
        cli, "make_clusterer", lambda *a, **kw: Clusterer(encoder=bilingual(), cache_dir=tmp_path / "cache")
    )
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli_main, ["update", str(corpus_for(1, tmp_path)), "--state", str(tmp_path / "s.sqlite"), "--report", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Stories created (2)" in result.output
    data = json.loads(out.read_text())
    assert data["kind"] == "batch" and data["counts"]["new"] == 6
    assert [s["id"] for s in data["stories_created"]] == ["S000001", "S000002"]


PAGE_WITH_TEASER = """date 2024-01-04

Water level of the river Lenz stays high in Valdoria

The water level of the river Lenz stayed high on Wednesday in Valdoria as rescue teams searched flooded homes in the valley villages.

Dam operators warned of more rain, and the evacuation of the villages will last several days, the regional authorities said.

Read more

Grandmaster Ilse Varga wins the Harrow chess tournament final against champion Tomas Reyes
"""  # noqa: E501 (page text, one paragraph a line)
FLOOD = {
    "id": "flood-en-1",
    "lang": "en",
    "date": "2024-01-03",
    "title": "River Lenz floods villages in Valdoria",
    "text": "Heavy rain over three days pushed the river Lenz above its banks in Valdoria, and the regional "
    "authorities ordered the evacuation of villages in the valley. Rescue teams searched flooded homes.",
}
CHESS = [
    {
        "id": "chess-en-1",
        "lang": "en",
        "date": "2024-01-05",
        "title": "Ilse Varga wins the Harrow chess tournament",
        "text": "Grandmaster Ilse Varga won the Harrow chess tournament final on Thursday against champion Tomas "
        "Reyes, after a long game that the players called the best of the tournament.",
    },
    {
        "id": "chess-en-2",
        "lang": "en",
        "date": "2024-01-05",
        "title": "Varga beats Reyes in Harrow chess final",
        "text": "Ilse Varga beat champion Tomas Reyes in the final game of the Harrow chess tournament on Thursday "
        "and won the title, the tournament players said.",
    },
]


def test_a_noise_teaser_joins_the_story_that_forms_later(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "page.txt").write_text(PAGE_WITH_TEASER, encoding="utf-8")
    (corpus / "wire1.jsonl").write_text(json.dumps(FLOOD) + "\n", encoding="utf-8")
    teaser = "page.txt#teaser-1"
    first = nightly(tmp_path, bilingual()).update(corpus)
    assert [ch.story for ch in first.new_items if ch.id == teaser] == [None]  # no chess story yet
    (corpus / "wire2.jsonl").write_text("".join(json.dumps(r) + "\n" for r in CHESS), encoding="utf-8")
    second = nightly(tmp_path, bilingual()).update(corpus)
    chess = assignments(tmp_path / "state.sqlite")["chess-en-1"][0]
    assert assignments(tmp_path / "state.sqlite")[teaser][0] == chess
    assert [(ch.id, ch.story) for ch in second.noise_placed] == [(teaser, chess)]
    assert "Noise placed in a story (1)" in second.summary()
    # where a batch run over tonight's corpus puts it too
    batch = Clusterer(encoder=bilingual(), cache_dir=None).run(corpus)
    story_of = {it.id: it.story for it in batch.items}
    assert story_of[teaser] is not None and story_of[teaser] == story_of["chess-en-1"]


def test_damage_inside_the_state_is_one_line_not_a_traceback(tmp_path, monkeypatch):
    import clusterer.cli as cli

    monkeypatch.setattr(
        cli, "make_clusterer", lambda *a, **kw: Clusterer(encoder=bilingual(), cache_dir=tmp_path / "cache")
    )
    corpus = corpus_for(2, tmp_path)
    nightly(tmp_path, bilingual()).update(corpus_for(1, tmp_path))
    state = tmp_path / "state.sqlite"
    data = bytearray(state.read_bytes())
    page = 4096
    assert len(data) > 4 * page
    for at in range(len(data) // 2 // page * page, len(data), page):  # the later pages: stored rows
        data[at : at + 64] = b"\xff" * 64
    state.write_bytes(bytes(data))
    result = CliRunner().invoke(cli_main, ["update", str(corpus), "--state", str(state), "--no-cache", "-q"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "is damaged (database disk image is malformed)" in result.output
    assert result.output.count("\n") <= 2


_FULL_DISK = r"""
set -u
mount -t tmpfs -o size=512k tmpfs "$DISK"
night() { "$PY" "$DRIVER" "$DISK/state.sqlite" "$1" "$CACHE"; echo "rc=$?" >&2; }
fill() { head -c $(( ($(df -k --output=avail "$DISK" | tail -1) - 16) * 1024 )) /dev/zero > "$DISK/filler"; }
night "$NIGHT1" && cp "$DISK/state.sqlite" "$OUT/before.sqlite"
fill
night "$NIGHT2"; cp "$DISK/state.sqlite" "$OUT/full.sqlite"
"$PY" - <<'PY' 2>&1
import os, sys, warnings
sys.path[:0] = [os.environ["TESTS"], os.environ["REPO"]]
from fakes import bilingual
from clusterer.pipeline import Clusterer
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    result = Clusterer(encoder=bilingual(), cache_dir=os.environ["DISK"] + "/cache2").run(os.environ["NIGHT2"])
print("batch on the full disk:", len(result.items), "items;", [str(w.message) for w in seen])
PY
rm "$DISK/filler"
night "$NIGHT2"; cp "$DISK/state.sqlite" "$OUT/after.sqlite"
"""


def test_a_full_disk_leaves_the_state_as_it_was(tmp_path, reference):
    """A real full disk: a 512 KiB tmpfs in a private mount namespace (``unshare``)."""
    if (
        shutil.which("unshare") is None
        or subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode != 0
    ):
        pytest.skip("needs unshare -rm (user and mount namespaces) to mount a small tmpfs")
    disk, out = tmp_path / "disk", tmp_path / "out"
    disk.mkdir()
    out.mkdir()
    env = dict(
        os.environ,
        PY=sys.executable,
        DRIVER=str(DRIVER),
        DISK=str(disk),
        OUT=str(out),
        CACHE=str(tmp_path / "cache"),
        NIGHT1=str(corpus_for(1, tmp_path)),
        NIGHT2=str(corpus_for(2, tmp_path)),
        TESTS=str(DRIVER.parent),
        REPO=str(REPO),
    )
    done = subprocess.run(
        ["unshare", "-rm", "bash", "-c", _FULL_DISK],
        env=env,
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = done.stdout + done.stderr
    assert [line for line in log.splitlines() if line.startswith("rc=")] == ["rc=0", "rc=2", "rc=0"], log
    errors = [line for line in log.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no room left to write the state" in errors[0], log
    assert "Traceback" not in log
    assert integrity(out / "full.sqlite") == "ok"
    assert fingerprint(out / "full.sqlite") == fingerprint(out / "before.sqlite")
    # the embeddings cache is derived data: on a full disk the run goes on without it
    batch = [line for line in log.splitlines() if line.startswith("batch on the full disk:")]
    assert batch and "13 items" in batch[0] and "cannot write the embeddings cache" in batch[0], log
    # space freed: the same night runs to the same state as a run that never met a full disk
    assert fingerprint(out / "after.sqlite") == reference


def test_the_nightly_scale_benchmark_runs_a_night_that_reads_only_new_items_as_new(tmp_path):
    """bench_nightly_scale.py builds a state whose corpus is unchanged but for the new
    items, runs a night on it and says what the night read from the state."""
    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_nightly_scale.py"
    done = subprocess.run(
        [sys.executable, str(bench), "--items", "300", "--night", "7", "--deleted", "2", "--work", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    line = [x for x in done.stdout.splitlines() if x.startswith("round 1 now")][0]
    got = json.loads(line.split(":", 1)[1])
    assert got["counts"]["unchanged"] == 298 and got["counts"]["new"] == 7 and got["counts"]["embedded"] == 7
    assert got["counts"]["deleted"] == 2
    assert got["rows_read"]["items"] == 300 and got["peak_rss_mib"] > 0 and len(got["placement_sha256"]) == 16


def test_a_night_computes_duplicate_features_for_what_it_embeds_only(tmp_path, monkeypatch):
    """An unchanged item's duplicate features are the state's; a night computes those of
    its new and changed items, and those of any item whose features the state lacks."""
    from clusterer.duplicates import TextFeatures

    computed: list[str] = []
    real = TextFeatures.of.__func__

    def counting(cls, text, lang=None):
        computed.append(text)
        return real(cls, text, lang)

    monkeypatch.setattr(TextFeatures, "of", classmethod(counting))
    encoder = bilingual()
    for night in (1, 2, 3):
        computed.clear()
        before = len(encoder.texts)
        corpus = corpus_for(night, tmp_path)
        nightly(tmp_path, encoder).update(corpus)
        assert sorted(corpus_texts(computed, corpus)) == sorted(corpus_texts(encoder.texts[before:], corpus))
    assert len(computed) == 3  # night 3: two new items and an edited page

    with State(tmp_path / "state.sqlite") as st:
        live = {i for i, r in st.items().items() if not r.deleted}
        st._db.execute("DELETE FROM features WHERE id IN (SELECT id FROM features LIMIT 4)")
        st._db.commit()
    computed.clear()
    nightly(tmp_path, encoder).update(corpus_for(3, tmp_path))
    assert len(computed) == 4  # the four whose features were gone, nothing embedded
    with State(tmp_path / "state.sqlite") as st:
        assert st.feature_ids() >= live


def test_a_night_places_with_the_stored_features_it_reaches_as_with_every_items(tmp_path, monkeypatch):
    """A night reads an unchanged item's duplicate features from the state only when its
    placement reaches the item; its nights end in the same state as nights that read
    every item's features while reading the corpus."""
    from clusterer.nightly import job

    eager, lazy = tmp_path / "eager", tmp_path / "lazy"
    real = job.read_tonight
    for root, held in ((lazy, True), (eager, False)):
        root.mkdir()
        if not held:  # every unchanged item's features taken with its row, as before
            monkeypatch.setattr(job, "read_tonight", lambda *a, **kw: real(*a, **{**kw, "held": None}))
        encoder = bilingual()
        for night in (1, 2, 3):
            nightly(root, encoder).update(corpus_for(night, root))
    assert fingerprint(eager / "state.sqlite") == fingerprint(lazy / "state.sqlite")
    with State(lazy / "state.sqlite") as st:
        assert any(r.dup for r in st.items().values())  # duplicate groups were placed by those features


def synthetic_night(tmp_path: Path, n: int, new: int, seed: int = 2) -> tuple[Path, Path, Clusterer]:
    """A synthetic state of ``n`` items (tests/serve_harness.py) and a corpus of the same
    records, unchanged, with ``new`` new ones after them; the fake encoder's clusterer."""
    import random

    from serve_harness import build_state, pool_hashes, synthetic_record

    clusterer = Clusterer(encoder=FakeEncoder(), cache_dir=None)
    texts = build_state(tmp_path / "state.sqlite", n, 256, hashes=pool_hashes(clusterer, n))
    rng = random.Random(seed)
    records = [{**t, "id": f"item-{j}"} for j, t in enumerate(texts)]
    records += [synthetic_record(k, rng, f"new{seed}-") for k in range(new)]
    corpus = tmp_path / f"corpus-{seed}.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return tmp_path / "state.sqlite", corpus, clusterer


def test_a_night_reads_the_stored_features_of_the_items_it_reaches_only(tmp_path, monkeypatch):
    """On a state of 600 items, a night of 3 new ones reads few stored items' features."""
    state, corpus, clusterer = synthetic_night(tmp_path, 600, 3)
    asked: list[str] = []
    real = State.features

    def counted(self, ids=None):
        ids = list(ids) if ids is not None else None
        asked.extend(ids or ["*every*"])
        return real(self, ids)

    monkeypatch.setattr(State, "features", counted)
    report = Nightly(state, clusterer).update(corpus)
    assert report.counts["new"] == 3 and report.counts["unchanged"] == 600
    assert "*every*" not in asked and 0 < len(set(asked)) < 300, len(set(asked))


def test_a_night_that_loads_its_neighbour_graphs_places_as_one_that_builds_them(tmp_path):
    """The stored items' graphs are kept beside the state: a night that finds them saved
    loads them and ends in the state a night that built them ends in; the next night
    builds only the shard its new items went to."""
    from clusterer.neighbours import HnswParams
    from clusterer.neighbours.saved import SavedGraphs

    state, corpus, clusterer = synthetic_night(tmp_path, 600, 3)
    params = HnswParams(m=8, ef_construction=40, ef_search=48, shard_size=200)
    copy = tmp_path / "copy.sqlite"
    shutil.copyfile(state, copy)
    folder = tmp_path / "graphs"
    first = SavedGraphs(folder, params, exact_max=100)
    Nightly(state, clusterer, graphs=first).update(corpus)
    assert (first.built, first.loaded) == (4, 0)  # places 1..600: shards 0-3
    again = SavedGraphs(folder, params, exact_max=100)
    Nightly(copy, clusterer, graphs=again).update(corpus)
    assert (again.built, again.loaded) == (0, 4)
    assert fingerprint(copy) == fingerprint(state)

    # the next night: tonight's three new items sit at the state's end, in shard 3
    import random

    from serve_harness import synthetic_record

    rng = random.Random(3)
    extra = "".join(json.dumps(synthetic_record(k, rng, "next-")) + "\n" for k in range(3))
    grown = tmp_path / "grown.jsonl"
    grown.write_text(corpus.read_text(encoding="utf-8") + extra, encoding="utf-8")
    graphs = SavedGraphs(folder, params, exact_max=100)
    report = Nightly(state, clusterer, graphs=graphs).update(grown)
    assert report.counts["new"] == 3 and (graphs.built, graphs.loaded) == (1, 3)

    # a quiet night, whose stored items are last night's and its new ones (shard 3 built
    # again with them), then a night that deletes an item: its row stays in its graph,
    # out of the answers, and every graph is loaded
    Nightly(state, clusterer, graphs=SavedGraphs(folder, params, exact_max=100)).update(grown)
    lines = grown.read_text(encoding="utf-8").splitlines(keepends=True)
    fewer = tmp_path / "fewer.jsonl"
    fewer.write_text("".join(line for line in lines if '"id": "item-250"' not in line), encoding="utf-8")
    shutil.copyfile(state, copy)
    graphs = SavedGraphs(folder, params, exact_max=100)
    report = Nightly(state, clusterer, graphs=graphs).update(fewer)
    assert report.counts["deleted"] == 1 and (graphs.built, graphs.loaded) == (0, 4)
    afresh = SavedGraphs(tmp_path / "afresh", params, exact_max=100)  # the same night, every graph built
    Nightly(copy, clusterer, graphs=afresh).update(fewer)
    assert (afresh.built, afresh.loaded) == (4, 0) and fingerprint(copy) == fingerprint(state)
