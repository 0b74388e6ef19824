"""`cluster serve`: every endpoint, bad requests, the token, the state shared with
`cluster update`, idempotent and changed posts, and placements identical to the
nightly job's for the same items in the same order. Fake encoder only."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from click.testing import CliRunner  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fakes import bilingual  # noqa: E402
from state_checks import integrity, update_nights  # noqa: E402

from clusterer.cli import main as cli_main  # noqa: E402
from clusterer.errors import ServeError, StateLocked  # noqa: E402
from clusterer.nightly.feed import Feed  # noqa: E402
from clusterer.nightly.job import Nightly  # noqa: E402
from clusterer.nightly.state import State, StateLock  # noqa: E402
from clusterer.pipeline import Clusterer  # noqa: E402
from clusterer.read import read_corpus  # noqa: E402
from clusterer.serve import require_server  # noqa: E402
from clusterer.serve.app import create_app  # noqa: E402
from clusterer.serve.auth import check_host, read_token  # noqa: E402
from clusterer.serve.writer import Writer  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "nightly"
REPO = Path(__file__).resolve().parents[1]


def night(n: int) -> list[dict]:
    """Night ``n``'s records of the nightly test corpus, as JSONL records."""
    records, _ = read_corpus(DATA / f"night{n}")
    return [{k: v for k, v in vars(r).items() if k != "source" and v is not None} for r in records]


class Service:
    """The app over a feed with the fake encoder, its writer started, its state read."""

    def __init__(self, path: Path, token: str | None = None, lock_wait: float = 30.0, encoder=None, **options):
        self.encoder = encoder if encoder is not None else bilingual()
        self.feed = Feed(path, Clusterer(encoder=self.encoder, cache_dir=None), lock_wait=lock_wait)
        self.writer = Writer(idle=self.feed.refresh, idle_every=0.1).start()
        self.writer.submit(self.feed.open).result()
        self.client = TestClient(create_app(self.feed, self.writer, token=token, **options))

    def post(self, body, **kw):
        return self.client.post("/items", json=body, **kw)

    def close(self):
        self.writer.stop()


@pytest.fixture
def service(tmp_path):
    s = Service(tmp_path / "state.sqlite")
    yield s
    s.close()


def placements(path: Path) -> dict:
    with State(path) as st:
        return {i: (r.story, r.dup, r.event) for i, r in st.items().items() if not r.deleted}


def runs(path: Path) -> int:
    with State(path) as st:
        return st.last_run()


# -- the endpoints ---------------------------------------------------------------
def test_post_places_items_and_every_read_endpoint_shows_them(service):
    first = service.post(night(1))
    assert first.status_code == 200
    body = first.json()
    assert body["run"] == 1 and [it["status"] for it in body["items"]] == ["new"] * len(body["items"])
    second = service.post(night(2)).json()
    by_id = {it["id"]: it for it in second["items"]}
    wire = by_id["flood-fr-1"]  # the French version of flood-en-1: a duplicate across languages
    group = wire["duplicate_group"]
    assert group["canonical"] == "flood-en-1" and "flood-fr-1" in group["members"]
    assert group["evidence"]["a"] == "flood-en-1" and group["evidence"]["b"] == "flood-fr-1"
    assert group["evidence"]["same_language"] is False and "aligned_sentences" in group["evidence"]
    assert wire["story"] and wire["story_title"] and wire["event"]

    item = service.client.get("/items/pages/flood-2.txt")  # an id with a slash
    assert item.status_code == 200 and item.json()["story"] == wire["story"]
    assert item.json()["duplicate_group"] is None
    assert service.client.get("/items/nothing-here").status_code == 404

    story = service.client.get(f"/stories/{wire['story']}").json()
    assert story["status"] == "live" and story["title"] == wire["story_title"]
    members = {m["id"] for m in story["members"]}
    assert {"flood-en-1", "flood-fr-1", "pages/flood-2.txt"} <= members
    assert [g["id"] for g in story["duplicate_groups"]] == [group["id"]]
    assert story["events"] and all(e["members"] for e in story["events"])
    assert service.client.get("/stories/S999999").json() == {"error": "no story 'S999999'"}

    every = service.client.get("/stories").json()["stories"]
    assert wire["story"] in {s["id"] for s in every} and "members" not in every[0]
    late = service.client.get("/stories", params={"since": "2024-01-06"}).json()["stories"]
    assert late and all(s["last_date"] >= "2024-01-06" for s in late) and len(late) < len(every)
    assert service.client.get("/stories", params={"since": "yesterday"}).status_code == 400
    assert service.client.get("/stories", params={"limit": "many"}).status_code == 400

    health = service.client.get("/healthz").json()
    assert health["status"] == "ok" and health["run"] == 2
    page = service.client.get("/")
    assert page.status_code == 200 and "<html" in page.text.lower() and wire["story_title"] in page.text


