"""Side effects at the edges: no file where none was asked for, the project's errors
where the OS or SQLite fails at the state's boundary, and the command line's one
mapping from an error to one line and an exit code."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from fakes import FakeEncoder

from clusterer import Clusterer, Nightly, StateError
from clusterer.cli import EXIT_TEMPFAIL, errors_in_one_line, one_line
from clusterer.errors import CorpusError, StateLocked
from clusterer.nightly.state import State, StateLock

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "corpus"


def test_no_cache_dir_writes_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    enc = FakeEncoder()
    with Clusterer(encoder=enc, cache_dir=None) as c:  # the prior's reference texts embedded too
        result = c.run(EXAMPLES)
        c.from_embeddings([{"id": "a", "text": "Storm Elin hits Brittany."}], enc.encode(["Storm Elin"]))
    assert result.items and list(tmp_path.iterdir()) == []


def test_a_state_that_cannot_be_kept_is_a_state_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    state = blocker / "state.sqlite"
    with pytest.raises(StateError, match="cannot create the folder of the state"):
        State(state)
    with pytest.raises(StateError, match="cannot create the state's lock file"):
        StateLock(state).acquire()
    with pytest.raises(StateError):
        Nightly(state, Clusterer(encoder=FakeEncoder(), cache_dir=None)).update(EXAMPLES)


def _command(error: BaseException, **where):
    @click.command()
    @errors_in_one_line
    def command():
        with one_line(**where):
            raise error

    return command


@pytest.mark.parametrize(
    ("error", "where", "code", "line"),
    [
        (CorpusError("no usable record in the corpus"), {}, 1, "Error: no usable record in the corpus"),
        (StateLocked("another update is running"), {}, EXIT_TEMPFAIL, "Error: another update is running"),
        (PermissionError(13, "Permission denied"), {"writing": "o.json"}, 1, "cannot write o.json: Permission denied"),
        (ValueError("not JSON"), {"reading": "r.json"}, 1, "Error: cannot read r.json: not JSON"),
        (OSError("gone"), {"reading": "r.json"}, 1, "Error: cannot read r.json: gone"),
        (KeyError("x1"), {"reading": "r.json"}, 1, "Error: no item 'x1' in r.json"),
    ],
)
def test_errors_become_one_line_and_an_exit_code(error, where, code, line):
    result = CliRunner().invoke(_command(error, **where), [])
    assert result.exit_code == code and result.output.strip().endswith(line) and result.output.count("\n") == 1


@pytest.mark.parametrize("error", [ValueError("a bug"), KeyError("a bug"), OSError("a bug")])
def test_other_errors_keep_their_traceback(error):
    result = CliRunner().invoke(_command(error), [])
    assert result.exception is error
