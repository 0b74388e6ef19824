"""What the service's load benchmark and kill trial share (benchmarks/bench_serve.py,
scripts/serve_kill_trial.py): synthetic news records, a synthetic state of N items
written straight through :meth:`State.commit`, a server process started and
stopped, and posts and reads over loopback (the standard library's HTTP client)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO), str(HERE)]
from clusterer.duplicates import TextFeatures  # noqa: E402
from clusterer.nightly.placement import event_id, story_id  # noqa: E402
from clusterer.nightly.state import OVERALL, Changes, GroupRow, RunRecord, State, StoredItem, lang_key  # noqa: E402

WORDS = [
    "river",
    "flood",
    "village",
    "rescue",
    "council",
    "minister",
    "budget",
    "vote",
    "strike",
    "union",
    "factory",
    "wages",
    "summit",
    "climate",
    "treaty",
    "border",
    "election",
    "court",
    "ruling",
    "hospital",
    "school",
    "storm",
    "harbour",
    "bridge",
    "railway",
    "airport",
    "market",
    "prices",
    "energy",
    "grid",
    "drought",
    "harvest",
    "museum",
    "festival",
    "league",
    "final",
    "coach",
    "player",
    "police",
    "inquiry",
    "mayor",
]
PLACES = ["Valdoria", "Marsk", "Brenport", "Tollen", "Orla", "Lenz", "Kessel", "Nordby", "Astrava", "Pellin"]
PEOPLE = ["Anna Vetter", "Jon Hale", "Mira Osk", "Paul Brandt", "Lea Moor", "Ivo Strand", "Sara Kell"]


def synthetic_record(k: int, rng: random.Random, prefix: str = "post") -> dict:
    """A news-like English record of about 1,200 characters: a topic, places, people, figures."""
    topic = rng.sample(WORDS, 6)
    sentences = []
    for _ in range(9):
        words = rng.sample(WORDS, 7) + topic[:3]
        rng.shuffle(words)
        sentences.append(
            f"In {rng.choice(PLACES)}, {rng.choice(PEOPLE)} said the {' '.join(words)} "
            f"had reached {rng.randint(2, 9000)} by {rng.choice(['Monday', 'Tuesday', 'Friday'])}."
        )
    return {
        "id": f"{prefix}-{k}",
        "title": f"{topic[0].title()} {topic[1]} in {rng.choice(PLACES)}",
        "text": " ".join(sentences),
        "lang": "en",
        "date": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
    }


def _pool(rng: random.Random, n: int, pool: int) -> list[dict]:
    """The pool of texts :func:`build_state` draws first from ``rng`` (seeded with its seed)."""
    return [synthetic_record(k, rng, "pool") for k in range(min(pool, n))]


def build_state(
    path: Path, n: int, dim: int, seed: int = 1, pool: int = 2000, hashes: list[str] | None = None
) -> list[dict]:
    """A state of ``n`` live items without any model: unit vectors around one centre per
    story (stories of 2 to 40 items, a tenth of the items noise), duplicate features
    and openings from a pool of synthetic texts, one event per story, the language
    means of the vectors. Its model is left unset, so that whatever encoder serves it
    writes its name on the first post (the vectors must have that encoder's ``dim``).
    Item ``item-j`` holds the pool's text ``j % pool``, which is returned; ``hashes``:
    the content hash of each pool text (:func:`pool_hashes`), so that a corpus of the
    same records is unchanged for a night (else a placeholder)."""
    rng = random.Random(seed)
    gen = np.random.default_rng(seed)
    texts = _pool(rng, n, pool)
    features = [(TextFeatures.of(f"{t['title']}\n{t['text']}", "en"), t["text"][:200]) for t in texts]
    changes = Changes(run=RunRecord(1, "batch", "synthetic", "synthetic", counts={"items": n}))
    vectors = np.empty((n, dim), dtype=np.float32)
    k = story = 0
    while k < n:
        size = min(n - k, rng.randint(2, 40))
        noise = rng.random() < 0.1
        centre = gen.standard_normal(dim)
        block = centre + 0.6 * gen.standard_normal((size, dim))
        vectors[k : k + size] = block / np.linalg.norm(block, axis=1, keepdims=True)
        sid = None
        if not noise:
            story += 1
            sid = story_id(story)
            changes.stories.append(GroupRow(sid, 1, extra=texts[k % len(texts)]["title"]))
            changes.events.append(GroupRow(event_id(story), 1, extra=sid))
        for j in range(k, k + size):
            t = texts[j % len(texts)]
            item = f"item-{j}"
            changes.items.append(
                StoredItem(
                    id=item,
                    doc=item,
                    kind="article",
                    lang="en",
                    title=t["title"],
                    date=t["date"],
                    url=None,
                    hash=hashes[j % len(texts)] if hashes else f"synthetic-{j}",
                    first_seen=1,
                    last_seen=1,
                    story=sid,
                    event=event_id(story) if sid else None,
                )
            )
            changes.vectors[item] = vectors[j]
            changes.features[item] = features[j % len(features)]
        k += size
    mean = vectors.mean(axis=0)
    changes.means = {lang_key("en"): (n, mean), OVERALL: (n, mean)}
    changes.next_story = changes.next_event = story + 1
    with State(path) as st:
        st.commit("synthetic", changes)
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("DELETE FROM meta WHERE k = 'model'")  # any encoder may serve it
    db.commit()
    db.close()
    return texts


def pool_hashes(clusterer, n: int, seed: int = 1, pool: int = 2000) -> list[str]:
    """The content hash a night gives each of :func:`build_state`'s pool texts (the
    same draws) with ``clusterer``'s encoder."""
    from clusterer.embed.cache import text_key
    from clusterer.pipeline import to_record

    texts = _pool(random.Random(seed), n, pool)
    _, prepared, _ = clusterer.prepare([to_record(t) for t in texts])
    return [text_key(clusterer._embedder().encoder.name, t) for t in prepared]


class Server:
    """A ``cluster serve`` process on loopback: with ``fake``, tests/serve_driver.py
    (the fake encoder); else ``python -m clusterer serve`` with ``extra`` options."""

    def __init__(self, state: Path, port: int, fake: bool, extra: list[str] | None = None, log: Path | None = None):
        if fake:
            self.command = [sys.executable, str(HERE / "serve_driver.py"), "--state", str(state), "--port", str(port)]
        else:
            self.command = [
                sys.executable,
                "-m",
                "clusterer",
                "serve",
                "--state",
                str(state),
                "--port",
                str(port),
                *(extra or []),
            ]
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 600.0) -> Server:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115 - the child writes it
        self.proc = subprocess.Popen(self.command, stdout=out, stderr=out, env=env, cwd=str(REPO))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}); see {self.log}")
            try:
                status, _, _ = request(self.url + "/healthz", timeout=1)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server did not answer within {timeout} s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def request(url: str, body=None, timeout: float = 120.0) -> tuple[int, dict | str | None, float]:
    """GET (or POST ``body`` as JSON) ``url``: the status, the parsed answer, the seconds taken."""
    data = json.dumps(body).encode("utf-8") if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw, status = resp.read(), resp.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    seconds = time.perf_counter() - t
    try:
        return status, json.loads(raw), seconds
    except ValueError:
        return status, raw.decode("utf-8", "replace"), seconds


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")
