"""matchmaking.tools.onnx_export, matchmaking.onnx_encoder and EMBEDDING_BACKEND=onnx: offline export, agreement with torch, keys."""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from matchmaking.encoders import Encoder, ModelNotReady, build_encoder, model_key_for

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)

pytest.importorskip("onnxruntime")

TEXTS = [
    "磷酸铁锂电池正极材料的制备方法\n本发明公开了一种磷酸铁锂正极材料的制备方法，包括球磨、喷雾干燥和烧结，"
    "所得材料的放电比容量提高了15%～20%。",
    "水稻抗病育种技术\n利用分子标记辅助选择，将抗稻瘟病基因导入优良品种。",
    "Graphene thin films for flexible photovoltaic modules",
    "工业机器人视觉检测系统在汽车焊装线上的应用",
    "风力发电机叶片故障诊断" * 40,  # past 512 tokens: truncated like the torch encoder
    "短",
    "",
]
CHINESE = [
    "一种基于深度学习的输电线路缺陷识别方法，利用无人机巡检图像训练目标检测网络。",
    "高强度可降解镁合金骨科植入物及其制备工艺",
    "寻求合作：企业需要污水处理厂污泥减量化与资源化利用技术，要求能耗低、可规模化。",
    "新能源汽车动力电池回收中锂、钴、镍的湿法冶金提取工艺",
    "智慧农业：基于物联网的温室大棚环境监测与自动灌溉系统",
]


def test_export_of_a_missing_model_folder_says_how_to_make_it(tmp_path: Path) -> None:
    from matchmaking.onnx_encoder import default_onnx_dir, is_complete
    from matchmaking.tools.onnx_export import export

    with pytest.raises(ModelNotReady, match="matchmaking.convert"):
        export(tmp_path / "absent", tmp_path / "out", quiet=True)
    assert default_onnx_dir(tmp_path / "m") == (tmp_path / "m-onnx").resolve()
    assert not is_complete(tmp_path / "out")


def test_token_batches_go_longest_first_within_the_token_and_count_limits() -> None:
    from matchmaking.onnx_encoder import token_batches

    lengths = [10, 300, 40, 40, 600, 5, 120]
    batches = token_batches(lengths, batch_size=3, max_tokens=256)
    assert sorted(int(i) for b in batches for i in b) == list(range(len(lengths)))  # every text once
    assert [[lengths[i] for i in b] for b in batches] == [[600], [300], [120, 40], [40, 10, 5]]
    assert all(len(b) * max(lengths[i] for i in b) <= 256 or len(b) == 1 for b in batches)
    assert token_batches([], 8, 256) == []


def test_onnx_passages_run_batches_on_several_workers_with_the_same_vectors(default_model_path: Path) -> None:
    from matchmaking.onnx_encoder import default_onnx_dir, is_complete, load_encoder

    if not is_complete(default_onnx_dir(default_model_path)):
        pytest.skip("no ONNX export beside the default model (make model)")
    texts = [f"{t}（第{i}条）" + "，其工艺参数经过优化" * (i % 7) for i, t in enumerate(CHINESE * 6)]
    one, two = load_encoder(default_model_path, "int8", 1), load_encoder(default_model_path, "int8", 1, workers=2)
    assert two.workers == 2 and two.session is not one.session
    np.testing.assert_allclose(two.encode_passages(texts), one.encode_passages(texts), atol=1e-6)


def _link_tree(src: Path, dest: Path) -> Path:
    """A model folder whose files are symlinks to ``src`` (same digest, no 470 MB copy)."""
    for path in src.rglob("*"):
        target = dest / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(path.resolve(), target)
    return dest


