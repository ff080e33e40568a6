"""BEIR evaluation CLI and metrics."""
import json
import math
import subprocess
import sys

import pytest

from matchmaking.tools.evaluate import main, mrr_at, ndcg_at, recall_at, score_run


def write_set(root, corpus=None, queries=None, qrels=None):
    (root / "qrels").mkdir(parents=True)
    corpus = corpus or [{"_id": "d1", "title": "锂电池正极材料", "text": "NCM811的制备。"},
                        {"_id": "d2", "title": "光伏组件清洗", "text": "机器人自动清洗光伏板。"},
                        {"_id": "d3", "title": "钛合金", "text": "Ti-6Al-4V的3D打印。"}]
    queries = queries or [{"_id": "q1", "text": "锂电池 NCM811"}, {"_id": "q2", "text": "光伏 清洗 机器人"}]
    (root / "corpus.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in corpus))
    (root / "queries.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in queries))
    (root / "qrels" / "test.tsv").write_text(qrels or "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\nq2\td3\t1\n")
    return root


def test_ndcg_uses_exponential_gain_and_log_discount():
    rels = {"b": 2, "c": 1, "d": 1}
    dcg = 3 / math.log2(3) + 1 / math.log2(4)
    idcg = 3 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at(["a", "b", "c"], rels) == pytest.approx(dcg / idcg)  # 0.5792
    assert ndcg_at(["b", "c", "d"], rels) == pytest.approx(1.0)


def test_mrr_and_recall_count_only_the_top_grade():
    rels = {"b": 2, "c": 1}
    assert mrr_at(["c", "x", "b"], rels) == pytest.approx(1 / 3)
    assert mrr_at(["c"] + ["x"] * 10 + ["b"], rels) == 0.0
    assert recall_at(["c", "b"], rels) == 1.0 and recall_at(["c"], rels) == 0.0


def test_score_run_averages_over_judged_queries():
    run = {"q1": ["d1"], "q2": ["d9", "d2"]}
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}}
    out = score_run(run, qrels)
    assert out["mrr@10"] == pytest.approx(0.75) and out["queries"] == 2
    assert out["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3)) / 2)


def test_cli_lexical_json(tmp_path, capsys):
    assert main([str(write_set(tmp_path)), "--method", "lexical", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"ndcg@10", "mrr@10", "recall@100", "queries", "method", "backend", "quantize", "seconds"}
    # q1: d1 first (nDCG 1); q2: d2 (grade 2) first, d3 (grade 1) not retrieved: 3 / (3 + 1/log2 3)
    assert out["ndcg@10"] == pytest.approx((1 + 3 / (3 + 1 / math.log2(3))) / 2)
    assert out["mrr@10"] == 1.0 and out["recall@100"] == 1.0 and out["method"] == "lexical"


@pytest.mark.parametrize("breakage", ["no_dir", "no_queries", "bad_json", "bad_qrels", "bad_k", "bad_method"])
def test_bad_input_exits_2_with_bilingual_message(tmp_path, capsys, breakage):
    root = write_set(tmp_path / "set")
    args = [str(root), "--method", "lexical"]
    if breakage == "no_dir":
        args[0] = str(tmp_path / "missing")
    elif breakage == "no_queries":
        (root / "queries.jsonl").unlink()
    elif breakage == "bad_json":
        (root / "corpus.jsonl").write_text('{"_id": "d1", "title": "x", "text": "y"}\n{oops\n')
    elif breakage == "bad_qrels":
        (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\n")
    elif breakage == "bad_k":
        args += ["--k", "0"]
    else:
        args[2] = "magic"
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err
    assert any("\u4e00" <= ch <= "\u9fff" for ch in err)


def test_cli_process_prints_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "matchmaking.evaluate", str(tmp_path / "nope")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "目录不存在" in proc.stderr


ADAPT_CORPUS = [{"_id": f"d{i}", "title": title, "text": text} for i, (title, text) in enumerate([
    ("锂电池回收技术", "废旧锂电池回收工艺，湿法冶金浸出钴镍锰等有价金属，回收率超过百分之九十五。能耗低，适合规模化生产线。"),
    ("工业机器人视觉定位", "面向汽车焊装产线的机器视觉定位系统，采用深度学习识别工件位姿。定位精度零点一毫米，节拍小于两秒。"),
    ("大豆高产育种", "利用分子标记辅助选择培育高蛋白大豆新品种。亩产提高百分之十二，抗倒伏和抗病性好，适合规模推广。"),
    ("固态电池电解质", "硫化物固态电解质材料，室温离子电导率高，与锂金属负极界面稳定。可用于高能量密度固态电池。"),
    ("光伏组件清洗机器人", "光伏电站组件自动清洗机器人，无水清洗，沿组件边框行走，每日清洗面积两万平方米以上。"),
])]


@pytest.mark.model
def test_adapt_reports_adapted_and_stock_figures_and_adapts_a_corpus_once(tmp_path, capsys, monkeypatch,
                                                                          default_model_path):
    from matchmaking import adapt

    monkeypatch.setattr(adapt, "export_onnx", lambda folder: None)  # a minute or two; test_onnx_export covers it
    root = write_set(tmp_path / "set", corpus=ADAPT_CORPUS,
                     queries=[{"_id": "q1", "text": "电池 回收"}, {"_id": "q2", "text": "机器视觉"}],
                     qrels="query-id\tcorpus-id\tscore\nq1\td0\t1\nq2\td1\t1\n")
    args = [str(root), "--method", "dense", "--json", "--model", str(default_model_path), "--adapt",
            "--adapt-max-pairs", "8", "--adapt-batch-size", "4", "--adapt-dir", str(tmp_path / "adapted"),
            "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert {"ndcg@10", "mrr@10", "recall@100"} <= set(first) and {"ndcg@10", "mrr@10"} <= set(first["stock"])
    assert first["adapt_cached"] is False and first["adapt_seconds"] > 0
    assert main(args) == 0  # the same corpus again: the adapted model comes from the cache
    second = json.loads(capsys.readouterr().out)
    assert second["adapt_cached"] is True and second["adapted_model"] == first["adapted_model"]
    assert second["ndcg@10"] == first["ndcg@10"] and second["adapt_seconds"] == first["adapt_seconds"]


@pytest.mark.parametrize("extra, says", [(["--method", "lexical"], "needs a method that uses the model"),
                                         (["--adapt-budget", "-1"], "time_budget_s"),
                                         (["--adapt-batch-size", "1"], "batch_size"),
                                         (["--adapt-max-pairs", "x"], "invalid int"),
                                         (["--adapt-max-pairs", "0"], "max_pairs"),
                                         (["--adapt-scale", "0"], "scale"),
                                         (["--adapt-trained-layers", "-2"], "trained_layers"),
                                         (["--adapt-hard-negatives", "maybe"], "invalid choice")])
def test_bad_adapt_options_exit_2_before_any_work(tmp_path, capsys, extra, says):
    root = write_set(tmp_path / "set")
    with pytest.raises(SystemExit) as exc:
        main([str(root), "--adapt", *extra])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and says in err and "Traceback" not in err
