"""Late chunking against separately embedded sentences, for the duplicate alignment.

Issue 24 asked whether the alignment's sentence vectors can come from the document
pass itself (late chunking: the mean of a sentence's token states after the whole
window has been run), which would make the alignment cost pooling instead of a
second model run. This script measures it on a labelled corpus (gold duplicate
groups, e.g. ``eval_data/wmt.jsonl``):

* true pairs: gold duplicates (up to ``--pairs``, sampled with a fixed seed);
* near non-pairs: each article's five nearest articles (document vectors) that are
  not its duplicates;

and for each kind of sentence vector, the share of each that passes the alignment
test as the pipeline applies it (``min_aligned`` sentences, not headlines, and
``min_share`` of the shorter text's, at most ``max_differing`` with other figures),
at several margins. Kinds: ``apart`` (what runs: each sentence embedded alone),
``late`` at layers 4, 8 and 12 (12 is the model's output), and each of these with
the document's mean sentence vector taken off (``-dm``). Sentence vectors are
centred by language as the aligner centres them.

    python scripts/late_chunking.py eval_data/wmt.jsonl --cache-dir /tmp/c

Runs the default model (PyTorch engine) on one text at a time; WMT's 768 articles
take about two minutes on two cores.
"""

from __future__ import annotations

import argparse
import bisect
import random

import numpy as np

from clusterer.align import align, specifics, split_sentences
from clusterer.debias import center_by_language, language_means
from clusterer.duplicates import DuplicateParams
from clusterer.embed.e5_torch import E5TorchEncoder
from clusterer.evaluation.gold import load_gold
from clusterer.pipeline import Clusterer
from clusterer.records import ARTICLE, embedding_text

LAYERS = (4, 8, 12)
MARGINS = (0.02, 0.05, 0.10)


def layer_states(engine: E5TorchEncoder, window: list[int]) -> dict[int, np.ndarray]:
    """The content tokens' hidden states after each layer of LAYERS, for one window."""
    import torch

    f = engine._forward
    n = len(window)
    with torch.inference_mode():
        x = f._F.embedding(torch.tensor(window), f.word) + f.type0
        x = f._ln(x + f._F.embedding(torch.arange(n), f.pos), f.emb_ln)
        out = {}
        for depth, (wqkv, bqkv, wo, bo, ln1, wi, bi, wd, bd, ln2) in enumerate(f.layers, 1):
            att = f._attention(f._linear(x, wqkv, bqkv), [(0, n)])
            x = f._ln(f._linear_add(att, wo, bo, x), ln1)
            x = f._ln(f._linear_add(f._linear_gelu(x, wi, bi), wd, bd, x), ln2)
            if depth in LAYERS:
                out[depth] = x[1:-1].float().numpy()
    return out


def late_vectors(engine: E5TorchEncoder, text: str, sentences: list[str]) -> dict[int, np.ndarray]:
    """Per layer, each sentence's mean token state from the text's own windows (L2-normalised)."""
    prefix = engine.prefix
    enc = engine._tok.encode(prefix + text, add_special_tokens=False)
    starts = [a for a, _ in enc.offsets]
    ends = [b for _, b in enc.offsets]
    spans, cursor = [], 0
    for s in sentences:
        at = text.find(s, cursor)
        at = text.find(s) if at < 0 else at
        spans.append((at + len(prefix), at + len(prefix) + len(s)))
        cursor = max(cursor, at + 1)
    needed = max([bisect.bisect_left(starts, b) for _, b in spans] + [1])
    w = engine.window
    states: dict[int, list[np.ndarray]] = {depth: [] for depth in LAYERS}
    for a in range(0, min(len(enc.ids), needed), w):
        for depth, h in layer_states(engine, [engine._bos, *enc.ids[a : a + w], engine._eos]).items():
            states[depth].append(h)
    out = {}
    for depth, parts in states.items():
        h = np.concatenate(parts)
        rows = []
        for a, b in spans:
            i, j = bisect.bisect_right(ends, a), min(bisect.bisect_left(starts, b), len(h))
            v = h[i:j].mean(axis=0) if j > i else np.zeros(engine.dim, np.float32)
            rows.append(v / (np.linalg.norm(v) or 1.0))
        out[depth] = np.asarray(rows, dtype=np.float32).reshape(len(spans), engine.dim)
    return out


