"""The Ray executor (``--ray``) against a real two-node Ray cluster on 127.0.0.1.

The cluster (two nodes of one CPU each, see ``ray_cluster.py``) is started once
for the module. Each run goes through the real CLI in a process of its own, as a
user runs it, and its result must equal the plain run's on the same corpus, every
field but the timings. Marked ``ray`` (``pytest -m "not ray"`` leaves them out)
and ``model`` (they embed with the real model). Where Ray is not installed they
skip, except under CI, where they fail.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import shared_path
from ray_cluster import loopback_env

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "corpus"
HAS_RAY = importlib.util.find_spec("ray") is not None
# Each node of the test cluster has this many CPUs, so each embedding actor runs this many
# threads; the plain runs use the machine's own count: the PyTorch engine's vectors do not
# depend on it (see docs/ray.md, "Same result").
WORKER_CPUS = 1


def _need_ray() -> None:
    if HAS_RAY:
        return
    if os.environ.get("CI"):
        pytest.fail("Ray is not installed (CI installs the extra: pip install -e '.[test,ray]')")
    pytest.skip("Ray is not installed (pip install -e '.[ray]')")


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """(address, environment for a driver) of a two-node cluster on 127.0.0.1."""
    _need_ray()
    log = tmp_path_factory.mktemp("ray-cluster") / "cluster.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("ray_cluster.py"))]
            + ["--cpus", str(WORKER_CPUS), "--nodes", "2"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=180)
    if not line or not line[0].strip():
        proc.kill()
        pytest.fail(f"the Ray cluster did not start; its log: {log.read_text()[-2000:]}")
    info = json.loads(line[0])
    try:
        yield info["address"], {**os.environ, **loopback_env(info["temp_dir"])}
    finally:
        proc.stdin.close()  # the cluster shuts down
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(info["temp_dir"], ignore_errors=True)


def cluster_cli(*args, env=None, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "clusterer", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
    )


def result_of(path: Path) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("timings")
    return data


def plain_and_ray(corpus, tmp_path: Path, address: str, env: dict, *extra) -> tuple[dict, dict]:
    """The result of a plain run and of a --ray run on ``corpus``, each from an empty cache."""
    out = {}
    for name, more in (("plain", ()), ("ray", ("--ray", address))):
        target = tmp_path / f"{name}.json"
        done = cluster_cli(
            corpus, "--out", target, "--cache-dir", tmp_path / f"cache-{name}", "-q", *more, *extra, env=env
        )
        assert done.returncode == 0, done.stderr[-3000:]
        out[name] = result_of(target)
    return out["plain"], out["ray"]


def test_without_ray_the_flag_is_one_line(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from clusterer.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails, as where it is not installed
    result = CliRunner().invoke(main, [str(EXAMPLES), "--cache-dir", str(tmp_path / "c"), "-q", "--ray"])
    assert result.exit_code == 1
    assert result.output == "Error: --ray needs Ray, which is not installed: pip install -e '.[ray]'\n"


@pytest.mark.ray
@pytest.mark.model
def test_example_corpus_through_ray_equals_the_plain_run(ray_cluster, tmp_path):
    address, env = ray_cluster
    plain, ray = plain_and_ray(EXAMPLES, tmp_path, address, env)
    assert ray == plain
    assert len(ray["stories"]) == 2 and len(ray["duplicate_groups"]) == 1


@pytest.mark.ray
@pytest.mark.model
def test_seeds_through_ray_equal_the_plain_run(ray_cluster, tmp_path):
    seeds = shared_path("seeds")
    address, env = ray_cluster
    plain, ray = plain_and_ray(seeds, tmp_path, address, env)
    assert ray == plain


@pytest.mark.ray
@pytest.mark.model
def test_a_corpus_with_bad_inputs_through_ray_equals_the_plain_run(ray_cluster, tmp_path):
    """Skipped inputs (in their order), repeated ids, a JSONL file with bad lines
    and an empty one, a page cut at --max-chars: reported as the plain run reports them."""
    corpus = tmp_path / "corpus"
    shutil.copytree(EXAMPLES, corpus)
    (corpus / "notes.csv").write_text("a,b\n", encoding="utf-8")
    (corpus / "empty.txt").write_text("  \n", encoding="utf-8")
    (corpus / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    lines = [
        json.dumps({"id": "storm_en.txt", "text": "A repeated id, kept out."}),
        "{not json",
        json.dumps({"id": "r1", "text": "Short record about the metro in Ho Chi Minh City.", "lang": "FRENCH"}),
        "",
        json.dumps({"id": "r1", "text": "Same id again."}),
        json.dumps({"id": "x#teaser-1", "text": "A reserved id."}),
    ]
    (corpus / "records.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (corpus / "blank.jsonl").write_text("\n\n", encoding="utf-8")
    address, env = ray_cluster
    plain, ray = plain_and_ray(corpus, tmp_path, address, env, "--max-chars", 600)
    assert ray == plain
    assert len(ray["skipped"]) >= 6 and ray["truncated"] and ray["unrecognised_lang"]


@pytest.mark.ray
@pytest.mark.model
def test_update_through_ray_equals_the_plain_update(ray_cluster, tmp_path):
    """Two nights of `cluster update`, the second with a new page: the same reports."""
    address, env = ray_cluster
    corpus = tmp_path / "corpus"
    shutil.copytree(EXAMPLES, corpus)
    (corpus / "metro_vi.txt").rename(tmp_path / "metro_vi.txt")  # arrives on night 2
    reports: dict[str, list[dict]] = {"plain": [], "ray": []}
    for night in (1, 2):
        if night == 2:
            shutil.copy(tmp_path / "metro_vi.txt", corpus / "metro_vi.txt")
        for name, more in (("plain", ()), ("ray", ("--ray", address))):
            report = tmp_path / f"{name}-{night}.json"
            state = tmp_path / f"{name}.sqlite"
            done = cluster_cli(
                "update",
                corpus,
                "--state",
                state,
                "--report",
                report,
                "--cache-dir",
                tmp_path / f"cache-{name}",
                "-q",
                *more,
                env=env,
            )
            assert done.returncode == 0, done.stderr[-3000:]
            data = json.loads(report.read_text(encoding="utf-8"))
            for key in ("timings", "started", "finished", "state"):
                data.pop(key, None)
            reports[name].append(data)
    assert reports["ray"] == reports["plain"]
    assert reports["ray"][1]["counts"]["new"] >= 1
    assert reports["ray"][1]["counts"]["embedded"] == reports["plain"][1]["counts"]["embedded"] > 0


def _synthetic_corpus(path: Path, records: int) -> Path:
    """``records`` JSONL records from the example pages' openings, each with its own
    closing sentence: enough embedding (two batches) to kill an actor in the middle."""
    pages = sorted(p for p in EXAMPLES.glob("*.txt"))
    texts = [p.read_text(encoding="utf-8")[:700] for p in pages]
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(records):
            text = texts[i % len(texts)] + f"\n\nUpdate {i}: the desk filed this version at {i % 24:02d}:{i % 60:02d}."
            fh.write(json.dumps({"id": f"r{i:04d}", "text": text}) + "\n")
    return path


def _encode_actors() -> list[tuple[int, str]]:
    """(pid, title) of the embedding actors on this machine (Ray titles its
    processes ``ray::<actor>.<method>`` while they run a task)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode("utf-8", "replace")
        except OSError:
            continue
        if title.startswith("ray::MapWorker(MapBatches(Encode))"):
            found.append((int(entry.name), title))
    return found