def test_same_text_again_is_idempotent_another_text_is_a_change(service, tmp_path):
    service.post(night(1))
    record = night(1)[0]
    again = service.post(record).json()
    assert again["run"] is None and again["items"][0]["status"] == "unchanged"
    assert runs(tmp_path / "state.sqlite") == 1
    changed = service.post(dict(record, text=record["text"] + " The river fell by evening.")).json()
    assert changed["run"] == 2 and changed["items"][0]["status"] == "changed"
    with State(tmp_path / "state.sqlite") as st:
        row = st.items()[record["id"]]
        assert row.first_seen == 1 and row.last_seen == 2
        assert st.items()[night(1)[1]["id"]].last_seen == 1  # an item not posted was not seen


# -- identical to the nightly job ---------------------------------------------------


def test_posting_nights_gives_what_cluster_update_gives(tmp_path):
    nights = [night(1), night(2), night(3)]  # night 3 edits a page of night 1
    update_nights(tmp_path / "update.sqlite", tmp_path, nights)
    s = Service(tmp_path / "serve.sqlite")
    try:
        assert [s.post(records).json()["run"] for records in nights] == [1, 2, 3]
    finally:
        s.close()
    assert placements(tmp_path / "serve.sqlite") == placements(tmp_path / "update.sqlite")


def test_posting_one_by_one_gives_what_one_item_a_night_gives(tmp_path):
    records = list({r["id"]: r for r in night(1) + night(2)}.values())
    update_nights(tmp_path / "update.sqlite", tmp_path, [[r] for r in records])
    s = Service(tmp_path / "serve.sqlite")
    try:
        for r in records:
            assert s.post(r).status_code == 200
    finally:
        s.close()
    assert placements(tmp_path / "serve.sqlite") == placements(tmp_path / "update.sqlite")
    assert integrity(tmp_path / "serve.sqlite") == "ok"


# -- bad requests -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"{not json", 400, "invalid JSON"),
        (b"", 400, "empty body"),
        (b"[]", 400, "empty list"),
        (b'"a string"', 400, "expected a JSON object"),
        (b'{"text": "no id here"}', 400, "'id'"),
        (b'{"id": "x"}', 400, "'text'"),
        (b'[{"id": "x", "text": "fine"}, {"id": "y", "text": ""}]', 400, "record 1: missing or empty string field"),
        (b'[{"id": "x", "text": "one"}, {"id": "x", "text": "two"}]', 400, "given twice"),
        (b'{"id": "x#teaser-1", "text": "a reserved id"}', 400, "#teaser-"),
        (b"\xff\xfe{}", 400, "not UTF-8"),
    ],
)
def test_a_bad_request_is_one_line_and_stores_nothing(service, tmp_path, body, status, says):
    service.post(night(1))
    got = service.client.post("/items", content=body, headers={"content-type": "application/json"})
    assert got.status_code == status
    message = got.json()["error"]
    assert says in message and "\n" not in message
    assert runs(tmp_path / "state.sqlite") == 1 and service.client.get("/items/x").status_code == 404


def test_a_body_over_the_limit_is_413_and_unknown_fields_are_ignored(tmp_path):
    s = Service(tmp_path / "state.sqlite", max_body=2048)
    try:
        big = s.post({"id": "big", "text": "word " * 1000})
        assert big.status_code == 413 and "over 2048 bytes" in big.json()["error"]
        ok = s.post({"id": "a", "text": "A short note about the weather.", "section": "misc", "score": 3})
        assert ok.status_code == 200 and ok.json()["items"][0]["id"] == "a"
    finally:
        s.close()
    assert runs(tmp_path / "state.sqlite") == 1


