"""Property-based tests (Hypothesis): arbitrary text, bytes, dates and language codes never
make the readers, the segmenter, date parsing, language handling or the duplicate features
raise anything but the project's own errors.

CI runs a bounded number of examples (the "ci" profile); a longer run:
``HYPOTHESIS_PROFILE=long python -m pytest -q tests/test_properties.py``.
"""

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clusterer.chrome import is_byline, is_chrome, is_date_line, parse_date
from clusterer.duplicates import TextFeatures
from clusterer.errors import ClustererError
from clusterer.language import LanguageIdentifier, normalise_code
from clusterer.length import content_length
from clusterer.read import read_corpus
from clusterer.records import ARTICLE, NO_DATE_YEARS, TEASER, Item, Record, day_number
from clusterer.segment import segment

settings.register_profile(
    "ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.register_profile(
    "long", max_examples=5_000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# text with the characters that trouble parsers: controls, surrogate-free Unicode, newlines, markers
page_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=2_000) | st.lists(
    st.sampled_from(
        [
            "Voir plus",
            "Read more",
            "Xem thêm",
            "date 2018-12",
            "Photo: VNA",
            "By Jane Doe",
            "26/05/2025 10:54 GMT+7",
            "Share",
            "Home > World",
            "",
            "  ",
            "\t",
            "a headline",
            "A sentence that ends with a period.",
            "Nguồn: http://x.vn/a",
            "ảnh 1",
            "»",
            "|",
        ]
    ),
    max_size=40,
).map("\n".join)


@given(page_text)
def test_segment_never_raises_and_ids_are_well_formed(text):
    items = segment(Record(id="p", text=text))
    assert items[0].kind == ARTICLE and items[0].id == "p"
    teasers = items[1:]
    assert all(t.kind == TEASER for t in teasers)
    assert [t.id for t in teasers] == [f"p#teaser-{k}" for k in range(1, len(teasers) + 1)]


@given(page_text | st.text(alphabet=" \t\r\na\u00a0\u200b\u3000", max_size=60))
def test_page_lines_are_normalised_as_one_blank_per_run_of_spaces_and_tabs(text):
    """segment's line normalising, against its definition line by line."""
    import re

    from clusterer.segment import _normalise

    plain = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    plain = plain.replace("\u200b", "").replace("\ufeff", "")
    assert _normalise(text) == [re.sub(r"[ \t]+", " ", line).strip() for line in plain.split("\n")]


@given(page_text, st.integers(min_value=1, max_value=300))
def test_a_snippet_is_the_opening_of_the_text_with_its_blanks_made_one_space(text, n):
    from clusterer.result import snippet

    whole = " ".join(text.split())
    assert snippet(text, n) == (whole if len(whole) <= n else whole[: n - 1] + "…")


@given(st.text(alphabet=' \t.!?:;"\u00ab\u00bb\u201c\u201d\u3002\uff01\u00a0\u2003aZ,', max_size=30))
def test_a_word_opens_a_sentence_after_nothing_but_blanks_or_a_sentence_end(prefix):
    """entities._opens_sentence, against its definition as a pattern over the text before the word."""
    import re

    from clusterer.entities import _opens_sentence

    end = re.compile(r"[.!?\u3002\uff01\uff1f:;\"\u00ab\u00bb\u201c\u201d]\s*$")
    assert _opens_sentence(prefix + "Word", len(prefix)) == (not prefix.strip() or bool(end.search(prefix)))


@given(st.text(max_size=200))
def test_date_parsing_never_raises(line):
    parsed = parse_date(line)
    assert parsed is None or (
        len(parsed) == 10 and (day_number(parsed) is not None or int(parsed[:4]) in NO_DATE_YEARS)
    )
    is_date_line(line), is_byline(line), is_chrome(line)
    day_number(line)


@given(st.datetimes(timezones=st.timezones() | st.none()))
def test_any_iso_datetime_has_a_day_number(when):
    assert (day_number(when.isoformat()) is None) == (when.year in NO_DATE_YEARS)


_LANGID = LanguageIdentifier()  # the model loads once for all examples


@given(st.text(max_size=300), st.one_of(st.none(), st.text(max_size=12)))
def test_language_handling_never_raises(text, lang):
    item = Item(id="a", doc="a", kind=ARTICLE, text=text, lang=lang)
    _LANGID.fill([item])
    assert item.lang is None or item.lang == normalise_code(item.lang)


@given(st.text(max_size=3_000), st.one_of(st.none(), st.sampled_from(["en", "zh", "ja", "th", "vi", "xx"])))
def test_duplicate_features_never_raise(text, lang):
    f = TextFeatures.of(text, lang)
    assert f.chars == content_length(text) >= len(text) and f.grams >= 0


@given(
    st.lists(
        st.tuples(st.sampled_from(["a.txt", "b.md", "c.jsonl", "d.html", "e.txt"]), st.binary(max_size=500)),
        min_size=1,
        max_size=5,
        unique_by=lambda t: t[0],
    )
)
@settings(max_examples=60)
def test_reading_arbitrary_bytes_never_raises_but_our_errors(tmp_path_factory, files):
    folder = tmp_path_factory.mktemp("corpus")
    for name, data in files:
        (folder / name).write_bytes(data)
    try:
        records, skipped = read_corpus(folder)
    except ClustererError:
        return  # e.g. no usable document: one clear error
    assert len({r.id for r in records}) == len(records)
    for record in records:
        assert isinstance(record.text, str) and record.text.strip()
    assert all(s.reason for s in skipped)


@pytest.mark.parametrize(
    "line",
    [
        '{"id": "a", "text": "x", "date": "0001-01-01T00:00:00+01:00"}',
        '{"id": "a", "text": "x", "lang": 5}',
        "[1, 2]",
        '{"id": null}',
        '"',
    ],
)
def test_odd_json_lines_are_records_or_reported(tmp_path, line):
    (tmp_path / "r.jsonl").write_text(line + "\n" + '{"id": "ok", "text": "Storm hits."}\n', encoding="utf-8")
    records, skipped = read_corpus(tmp_path)
    assert "ok" in [r.id for r in records]
