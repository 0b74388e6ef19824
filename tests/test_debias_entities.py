import numpy as np

from clusterer.debias import center_by_language, language_means
from clusterer.entities import fold


def test_centring_removes_a_language_offset():
    rng = np.random.default_rng(0)
    topics = rng.normal(size=(2, 32))
    fr_shift, vi_shift = rng.normal(size=32) * 3, rng.normal(size=32) * 3
    # topic 0 in French and in Vietnamese, topic 1 in French and in Vietnamese, plus filler
    rows, langs = [], []
    for t in range(2):
        for lang, shift in (("fr", fr_shift), ("vi", vi_shift)):
            rows.append(topics[t] + shift + rng.normal(size=32) * 0.1)
            langs.append(lang)
    for _ in range(20):
        for lang, shift in (("fr", fr_shift), ("vi", vi_shift)):
            rows.append(rng.normal(size=32) + shift)
            langs.append(lang)
    x = np.array(rows, dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    raw = x @ x.T
    assert raw[0, 2] > raw[0, 1]  # raw: same language beats same topic
    c = center_by_language(x, langs, shrink=1.0)
    cos = c @ c.T
    assert cos[0, 1] > cos[0, 2]  # centred: same topic across languages wins
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 1.0, rtol=1e-5)


def test_language_mean_shrinks_toward_corpus_mean_for_rare_languages():
    x = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=np.float32)
    means = language_means(x, ["fr", "fr", "fr", "vi"], shrink=1.0)
    overall = x.mean(axis=0)
    np.testing.assert_allclose(means["vi"], 0.5 * np.array([0, 1]) + 0.5 * overall)
    np.testing.assert_allclose(means["fr"], 0.75 * np.array([1, 0]) + 0.25 * overall)


def test_single_item_language_does_not_vanish():
    x = np.eye(3, dtype=np.float32)
    c = center_by_language(x, ["a", "b", "c"], shrink=5.0)
    assert np.isfinite(c).all() and (np.linalg.norm(c, axis=1) > 0.99).all()


def test_centring_some_rows_gives_those_rows_of_the_whole(monkeypatch):
    # analyse centres the articles and the teasers apart (no whole matrix next to a
    # copy of the articles'); their rows must be the whole result's, bit for bit,
    # also when the work goes in blocks
    import clusterer.debias as debias

    monkeypatch.setattr(debias, "_BLOCK", 7)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((60, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    langs = list(rng.choice(["en", "fr", "vi"], 60))
    langs[5] = None
    whole = center_by_language(x, langs)
    rows = [40, 3, 5, 59, 3]
    part = center_by_language(x, langs, rows=rows)
    assert part.view(np.uint32).tolist() == whole[rows].view(np.uint32).tolist()
    assert center_by_language(x, langs, rows=[]).shape == (0, 16)
    np.testing.assert_allclose(np.linalg.norm(whole, axis=1), 1.0, atol=1e-6)


def test_fold_strips_diacritics_and_case():
    assert fold("Mai Tiến Dũng, Đà Nẵng") == "mai tien dung, da nang"


def test_figures_are_read_as_their_significant_digits_in_any_counting():
    """A translation that counts in other units keeps its figures: 25,000 dong is
    2万5000ドン in Japanese and 2.5万 in Chinese, 75 million is 7,500万, 1.2 thousand
    is 1,2 tys. in Polish."""
    from clusterer.entities import numbers

    assert numbers("25,000 dong") == numbers("2万5000ドン") == numbers("2.5万") == numbers("2만5000원") == {"25"}
    assert numbers("3億2000万円") == numbers("320 million") == {"32"}
    assert numbers("£75m") == numbers("7,500万ポンド") == {"75"}
    assert numbers("1.200 Gäste") == numbers("1,2 tys.") == {"12"}
    assert numbers("in 2025, 1万人") == {"2025"}  # one digit alone is no figure
