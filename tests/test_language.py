"""Language identification with the bundled py3langid model."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import shared_path

from clusterer.language import LanguageIdentifier, detect_language, normalise_code
from clusterer.read import read_corpus
from clusterer.records import ARTICLE, Item
from clusterer.segment import segment

DATA = Path(__file__).parent / "data" / "corpus"


@pytest.fixture(scope="module")
def langid():
    return LanguageIdentifier()


@pytest.mark.parametrize(
    "text, code",
    [
        ("The government announced a new plan to build more schools in rural areas.", "en"),
        ("Le gouvernement a annoncé un nouveau plan pour construire des écoles.", "fr"),
        ("Chính phủ đã công bố kế hoạch mới để xây dựng thêm trường học.", "vi"),
        ("Die Regierung hat einen neuen Plan zum Bau von Schulen angekündigt.", "de"),
        ("Правительство объявило о новом плане строительства школ.", "ru"),
    ],
)
def test_detect(langid, text, code):
    assert langid.detect(text) == code


@pytest.mark.parametrize("text", ["", "ok", "12 345 !!", "   "])
def test_too_short_is_none(langid, text):
    assert langid.detect(text) is None


def test_unreliable_is_none():
    strict = LanguageIdentifier(min_confidence=0.99)
    assert strict.detect("Hello") is None


def test_restricted_languages():
    ident = LanguageIdentifier(languages=["fr", "vi"])
    assert ident.detect("The government announced a new plan for the schools.") in {"fr", "vi", None}


def test_bad_parameters():
    with pytest.raises(ValueError):
        LanguageIdentifier(min_confidence=2)
    with pytest.raises(ValueError):
        LanguageIdentifier(min_letters=0)


def test_model_loaded_once_per_object(langid):
    langid.detect("Un texte en français pour charger le modèle.")
    model = langid._model
    langid.detect("Another text in English.")
    assert langid._model is model and LanguageIdentifier()._model is None


def test_fill_normalises_given_codes(langid):
    items = [
        Item(id="a", doc="a", kind=ARTICLE, text="Le président a reçu la délégation hier."),
        Item(id="b", doc="b", kind=ARTICLE, text="Some English text here.", lang="zh-yue"),
        Item(id="c", doc="c", kind=ARTICLE, text="x"),
        Item(id="d", doc="d", kind=ARTICLE, text="", title="Bộ trưởng tiếp đoàn công tác"),
    ]
    langid.fill(items)
    assert [i.lang for i in items] == ["fr", "zh", None, "vi"]  # given codes normalised (zh-yue -> zh)


def test_normalise_code():
    assert normalise_code("PT_br") == "pt"
    assert normalise_code("yue") == "zh"
    assert normalise_code("zxx") is None and normalise_code(None) is None


def test_detect_language_function(langid):
    assert detect_language("Le gouvernement a annoncé un plan.", langid) == "fr"
    assert detect_language("ab") is None


def test_fixture_pages(langid):
    records, _ = read_corpus(DATA)
    items = [i for r in records for i in segment(r)]
    langid.fill(items)
    langs = {i.id: i.lang for i in items if i.kind == ARTICLE}
    assert langs == {
        "en_flood.txt": "en",
        "fr_sommet.txt": "fr",
        "page.html": "en",
        "j1": "en",
        "j4": "de",
        "sub/vi_hop_tac.md": "vi",
    }
    assert all(i.lang == "fr" for i in items if i.doc == "fr_sommet.txt")


def test_real_seed_languages(langid):
    records, _ = read_corpus(shared_path("seeds"))
    items = [i for r in records for i in segment(r)]
    langid.fill(items)
    langs = {i.id[:3]: i.lang for i in items if i.kind == ARTICLE}
    assert langs == {"000": "fr", "001": "fr", "002": "fr", "003": "vi", "004": "fr"}
    assert all(i.lang == "fr" for i in items if i.kind != ARTICLE)
