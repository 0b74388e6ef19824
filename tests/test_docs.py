"""What the README and the docs pages show, run: their commands through the CLI and their Python
examples, with the deterministic fake encoder in place of the model. The figures and summaries
they print need the real model; tests/test_examples.py, test_seeds.py and test_browser.py run
those. docs/development.md says which other test files run the docs' other commands."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import FakeEncoder

import clusterer.cli as cli
import clusterer.pipeline as pipeline
from clusterer.cli import main
from clusterer.pipeline import Clusterer

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def section(path: Path, heading: str) -> str:
    """The text under a heading, to the next heading of its level or above (or the end)."""
    text = path.read_text(encoding="utf-8")
    level = heading.split(" ", 1)[0]
    start = text.index(f"\n{heading}\n")
    ends = [text.find(f"\n{'#' * n} ", start + 1) for n in range(1, len(level) + 1)]
    ends = [e for e in ends if e >= 0]
    return text[start : min(ends) if ends else len(text)]


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def cluster_commands(text: str) -> list[list[str]]:
    """The `cluster ...` lines of a text's sh blocks, as argument lists (comments dropped)."""
    lines = [line for block in blocks(text, "sh") for line in block.splitlines()]
    return [shlex.split(line, comments=True)[1:] for line in lines if line.startswith("cluster ")]


def invoke(*args) -> str:
    done = CliRunner().invoke(main, [str(a) for a in args])
    assert done.exit_code == 0, (args, done.output)
    return done.output


@pytest.fixture
def here(tmp_path, monkeypatch):
    """A working folder with the example corpus in it, and the fake encoder wherever the CLI or
    a plain ``Clusterer()`` would load the model."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.setattr(cli, "make_clusterer", lambda *a, **kw: Clusterer(encoder=FakeEncoder(), cache_dir=None))
    monkeypatch.setattr(pipeline, "get_encoder", lambda *a, **kw: FakeEncoder())
    return tmp_path


def test_the_readme_test_command_is_what_ci_runs():
    install, tests = blocks(README.read_text(encoding="utf-8"), "sh")[:2]
    assert install.strip().endswith("&& cluster examples/corpus --out result.json")  # tests/test_examples.py runs it
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert tests.strip() == ". .venv/bin/activate && " + ci[-1] == ". .venv/bin/activate && python -m pytest -q"


def test_the_readme_commands_run(here):
    text = section(README, "## Four ways in")
    commands = cluster_commands(text)
    assert [c[0] for c in commands] == ["examples/corpus", "update"]
    for command in commands:
        invoke(*command)
    for name in ("result.json", "stories.html", "state.sqlite", "report.json"):
        assert (here / name).stat().st_size > 0, name
    assert json.loads((here / "report.json").read_text(encoding="utf-8"))["kind"] == "batch"
    # the table of the other commands, each with concrete arguments where it shows placeholders
    table = re.findall(r"^\| `cluster (\w+)[^`]*` \|", text, re.M)
    assert table == ["explain", "report", "dedup", "eval", "settings", "update"]
    assert "storm_en.txt" in invoke("explain", "result.json", "storm_en.txt", "storm_fr.txt")
    invoke("report", "result.json", "--out", "tables", "--format", "csv")
    assert (here / "tables" / "items.csv").exists()
    invoke("dedup", "examples/corpus", "--out", "kept.jsonl", "-q")
    assert (here / "kept.jsonl").stat().st_size > 0
    invoke("eval", ROOT / "tests" / "data" / "threads" / "validation.jsonl", "-q")
    assert "stories.threshold" in invoke("settings")


def test_the_readme_python_example_runs(here):
    [code] = blocks(section(README, "## Four ways in"), "python")
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    result = namespace["result"]
    assert {"storm_en.txt", "jazz-fr"} <= {it.id for it in result.items}
    assert result.model == "fake/bow-256"


def test_the_api_pages_first_example_runs(here):
    code = blocks((DOCS / "python-api.md").read_text(encoding="utf-8"), "python")[0]
    namespace: dict = {}
    exec(compile(code, str(DOCS / "python-api.md"), "exec"), namespace)
    assert [it.id for it in namespace["more"].items] == ["a", "b"]
    english, result = namespace["english"], namespace["result"]
    assert [s.id for s in english.stories] == [s.id for s in result.stories]


def test_the_nightly_pages_python_example_runs(here):
    (here / "corpus").symlink_to(ROOT / "examples" / "corpus")
    [code] = blocks((DOCS / "nightly.md").read_text(encoding="utf-8"), "python")
    namespace: dict = {}
    exec(compile(code, str(DOCS / "nightly.md"), "exec"), namespace)
    report = namespace["report"]
    assert report.kind == "batch" and report.counts["new"] == 8
    assert (here / "state.sqlite").exists()


def test_update_rebuild_through_the_cli(here):
    """docs/nightly.md: `cluster update CORPUS --state state.sqlite [--report report.json] [--rebuild]`."""
    invoke("update", "examples/corpus", "--state", "state.sqlite", "-q")
    invoke("update", "examples/corpus", "--state", "state.sqlite", "--report", "report.json", "--rebuild", "-q")
    assert json.loads((here / "report.json").read_text(encoding="utf-8"))["kind"] == "rebuild"


def test_eval_writes_its_metrics(here):
    """docs/evaluation.md: `cluster eval GOLD.jsonl [--out metrics.json]` (the scores need the model)."""
    invoke("eval", ROOT / "tests" / "data" / "threads" / "validation.jsonl", "--out", "metrics.json", "-q")
    data = json.loads((here / "metrics.json").read_text(encoding="utf-8"))
    assert set(data) == {"metrics", "result"} and data["result"]["items"]


def test_a_labelled_jsonl_corpus_makes_a_browser_page(here):
    """docs/browser.md: `cluster tests/data/threads/threads.jsonl --html threads.html` (the same
    shape as its `cluster eval_data/itn.jsonl --html itn.html -q`, whose corpus is not in the repo)."""
    (here / "tests").symlink_to(ROOT / "tests")
    text = re.sub(r"\s+", " ", (DOCS / "browser.md").read_text(encoding="utf-8"))
    [command] = re.findall(r"`cluster (tests/data/threads/threads\.jsonl [^`]*)`", text)
    invoke(*shlex.split(command), "-q")
    assert (here / "threads.html").stat().st_size > 0


def test_a_folder_named_like_a_command(here):
    """docs/settings.md: a folder named `eval` is given as `./eval` or with `cluster run eval`."""
    (here / "eval").mkdir()
    (here / "eval" / "a.txt").write_text("Storm Elin hits Brittany.", encoding="utf-8")
    assert invoke("run", "eval", "-q") == invoke("./eval", "-q")
    assert "1 item" in invoke("run", "eval", "-q")


def test_explain_on_the_realistic_pages(here):
    """docs/input-output.md: `cluster explain result.json grid_wire.txt grid_ru.txt` (its figures
    need the model: tests/test_realistic_pages.py checks that pair's evidence)."""
    text = (DOCS / "input-output.md").read_text(encoding="utf-8")
    [shown] = re.findall(r"^\$ cluster (explain .*)$", text, re.M)
    invoke(ROOT / "tests" / "data" / "realistic" / "pages", "--out", "result.json", "-q")
    output = invoke(*shlex.split(shown))
    assert output.startswith("grid_wire.txt: article, language en")
    assert "grid_ru.txt: article, language ru" in output
