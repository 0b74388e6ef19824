"""Story and duplicate settings by name: from --set pairs and a TOML file, checked."""

import pytest

from clusterer.duplicates import DuplicateParams
from clusterer.settings import SettingsError, describe, load_settings
from clusterer.stories.similarity import StoryParams


def test_defaults_and_changes_by_name(tmp_path):
    assert load_settings() == (StoryParams(), DuplicateParams())
    config = tmp_path / "clusterer.toml"
    config.write_text(
        "[stories]\nthreshold = 0.35\ntime_scale_days = 14\n[duplicates]\nneighbours = 20\n", encoding="utf-8"
    )
    stories, dups = load_settings(
        config, ["stories.threshold=0.4", "stories.long_threshold=none", "duplicates.min_share=0.5"]
    )
    assert stories.threshold == 0.4 and stories.time_scale_days == 14.0 and stories.long_threshold is None
    assert dups.neighbours == 20 and isinstance(dups.neighbours, int) and dups.min_share == 0.5
    assert StoryParams().threshold == 0.30  # the defaults themselves are untouched


@pytest.mark.parametrize(
    "pair, message",
    [
        ("stories.treshold=0.3", "unknown setting stories.treshold"),
        ("story.threshold=0.3", "unknown setting story.threshold"),
        ("threshold=0.3", "expected NAME=VALUE"),
        ("stories.threshold", "expected NAME=VALUE"),
        ("stories.threshold=high", "must be a number"),
        ("duplicates.neighbours=2.5", "must be a whole number"),
        ("stories.threshold=none", "must be a number, not 'none'"),
        ("stories.threshold=-1", "cannot be negative"),
        ("stories.threshold=nan", "not NaN"),
    ],
)
def test_bad_settings_are_one_clear_line(pair, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(pairs=[pair])


def test_bad_config_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[stories\nthreshold = 0.3\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(bad)
    other = tmp_path / "other.toml"
    other.write_text("[teasers]\nmargin = 0.1\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"unknown table \[teasers\]"):
        load_settings(other)
    with pytest.raises(SettingsError, match="cannot read the config file"):
        load_settings(tmp_path / "missing.toml")


def test_describe_lists_every_setting():
    lines = describe().splitlines()
    assert "stories.threshold = 0.3" in lines and "duplicates.min_share = 0.6" in lines
    assert "stories.long_threshold = 0.25" in lines
    assert len(lines) == len(StoryParams.__dataclass_fields__) + len(DuplicateParams.__dataclass_fields__)
