"""The README's example corpus, through the CLI and the real bundled model."""

import json
from pathlib import Path

from click.testing import CliRunner

from clusterer.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "corpus"


def test_example_corpus(tmp_path, model_cache):
    out = tmp_path / "result.json"
    result = CliRunner().invoke(main, [str(EXAMPLES), "--out", str(out), "-q", "--cache-dir", str(model_cache)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    stories = sorted(sorted(s["members"]) for s in data["stories"])
    assert stories == [["metro_en.txt", "metro_vi.txt"], ["storm_de.txt", "storm_en.txt", "storm_fr.txt"]]
    assert [g["members"] for g in data["duplicate_groups"]] == [["storm_en.txt", "storm_fr.txt"]]
    assert sorted(data["noise"]) == ["jazz-fr", "metro_vi.txt#teaser-1", "metro_vi.txt#teaser-2"]
    jazz = next(it for it in data["items"] if it["id"] == "jazz-fr")
    assert jazz["doc"] == "jazz-fr" and jazz["lang"] == "fr"