def centred(per_text: list[np.ndarray], langs: list[str | None], shrink: float) -> list[np.ndarray]:
    flat = np.concatenate(per_text)
    flat_langs = [lang for v, lang in zip(per_text, langs) for _ in range(len(v))]
    flat = center_by_language(flat, flat_langs, means=language_means(flat, flat_langs, shrink, None))
    out, at = [], 0
    for v in per_text:
        out.append(flat[at : at + len(v)])
        at += len(v)
    return out


def without_doc_mean(per_text: list[np.ndarray]) -> list[np.ndarray]:
    out = []
    for v in per_text:
        if len(v) > 1:
            v = v - v.mean(axis=0)
            v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
        out.append(v)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gold", help="a labelled corpus with duplicate groups (JSONL)")
    ap.add_argument("--cache-dir", help="embeddings cache (documents and separately embedded sentences)")
    ap.add_argument("--pairs", type=int, default=1500, help="true pairs sampled at most (default 1500)")
    args = ap.parse_args()

    clusterer = Clusterer(cache_dir=args.cache_dir)
    engine = E5TorchEncoder()
    records, _, gold_dup = load_gold(args.gold)
    items = [it for it in clusterer.split(records) if it.kind == ARTICLE]
    texts = [embedding_text(it) for it in items]
    langs = [it.lang for it in items]
    sentences = [split_sentences(t, lang) for t, lang in zip(texts, langs)]
    group = [gold_dup.get(it.id) for it in items]
    n = len(items)

    docs = clusterer.embed(items)
    sims = docs @ docs.T
    np.fill_diagonal(sims, -np.inf)
    same = [[group[i] is not None and group[i] == group[j] for j in range(n)] for i in range(n)]
    true = [(i, j) for i in range(n) for j in range(i + 1, n) if same[i][j]]
    true = random.Random(0).sample(true, min(len(true), args.pairs))
    near = sorted({(min(i, j), max(i, j)) for i in range(n) for j in np.argsort(-sims[i])[:5] if not same[i][j]})

    apart = clusterer._embedder().embed([s for ss in sentences for s in ss])
    split_apart, at = [], 0
    for ss in sentences:
        split_apart.append(apart[at : at + len(ss)])
        at += len(ss)
    late = [late_vectors(engine, t, ss) for t, ss in zip(texts, sentences)]
    shrink = clusterer.duplicates.align_shrink
    kinds = {"apart": centred(split_apart, langs, shrink)}
    for depth in LAYERS:
        per_text = [v[depth] for v in late]
        kinds[f"late L{depth}"] = centred(per_text, langs, shrink)
        kinds[f"late L{depth}-dm"] = centred(without_doc_mean(per_text), langs, shrink)

    p: DuplicateParams = clusterer.duplicates
    spec = [[specifics(s) for s in ss] for ss in sentences]

    def passes(vs: list[np.ndarray], i: int, j: int, margin: float) -> bool:
        a = align(vs[i], vs[j], margin, spec[i], spec[j], compare_names=langs[i] is not None and langs[i] == langs[j])
        return a.sentences >= p.min_aligned and a.share >= p.min_share and a.differing <= p.max_differing

    print(f"{args.gold}: {n} articles, {len(true)} true pairs, {len(near)} near non-pairs; pass rate")
    print(f"{'sentence vectors':16s} {'margin':>6s} {'true':>6s} {'near non-pairs':>16s}")
    for name, vs in kinds.items():
        for margin in MARGINS:
            t = sum(passes(vs, i, j, margin) for i, j in true)
            f = sum(passes(vs, i, j, margin) for i, j in near)
            print(f"{name:16s} {margin:6.2f} {t / len(true):6.3f} {f / len(near):7.3f} ({f}/{len(near)})", flush=True)


if __name__ == "__main__":
    main()
