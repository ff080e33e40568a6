"""Benchmark helpers and a tiny end-to-end run with a stand-in encoder."""
import json

import numpy as np
import pytest

from matchmaking.tools import bench
from matchmaking.documents import Listing
from matchmaking.text import split_sentences


class TinyEncoder:
    model_key = "tiny-test"
    dim = 8

    def _enc(self, texts):
        out = np.stack([np.random.default_rng(sum(map(ord, t))).normal(size=8) for t in texts]).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    encode_queries = encode_passages = lambda self, texts, batch_size=32: self._enc(list(texts))


def test_percentiles():
    assert bench.percentiles(list(range(1, 101))) == (50.5, 95.05)


def test_synthetic_vectors_keep_real_ones_first_and_are_unit():
    real = TinyEncoder()._enc(["a", "b", "c"])
    out = bench.synth_vectors(real, 50, np.random.default_rng(0))
    assert np.allclose(out[:3], real) and np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)


def test_synthetic_docs_tokens_follow_their_text():
    real = [Listing(0, "achievement", "锂电池", "正极材料。循环寿命。"), Listing(1, "achievement", "光伏", "清洗机器人。节水。")]
    docs = bench.SyntheticDocs(real, 6, np.random.default_rng(0))
    toks = list(docs.sentence_tokens())
    assert len(docs) == len(toks) == 6
    for i in range(6):
        assert len(toks[i]) == len(split_sentences(docs[i].embed_text()))


def test_run_end_to_end(tmp_path, monkeypatch, capsys):
    root = tmp_path / "set"
    (root / "qrels").mkdir(parents=True)
    rows = [{"_id": f"d{i}", "title": f"标题{i}", "text": f"第{i}句。材料{i}的制备。"} for i in range(20)]
    (root / "corpus.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    (root / "queries.jsonl").write_text("\n".join(json.dumps({"_id": f"q{i}", "text": f"材料{i}"}) for i in range(5)))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq0\td0\t1\n")
    monkeypatch.setattr(bench, "_load_encoder",
                        lambda path, threads=None, quantize=None, backend="torch", parallel=1, query_backend="auto":
                        TinyEncoder())
    args = ["--docs", "60", "--queries", "5", "--json", "--set-dir", str(root), "--cache-dir", str(tmp_path / "c"),
            "--encode-sample", "10"]
    assert bench.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("docs", "encode_docs_per_s", "build_s", "dense_search_p95_ms", "hybrid_match_p95_ms",
                "ann_recall@10", "rss_mb", "baseline"):
        assert key in out
    assert out["docs"] == 60 and out["synthetic_docs"] == 40 and out["ann_recall@10"] == 1.0


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(["--docs", "0"])
    assert exc.value.code == 2 and "参数错误" in capsys.readouterr().err
