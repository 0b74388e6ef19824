import sqlite3

import numpy as np
import pytest
from fakes import FakeEncoder

from clusterer.embed.cache import Embedder, EmbeddingCache, text_key


def test_second_run_embeds_nothing(tmp_path):
    enc = FakeEncoder()
    texts = ["alpha beta", "gamma delta", "alpha beta"]
    first = Embedder(enc, cache_dir=tmp_path, batch_size=2).embed(texts)
    assert len(enc.texts) == 2  # the repeated text is embedded once
    again = Embedder(enc, cache_dir=tmp_path, batch_size=2)
    second = again.embed(texts)
    assert len(enc.texts) == 2 and again.encoded == 0
    np.testing.assert_array_equal(first, second)


def test_changed_text_is_reembedded(tmp_path):
    enc = FakeEncoder()
    Embedder(enc, cache_dir=tmp_path).embed(["one text", "another text"])
    e = Embedder(enc, cache_dir=tmp_path)
    e.embed(["one text", "another text, edited"])
    assert e.encoded == 1


def test_keys_depend_on_model():
    assert text_key("model-a", "x") != text_key("model-b", "x")
    assert text_key("model-a", "x") == text_key("model-a", "x")


def test_batches_done_before_a_crash_are_kept(tmp_path):
    def killed_at_the_second(batch: int) -> None:
        if batch == 2:
            raise RuntimeError("killed")

    enc = FakeEncoder(before_batch=killed_at_the_second)
    with pytest.raises(RuntimeError):
        Embedder(enc, cache_dir=tmp_path, batch_size=2).embed(["a", "bb", "ccc", "dddd"])
    cache = EmbeddingCache(tmp_path, enc.name)
    assert len(cache) == 2  # the first batch, whole; the second, not at all
    path = cache.path
    cache.close()
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    resumed = Embedder(FakeEncoder(), cache_dir=tmp_path, batch_size=2)
    resumed.embed(["a", "bb", "ccc", "dddd"])
    assert resumed.encoded == 2


def test_no_cache_dir_means_no_files(tmp_path):
    enc = FakeEncoder()
    vecs = Embedder(enc, cache_dir=None).embed(["x y", "z"])
    assert vecs.shape == (2, enc.dim)
    assert list(tmp_path.iterdir()) == []


def test_progress_reports_to_total(tmp_path):
    seen = []
    Embedder(
        FakeEncoder(), cache_dir=tmp_path, batch_size=2, progress=lambda done, total: seen.append((done, total))
    ).embed(["a", "b", "c"])
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_damaged_cache_is_moved_aside_and_rebuilt(tmp_path, damage):
    enc = FakeEncoder()
    texts = [f"text number {i} " * 40 for i in range(300)]
    embedder = Embedder(enc, cache_dir=tmp_path)
    first = embedder.embed(texts)
    embedder.close()
    [path] = list(tmp_path.glob("*.sqlite"))
    if damage == "truncate":
        with open(path, "r+b") as fh:
            fh.truncate(5000)
    else:
        data = bytearray(path.read_bytes())
        data[0:16] = b"not a database!!"
        path.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="damaged"):
        again = Embedder(enc, cache_dir=tmp_path)
        second = again.embed(texts)
    np.testing.assert_allclose(first, second)
    assert again.encoded == len(texts)  # computed again, not lost
    assert list(tmp_path.glob("*.corrupt-*"))  # the damaged file is kept aside
    third = Embedder(enc, cache_dir=tmp_path)
    third.embed(texts)
    assert third.encoded == 0  # the new cache works
