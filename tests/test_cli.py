from pathlib import Path

from click.testing import CliRunner

from clusterer.cli import main


def test_every_command_has_help():
    runner = CliRunner()
    for name, command in main.commands.items():
        assert command.help, f"command {name} has no help text"
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output


def test_missing_corpus_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(main, [str(tmp_path / "nowhere")])
    assert result.exit_code != 0
    assert "does not exist" in result.output
    assert "Traceback" not in result.output


def test_unusable_corpus_names_the_files(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"\x00\x00binary")
    (tmp_path / "b.txt").write_text("   \n", encoding="utf-8")
    result = CliRunner().invoke(main, [str(tmp_path), "--cache-dir", str(tmp_path / "c"), "-q"])
    assert result.exit_code == 1
    assert result.output.startswith("Error:")
    assert "a.txt" in result.output and "Traceback" not in result.output


def test_unknown_model_folder_is_a_clear_error(tmp_path):
    (tmp_path / "a.txt").write_text("Some text.", encoding="utf-8")
    missing = tmp_path / "models" / "nothing-here"
    result = CliRunner().invoke(
        main, [str(tmp_path), "--model", str(missing), "-q", "--cache-dir", str(tmp_path / "c")]
    )
    assert result.exit_code == 1
    assert "cannot load model" in result.output and "Traceback" not in result.output


def test_bad_gold_line_is_reported_with_its_number(tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"id": "a", "text": "x", "story": "s"}\n{not json}\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["eval", str(gold), "-q", "--cache-dir", str(tmp_path / "c")])
    assert result.exit_code == 1
    assert "line 2" in result.output


def test_report_prints_a_saved_result_as_the_run_did(tmp_path, fake_encoder, monkeypatch):
    import clusterer.cli as cli
    from clusterer.pipeline import Clusterer

    monkeypatch.setattr(cli, "make_clusterer", lambda *a, **kw: Clusterer(encoder=fake_encoder, cache_dir=None))
    out = tmp_path / "result.json"
    corpus = Path(__file__).resolve().parents[1] / "examples" / "corpus"
    run = CliRunner().invoke(main, [str(corpus), "--out", str(out), "-q"])
    assert run.exit_code == 0, run.output
    shown = CliRunner().invoke(main, ["report", str(out)])
    assert shown.exit_code == 0 and shown.output.strip() == run.output.split("\nWrote ")[0].strip()
    (tmp_path / "bad.json").write_text('{"items": 3}', encoding="utf-8")
    bad = CliRunner().invoke(main, ["report", str(tmp_path / "bad.json")])
    assert bad.exit_code == 1 and "not a clusterer result" in bad.output


def test_counts_in_the_summary_agree_with_their_nouns():
    from clusterer.report import count

    assert [
        count(1, "story", "stories"),
        count(2, "story", "stories"),
        count(0, "page"),
        count(1, "duplicate group"),
        count(12000, "item"),
    ] == ["1 story", "2 stories", "0 pages", "1 duplicate group", "12,000 items"]


def test_settings_options_and_folders_reach_the_clusterer(tmp_path, fake_encoder, monkeypatch):
    import clusterer.cli as cli
    from clusterer.pipeline import Clusterer

    seen = []
    real = cli.make_clusterer

    def capture(options):
        seen.append(real(options))
        return Clusterer(encoder=fake_encoder, cache_dir=None)

    monkeypatch.setattr(cli, "make_clusterer", capture)
    config = tmp_path / "clusterer.toml"
    config.write_text("[stories]\nthreshold = 0.4\n[duplicates]\nmin_share = 0.7\n", encoding="utf-8")
    corpus = Path(__file__).resolve().parents[1] / "examples" / "corpus"
    result = CliRunner(
        env={"CLUSTERER_CACHE_DIR": str(tmp_path / "c"), "CLUSTERER_MODEL_DIR": str(tmp_path / "m")}
    ).invoke(
        main,
        [
            str(corpus),
            "-q",
            "--config",
            str(config),
            "--set",
            "stories.threshold=0.35",
            "--set",
            "stories.time_scale_days=none",
        ],
    )
    assert result.exit_code == 0, result.output
    made = seen[0]
    assert made.stories.threshold == 0.35 and made.stories.time_scale_days is None
    assert made.duplicates.min_share == 0.7
    assert str(made.cache_dir) == str(tmp_path / "c") and str(made.model_dir) == str(tmp_path / "m")


def test_a_bad_setting_is_one_line_before_any_work(tmp_path):
    corpus = Path(__file__).resolve().parents[1] / "examples" / "corpus"
    result = CliRunner().invoke(
        main, [str(corpus), "-q", "--set", "stories.treshold=0.3", "--cache-dir", str(tmp_path / "c")]
    )
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "unknown setting stories.treshold" in result.output


def test_settings_lists_every_setting():
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code == 0 and "stories.threshold = 0.3" in result.output.splitlines()