@pytest.fixture(scope="module")
def model_dir(default_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default model, linked into a tmp folder so its export lands beside it (not in instance/)."""
    return _link_tree(default_model_path, tmp_path_factory.mktemp("models") / default_model_path.name)


@pytest.fixture(scope="module")
def onnx_dir(model_dir: Path) -> Path:
    """A fresh export of the default model into ``<model>-onnx`` beside it (~30 s, 880 MB)."""
    from matchmaking.onnx_encoder import default_onnx_dir
    from matchmaking.tools.onnx_export import export

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exporter and tracer notes
        out = export(model_dir, quiet=True)
    assert out == default_onnx_dir(model_dir)
    return out


# Why these tolerances (they must hold on any CPU, issue 14):
# - fp32 graph against torch fp32: the same arithmetic summed in another order (MLAS against oneDNN kernels), so
#   the vectors differ by float32 rounding only, ~1e-6 relative per layer; cosine >= 0.99999 leaves 10x room.
# - int8 graph: its rounding depends on the CPU's int8 kernels (VNNI on recent Intel; u8s8 pairs that saturate on
#   AVX2-only CPUs), so raw cosine moved from 0.999 (Intel VNNI) to 0.997 (AMD EPYC, AVX2). What int8 must keep
#   is the ranking: INT8_RANKING_BUDGET below. The cosine floor only catches a broken graph (a wrong tokenizer,
#   prompt or pooling gives < 0.95, measured), with room for any CPU's int8 rounding (worst seen 0.9966).
INT8_COSINE_FLOOR = 0.99
# nDCG@10 the platform accepts to lose for int8 passages (issue 3/14: <= 0.005 on the dev sets, 1,000 queries)
INT8_NDCG_BUDGET = 0.005


@pytest.mark.slow
@pytest.mark.parametrize("quantize, mean_min, min_min", [(None, 0.99999, 0.9999),
                                                         ("int8", INT8_COSINE_FLOOR, INT8_COSINE_FLOOR)])
def test_onnx_vectors_agree_with_torch_fp32(real_encoder: Encoder, onnx_dir: Path, quantize: str | None,
                                            mean_min: float, min_min: float) -> None:
    from matchmaking.onnx_encoder import OnnxEncoder, is_complete

    assert is_complete(onnx_dir)
    enc = OnnxEncoder(onnx_dir, quantize=quantize, threads=2)
    assert isinstance(enc, Encoder) and enc.dim == 384
    for encode_ort, encode_torch in ((enc.encode_passages, real_encoder.encode_passages),
                                     (enc.encode_queries, real_encoder.encode_queries)):
        got, ref = encode_ort(TEXTS, batch_size=4), encode_torch(TEXTS)
        assert got.dtype == np.float32 and got.shape == (len(TEXTS), 384)
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        cos = (got * ref).sum(1)
        assert cos.mean() >= mean_min and cos.min() >= min_min, cos
    assert enc.encode_passages([]).shape == (0, 384)


@pytest.mark.slow
def test_onnx_backend_int8_passages_and_fp32_queries_agree_with_torch_on_chinese(
        real_encoder: Encoder, model_dir: Path, onnx_dir: Path) -> None:
    enc = build_encoder(str(model_dir), backend="onnx", quantize="int8", threads=2)
    assert isinstance(enc, Encoder) and enc.dim == real_encoder.dim
    passages = (enc.encode_passages(CHINESE) * real_encoder.encode_passages(CHINESE)).sum(1)
    queries = (enc.encode_queries(CHINESE) * real_encoder.encode_queries(CHINESE)).sum(1)
    # int8 weights move a passage vector a little (by how much depends on the CPU); queries run the fp32 graph
    assert passages.min() >= INT8_COSINE_FLOOR, passages
    assert passages.max() < 0.99999, "passages must come from the int8 graph"
    assert queries.min() >= 0.99999, queries


def _ndcg10(scores: np.ndarray, relevant: list[int]) -> np.ndarray:
    """Per query nDCG@10 of a score matrix (queries x passages) against one relevant passage index each."""
    rank = (scores > scores[np.arange(len(relevant)), relevant][:, None]).sum(1)  # passages scored above it
    return np.where(rank < 10, 1.0 / np.log2(rank + 2.0), 0.0)


@pytest.mark.slow
def test_int8_passages_keep_the_ranking_of_fp32_within_the_budget(real_encoder: Encoder, model_dir: Path,
                                                                  onnx_dir: Path) -> None:
    """The guard that holds on any CPU: int8 passages with fp32 queries rank 100 real keyword queries of the
    dev `gap` set (the vocabulary-gap set, where int8 lost most) over 200 of its papers no worse than fp32,
    beyond the nDCG@10 budget plus three standard errors of the paired per-query difference (sampling error
    of 100 queries; a broken graph loses far more: random vectors lose ~0.8)."""
    data = json.loads((Path(__file__).parents[1] / "data" / "int8_ranking_gap.json").read_text(encoding="utf-8"))
    ids = [p["id"] for p in data["passages"]]
    texts = [p["text"] for p in data["passages"]]
    relevant = [ids.index(next(iter(q["relevant"]))) for q in data["queries"]]
    queries = real_encoder.encode_queries([q["text"] for q in data["queries"]])
    int8 = build_encoder(str(model_dir), backend="onnx", quantize="int8", threads=2)
    fp32 = _ndcg10(queries @ real_encoder.encode_passages(texts).T, relevant)
    diff = _ndcg10(queries @ int8.encode_passages(texts).T, relevant) - fp32
    se = diff.std(ddof=1) / np.sqrt(len(diff))
    assert fp32.mean() > 0.5, fp32.mean()  # the set is a real retrieval task for this model, not noise
    assert diff.mean() >= -(INT8_NDCG_BUDGET + 3 * se), (diff.mean(), se)


@pytest.mark.slow
def test_the_torch_backend_sends_fp32_queries_through_onnxruntime_when_exported(
        real_encoder: Encoder, model_dir: Path, onnx_dir: Path) -> None:
    auto = build_encoder(str(model_dir))  # query_backend="auto", the platform's default
    torch_only = build_encoder(str(model_dir), query_backend="torch")
    assert auto.query_encoder is not None and torch_only.query_encoder is None
    assert "onnxruntime" in repr(auto)
    # same vectors, so the same model key, index and cached query vectors
    assert auto.model_key == torch_only.model_key == real_encoder.model_key
    for texts in (TEXTS, CHINESE):
        cos = (auto.encode_queries(texts) * real_encoder.encode_queries(texts)).sum(1)
        assert cos.min() >= 0.99999, cos
    # passages stay on torch: bit for bit the reference's
    assert np.array_equal(auto.encode_passages(CHINESE), real_encoder.encode_passages(CHINESE))
    assert build_encoder(str(model_dir), query_backend="onnx").query_encoder is not None
    # torch int8 queries go with int8 passages: auto leaves them on torch
    assert build_encoder(str(model_dir), quantize="int8").query_encoder is None


def test_query_backend_without_an_export_falls_back_or_says_how_to_make_it(default_model_path: Path,
                                                                           tmp_path: Path) -> None:
    from matchmaking.onnx_encoder import OnnxNotReady

    bare = _link_tree(default_model_path, tmp_path / "m")
    assert build_encoder(str(bare)).query_encoder is None  # auto: torch, nothing to run ONNX with
    with pytest.raises(OnnxNotReady, match="make model"):
        build_encoder(str(bare), query_backend="onnx")
    assert issubclass(OnnxNotReady, ModelNotReady)  # pages show "matching is not available", not an error
    with pytest.raises(ValueError, match="EMBEDDING_QUERY_BACKEND"):
        build_encoder(str(bare), query_backend="tensorrt")


@pytest.mark.slow
def test_each_backend_and_variant_has_its_own_model_key(real_encoder: Encoder, model_dir: Path,
                                                        onnx_dir: Path) -> None:
    from matchmaking.pgvector_store import table_name
    from matchmaking.vectorcache import VectorCache

    encoders = [build_encoder(str(model_dir)), build_encoder(str(model_dir), backend="onnx"),
                build_encoder(str(model_dir), backend="onnx", quantize="int8")]
    keys = [e.model_key for e in encoders] + [model_key_for(model_dir, "int8")]
    assert keys[0] == real_encoder.model_key  # the linked folder has the default model's digest
    assert len(set(keys)) == 4
    assert keys[2].startswith(keys[0] + "+onnx-int8p-") and keys[1].startswith(keys[0] + "+onnx-fp32-")
    # index folders, pgvector tables and cached vectors follow the key, so the variants never mix
    assert len({table_name("achievement", k) for k in keys}) == 4
    assert len({VectorCache("/cache", k, "passage").dir for k in keys}) == 4
    assert build_encoder(str(model_dir), backend="onnx", quantize="int8") is encoders[2]


@pytest.mark.slow
def test_export_is_idempotent_and_a_stale_export_is_refused(model_dir: Path, onnx_dir: Path) -> None:
    from matchmaking.onnx_encoder import MARKER, ONNX_INT8, OnnxNotReady, load_encoder
    from matchmaking.tools.onnx_export import export

    before = {p.name: p.stat().st_mtime_ns for p in onnx_dir.iterdir()}
    assert export(model_dir, quiet=True) == onnx_dir  # up to date: nothing is traced or written again
    assert {p.name: p.stat().st_mtime_ns for p in onnx_dir.iterdir()} == before
    marker = onnx_dir / MARKER
    saved = marker.read_text(encoding="utf-8")
    try:
        marker.write_text(json.dumps({**json.loads(saved), "source_digest": "0" * 64}), encoding="utf-8")
        with pytest.raises(OnnxNotReady, match="make model") as info:
            load_encoder(model_dir, "int8")
        assert "请先运行" in str(info.value) and (onnx_dir / ONNX_INT8).is_file()
    finally:
        marker.write_text(saved, encoding="utf-8")


def test_onnx_backend_without_an_export_says_how_to_make_it(default_model_path: Path, tmp_path: Path) -> None:
    from matchmaking.onnx_encoder import OnnxNotReady, load_encoder

    bare = _link_tree(default_model_path, tmp_path / "m")
    with pytest.raises(OnnxNotReady, match="matchmaking.onnx_export --model"):
        load_encoder(bare, "int8")
    with pytest.raises(ModelNotReady):
        load_encoder(tmp_path / "absent")
    with pytest.raises(ValueError, match="backend must be one of"):
        build_encoder(str(bare), backend="tensorrt")


@pytest.mark.parametrize("backend, expect", [("onnx", "make model"), ("tensorrt", "backend must be one of")])
def test_evaluate_cli_builds_the_platform_encoder_and_explains_a_bad_one(
        default_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, backend: str, expect: str) -> None:
    from matchmaking.tools import evaluate

    from tests.matchmaking.test_evaluate import write_set

    monkeypatch.setenv("EMBEDDING_BACKEND", backend)  # the CLI defaults to the platform's settings
    monkeypatch.setenv("EMBEDDING_QUANTIZE", "int8")
    bare = _link_tree(default_model_path, tmp_path / "m")
    with pytest.raises(SystemExit) as info:
        evaluate.main([str(write_set(tmp_path / "set")), "--method", "dense", "--json", "--model", str(bare),
                       "--cache-dir", str(tmp_path / "cache")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert expect in err and "Traceback" not in err