# -- the token ---------------------------------------------------------------------
def test_the_bearer_token(tmp_path):
    s = Service(tmp_path / "state.sqlite", token="s3cret")
    try:
        assert s.post(night(1)).status_code == 401
        wrong = s.post(night(1), headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json() == {"error": "missing or wrong bearer token"}
        assert s.client.get("/stories").status_code == 401 and s.client.get("/healthz").status_code == 200
        good = {"Authorization": "Bearer s3cret"}
        assert s.post(night(1), headers=good).status_code == 200
        assert s.client.get("/stories", headers=good).status_code == 200
    finally:
        s.close()


def test_a_host_beyond_loopback_needs_a_token(tmp_path):
    check_host("127.0.0.1", None)
    check_host("::1", None)
    check_host("localhost", None)
    with pytest.raises(ServeError, match="--token-file"):
        check_host("0.0.0.0", None)
    check_host("0.0.0.0", "tok")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ServeError, match="empty"):
        read_token(tmp_path / "empty")
    (tmp_path / "tok").write_text("  abc123  \n")
    assert read_token(tmp_path / "tok") == "abc123"
    result = CliRunner().invoke(cli_main, ["serve", "--state", str(tmp_path / "s.sqlite"), "--host", "0.0.0.0"])
    assert result.exit_code == 1 and "give --token-file" in result.output
    assert not (tmp_path / "s.sqlite").exists()


def test_a_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "fastapi", None)
    with pytest.raises(ServeError, match=r"\[serve\]"):
        require_server()


# -- one state, two writers ------------------------------------------------------------
def test_a_post_waits_for_a_night_then_gives_up_with_503(tmp_path):
    s = Service(tmp_path / "state.sqlite", lock_wait=0.3)
    try:
        with StateLock(tmp_path / "state.sqlite"):  # as `cluster update` holds it during a night
            busy = s.post(night(1))
        assert busy.status_code == 503 and "another update is running" in busy.json()["error"]
        assert busy.headers["Retry-After"]
        assert s.post(night(1)).status_code == 200
    finally:
        s.close()


def test_cluster_update_is_refused_while_the_service_writes(tmp_path):
    inside, release = threading.Event(), threading.Event()

    def stall(batch: int) -> None:
        inside.set()
        release.wait(10)

    s = Service(tmp_path / "state.sqlite", encoder=bilingual(before_batch=stall))
    try:
        posting = threading.Thread(target=lambda: s.post(night(1)))
        posting.start()
        assert inside.wait(10)
        corpus = tmp_path / "corpus"
        corpus.mkdir()
        (corpus / "feed.jsonl").write_text(json.dumps(night(2)[0]) + "\n")
        with pytest.raises(StateLocked, match="another update is running"):
            Nightly(tmp_path / "state.sqlite", Clusterer(encoder=bilingual(), cache_dir=None)).update(corpus)
        release.set()
        posting.join(10)
    finally:
        release.set()
        s.close()
    assert runs(tmp_path / "state.sqlite") == 1


def test_the_service_sees_what_cluster_update_wrote(tmp_path):
    path = tmp_path / "state.sqlite"
    s = Service(path)
    try:
        assert s.post(night(1)).json()["run"] == 1
        corpus = tmp_path / "corpus"
        corpus.mkdir()
        (corpus / "feed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in night(1) + night(2)))
        Nightly(path, Clusterer(encoder=bilingual(), cache_dir=None)).update(corpus)  # run 2, another process's
        # the next write reads the state again first: its run follows the night's
        posted = s.post({"id": "late", "text": "Rescue teams moved more residents as the river Lenz rose again."})
        assert posted.json()["run"] == 3
        assert s.client.get("/items/flood-fr-1").json()["duplicate_group"]["canonical"] == "flood-en-1"
        assert s.client.get("/healthz").json()["run"] == 3
    finally:
        s.close()
    assert integrity(path) == "ok"


# -- the load benchmark and the kill trial, as smoke runs ---------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_load_benchmark_runs_with_the_fake_encoder(tmp_path):
    import subprocess

    out = tmp_path / "figures.json"
    args = ["--items", "300", "--singles", "3", "--batches", "1", "--fake-encoder"]
    args += ["--readers", "2", "--read-rate", "20"]
    args += ["--port", str(_free_port()), "--work", str(tmp_path / "work"), "--out", str(out)]
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_serve.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["single"]["items"] == 3 and figures["batch32"]["items"] == 32 and "p99_ms" in figures["reads"]
    assert figures["read_rate"] == 20 and figures["reads"]["count"] > 0 and "flags" in figures["cpu"]


def test_the_kill_trial_runs_with_the_fake_encoder(tmp_path):
    import subprocess

    args = ["--kills", "2", "--items", "300", "--fake-encoder", "--max-delay", "1"]
    args += ["--port", str(_free_port()), "--work", str(tmp_path / "work")]
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "serve_kill_trial.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "nothing acknowledged was lost" in done.stdout
