"""The real default encoder (converted multilingual-e5-small): shape, prompts, ranking, keys, int8."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from matchmaking.encoders import Encoder, ModelNotReady, build_encoder, model_key_for

pytestmark = pytest.mark.slow


def test_is_an_encoder_with_384_dims(real_encoder: Encoder) -> None:
    assert isinstance(real_encoder, Encoder)
    assert real_encoder.dim == 384


def test_vectors_are_float32_and_unit_length(real_encoder: Encoder) -> None:
    vecs = real_encoder.encode_passages(["磷酸铁锂电池正极材料的制备方法", "水稻抗病育种"])
    assert vecs.dtype == np.float32 and vecs.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_related_passage_outranks_unrelated(real_encoder: Encoder) -> None:
    query = real_encoder.encode_queries(["锂电池正极材料"])[0]
    related, unrelated = real_encoder.encode_passages(["磷酸铁锂电池正极材料的制备方法", "水稻抗病育种"])
    assert float(related @ query) > float(unrelated @ query) + 0.05


def test_query_and_passage_prompts_are_applied(real_encoder: Encoder) -> None:
    text = "锂电池正极材料"
    model = real_encoder.model  # type: ignore[attr-defined]
    by_hand = model.encode(["query: " + text, "passage: " + text], normalize_embeddings=True)
    np.testing.assert_allclose(real_encoder.encode_queries([text])[0], by_hand[0], atol=1e-5)
    np.testing.assert_allclose(real_encoder.encode_passages([text])[0], by_hand[1], atol=1e-5)
    assert float(by_hand[0] @ by_hand[1]) < 0.999


def test_empty_inputs_do_not_crash(real_encoder: Encoder) -> None:
    assert real_encoder.encode_passages([]).shape == (0, 384)
    vec = real_encoder.encode_queries([""])
    assert vec.shape == (1, 384) and np.isfinite(vec).all()


def test_long_text_is_truncated_not_rejected(real_encoder: Encoder) -> None:
    long = "本发明涉及一种锂电池正极材料的制备方法。" * 60  # ~1,200 characters, past 512 tokens
    vec = real_encoder.encode_passages([long])
    assert vec.shape == (1, 384) and np.isfinite(vec).all()


def test_model_key_names_the_folder_and_is_stable(real_encoder: Encoder, default_model_path: Path) -> None:
    assert re.fullmatch(r"multilingual-e5-small@[0-9a-f]{12}", real_encoder.model_key)
    assert model_key_for(default_model_path) == real_encoder.model_key
    assert build_encoder(str(default_model_path), query_backend="torch") is real_encoder


def test_model_key_differs_between_folders_that_differ(default_model_path: Path, tmp_path: Path) -> None:
    twin = tmp_path / default_model_path.name
    twin.mkdir()
    for src in default_model_path.rglob("*"):  # symlink the big files, copy the one we change
        dest = twin / src.relative_to(default_model_path)
        if src.is_dir():
            dest.mkdir(exist_ok=True)
        elif src.name == "config_sentence_transformers.json":
            shutil.copy(src, dest)
        else:
            dest.symlink_to(src)
    assert model_key_for(twin) == model_key_for(default_model_path)
    cfg = json.loads((twin / "config_sentence_transformers.json").read_text(encoding="utf-8"))
    cfg["prompts"]["query"] = "question: "
    (twin / "config_sentence_transformers.json").write_text(json.dumps(cfg), encoding="utf-8")
    assert model_key_for(twin) != model_key_for(default_model_path)


def test_missing_folder_raises_model_not_ready(tmp_path: Path) -> None:
    with pytest.raises(ModelNotReady, match="python -m matchmaking.convert --out"):
        build_encoder(str(tmp_path / "models" / "absent"))


def test_int8_stays_close_to_fp32(real_encoder: Encoder, default_model_path: Path) -> None:
    int8 = build_encoder(str(default_model_path), quantize="int8")
    texts = ["锂电池正极材料", "磷酸铁锂电池正极材料的制备方法", "水稻抗病育种", "工业机器人视觉检测系统"]
    cos = np.sum(int8.encode_passages(texts) * real_encoder.encode_passages(texts), axis=1)
    assert cos.min() > 0.98
    assert int8.model_key == real_encoder.model_key + "+int8"


def test_unknown_quantize_is_rejected(default_model_path: Path) -> None:
    with pytest.raises(ValueError, match="quantize"):
        build_encoder(str(default_model_path), quantize="int4")


BF16_TEXTS = ["锂电池正极材料", "磷酸铁锂电池正极材料的制备方法，试验表明容量保持率提高了15%。", "水稻抗病育种",
              "工业机器人视觉检测系统在汽车焊装线上的应用", "风力发电机叶片故障诊断"]


@pytest.fixture()
def bf16_encoder(default_model_path: Path) -> Encoder:
    from matchmaking.encoders import cpu_supports_bf16

    if not cpu_supports_bf16():
        pytest.skip("this CPU has no native bf16 (amx_bf16 / avx512_bf16 / bf16 flag)")
    return build_encoder(str(default_model_path), quantize="bf16", query_backend="torch")


def test_bf16_stays_within_cosine_0_9999_of_fp32(real_encoder: Encoder, bf16_encoder: Encoder) -> None:
    for encode in ("encode_passages", "encode_queries"):
        ours = getattr(bf16_encoder, encode)(BF16_TEXTS)
        assert ours.dtype == np.float32 and ours.shape == (len(BF16_TEXTS), 384)
        np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
        cos = np.sum(ours * getattr(real_encoder, encode)(BF16_TEXTS), axis=1)
        assert cos.min() >= 0.9999, (encode, cos)


def test_bf16_really_computes_in_bf16(real_encoder: Encoder, bf16_encoder: Encoder) -> None:
    # a no-op autocast would give fp32's vectors bit for bit; bf16 matmuls must leave a trace
    diff = np.abs(bf16_encoder.encode_passages(BF16_TEXTS) - real_encoder.encode_passages(BF16_TEXTS)).max()
    assert diff > 1e-5


def test_bf16_has_its_own_model_key(real_encoder: Encoder, bf16_encoder: Encoder, default_model_path: Path) -> None:
    assert bf16_encoder.model_key == real_encoder.model_key + "+bf16"
    assert bf16_encoder.model_key == model_key_for(default_model_path, "bf16")
    assert bf16_encoder is not real_encoder


def test_bf16_is_refused_on_a_cpu_without_native_bf16(default_model_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import matchmaking.encoders as encoders

    monkeypatch.setattr(encoders, "cpu_supports_bf16", lambda: False)
    with pytest.raises(ValueError, match=r"(?s)不支持原生 bf16.*EMBEDDING_QUANTIZE=none"):
        build_encoder(str(default_model_path), quantize="bf16")


def test_bf16_is_refused_on_the_onnx_backend(default_model_path: Path) -> None:
    with pytest.raises(ValueError, match=r"(?s)EMBEDDING_BACKEND=torch.*EMBEDDING_BACKEND=torch"):
        build_encoder(str(default_model_path), quantize="bf16", backend="onnx")


def test_unknown_quantize_message_is_bilingual(default_model_path: Path) -> None:
    with pytest.raises(ValueError, match=r"(?s)无效.*none, int8, bf16.*not valid"):
        build_encoder(str(default_model_path), quantize="fp16")


def test_bf16_encodes_queries_in_fp32(real_encoder: Encoder, bf16_encoder: Encoder) -> None:
    # one short query gains nothing under autocast: queries are float32, bit for bit the fp32 encoder's
    assert np.array_equal(bf16_encoder.encode_queries(BF16_TEXTS), real_encoder.encode_queries(BF16_TEXTS))


def test_auto_builds_the_bf16_encoder_here(default_model_path: Path, bf16_encoder: Encoder) -> None:
    # bf16_encoder skips on a CPU without native bf16; where it exists, "auto" is that very encoder
    assert build_encoder(str(default_model_path), quantize="auto", query_backend="torch") is bf16_encoder


def test_parallel_copies_encode_the_same_vectors_in_the_same_order(default_model_path: Path,
                                                                     real_encoder: Encoder) -> None:
    import torch

    threads = torch.get_num_threads()
    try:
        parallel = build_encoder(str(default_model_path), parallel=2)
        assert parallel is not real_encoder and parallel.model_key == real_encoder.model_key
        texts = [f"{t}（第{i}条）" + "，其工艺参数经过优化" * (i % 5) for i, t in enumerate(BF16_TEXTS * 8)]
        ours = parallel.encode_passages(texts, batch_size=8)  # 40 texts >= 2 batches: both copies work
        ref = real_encoder.encode_passages(texts, batch_size=8)
        assert ours.shape == ref.shape and ours.dtype == np.float32
        assert float((ours * ref).sum(axis=1).min()) >= 0.99999  # same text -> same vector, same row
        short = parallel.encode_passages(texts[:3], batch_size=8)  # small inputs: one copy, no pool
        assert float((short * ref[:3]).sum(axis=1).min()) >= 0.99999
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("kw", [{"parallel": 0}, {"parallel": "2"}, {"parallel": -1, "backend": "onnx"}])
def test_bad_parallel_settings_are_refused(default_model_path: Path, kw: dict) -> None:
    with pytest.raises(ValueError):
        build_encoder(str(default_model_path), **kw)