@pytest.mark.ray
@pytest.mark.model
def test_a_worker_killed_while_embedding_is_retried_and_the_result_is_the_same(ray_cluster, tmp_path):
    address, env = ray_cluster
    corpus = _synthetic_corpus(tmp_path / "records.jsonl", 160)
    plain_out, ray_out = tmp_path / "plain.json", tmp_path / "ray.json"
    done = cluster_cli(corpus, "--out", plain_out, "--cache-dir", tmp_path / "cache-plain", "-q", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    before = {pid for pid, _ in _encode_actors()}
    run = subprocess.Popen(
        [sys.executable, "-m", "clusterer", corpus, "--out", ray_out, "--cache-dir", tmp_path / "cache-ray", "-q"]
        + ["--ray", address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    killed = None
    deadline = time.monotonic() + 600
    while killed is None and run.poll() is None and time.monotonic() < deadline:
        for pid, title in _encode_actors():
            if pid not in before and title.endswith(".submit"):  # embedding a batch right now
                os.kill(pid, signal.SIGKILL)
                killed = (pid, title)
                break
        time.sleep(0.02)
    out, err = run.communicate(timeout=900)
    assert killed is not None, "no embedding actor was seen at work: nothing was killed"
    assert run.returncode == 0, err[-3000:]
    assert result_of(ray_out) == result_of(plain_out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.ray
@pytest.mark.parametrize("address", ["free port", "no-port-here"])
def test_a_dead_or_bad_address_is_one_line_and_exit_1(tmp_path, address):
    _need_ray()
    env = {**os.environ, **loopback_env(str(tmp_path))}
    if address == "free port":
        address = f"127.0.0.1:{_free_port()}"  # nothing listens there
    started = time.monotonic()
    done = cluster_cli(EXAMPLES, "--ray", address, "--cache-dir", tmp_path / "cache", "-q", env=env, timeout=120)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: "), done.stderr
    assert f"--ray {address}: not a Ray address" in done.stderr or "no Ray cluster answers at" in done.stderr
    assert "Traceback" not in done.stderr
    assert time.monotonic() - started < 60
