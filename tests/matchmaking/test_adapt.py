"""Domain adaptation (issue 19): the self-supervised pairs, the options, the version pointer, and a real
fine-tuning run on a tiny corpus that writes a new model folder and nothing else."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from matchmaking.adapt import (MARKER, AdaptError, AdaptOptions, _sourced_pairs, adapt, corpus_digest,
                               hard_negatives, training_pairs)
from matchmaking.versions import ModelVersions, VersionError

DOCS = [
    ("锂电池回收技术", "本成果提出一种废旧锂电池回收工艺。通过湿法冶金浸出钴镍锰等有价金属，回收率超过百分之九十五。"
                    "该工艺能耗低，适合规模化生产线，已完成中试验证并具备产业化条件。"),
    ("工业机器人视觉定位", "面向汽车焊装产线的机器视觉定位系统，采用深度学习识别工件位姿。定位精度达到零点一毫米，"
                        "节拍小于两秒。系统支持多品牌工业机器人，已在三条产线应用。"),
    ("大豆高产育种", "利用分子标记辅助选择培育高蛋白大豆新品种。新品种亩产提高百分之十二，抗倒伏和抗病性好。"
                  "已在东北多个地区示范种植，适合规模推广。"),
    ("固态电池电解质", "一种硫化物固态电解质材料，室温离子电导率高，与锂金属负极界面稳定。可用于高能量密度固态电池，"
                    "提升安全性。已完成公斤级制备并开展电芯验证。"),
] * 3


def test_pairs_are_drawn_from_the_texts_deterministically_and_capped():
    pairs = training_pairs(DOCS, 100, seed=1)
    assert pairs == training_pairs(DOCS, 100, seed=1)
    assert len(training_pairs(DOCS, 5, seed=1)) == 5
    bodies = {body for _title, body in DOCS}
    titles = {title for title, _body in DOCS}
    assert any(q in titles and p in bodies for q, p in pairs)  # title -> body
    # keywords -> the body without them: the query's words do not occur in its passage
    gap = [(q, p) for q, p in pairs if " " in q]
    assert gap and all(word not in p for q, p in gap for word in q.split())


def test_a_hard_negative_is_another_text_sharing_the_querys_words():
    docs = DOCS[:4] + [("废旧电池拆解", "废旧锂电池的自动拆解设备，提高拆解效率，减少人工。适合电池回收企业的产线使用。")]
    sourced = _sourced_pairs(docs, 100, seed=1)
    assert [(q, p) for q, p, _, _ in sourced] == training_pairs(docs, 100, seed=1)
    negatives = hard_negatives(docs, sourced)
    assert len(negatives) == len(sourced)
    texts = [f"{t}。{b}".strip("。") for t, b in docs]
    for (query, _passage, source, kind), negative in zip(sourced, negatives):
        assert negative != texts[source]  # never the pair's own listing
        assert negative == "" or negative in texts
        assert kind != "keywords" or negative == ""  # their passage lost the words on purpose: no word-sharing negative
    assert {kind for *_, kind in sourced} == {"title", "keywords", "sentence"}
    # the recycling title's best other match is the other battery-recycling listing
    i = next(i for i, (q, *_rest) in enumerate(sourced) if q == "锂电池回收技术")
    assert negatives[i] == texts[4]
    # with groups (a platform's kinds) a negative stays within its pair's group: a demand's answer is not one
    groups = ["achievement"] * 4 + ["demand"]
    grouped = hard_negatives(docs, sourced, groups)
    assert grouped[i] != texts[4]
    assert all(neg == "" or groups[texts.index(neg)] == groups[source]
               for (_q, _p, source, _k), neg in zip(sourced, grouped))


def test_texts_too_short_or_empty_give_no_pairs():
    assert training_pairs([("", ""), ("题", "短"), (None, None)], 10) == []  # type: ignore[list-item]


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(batch_size=1), dict(max_pairs=1), dict(max_seq_length=8),
                                 dict(learning_rate=0.0), dict(scale=-1.0), dict(time_budget_s=0.0),
                                 dict(device="tpu"), dict(epochs=1.5), dict(trained_layers=-1),
                                 dict(trained_layers=2.5)])
def test_bad_options_are_refused_with_what_to_fix(bad):
    with pytest.raises(AdaptError) as err:
        AdaptOptions(**bad).check()
    assert "/" in str(err.value)  # English / 中文


def test_the_cache_key_follows_texts_model_and_recipe_but_not_the_time_budget():
    key = corpus_digest(DOCS, "m@1", AdaptOptions())
    assert key == corpus_digest(DOCS, "m@1", AdaptOptions(time_budget_s=5.0, device="cpu", low_memory=False))
    assert key != corpus_digest(DOCS[:-1], "m@1", AdaptOptions())
    assert key != corpus_digest(DOCS, "m@2", AdaptOptions())
    assert key != corpus_digest(DOCS, "m@1", AdaptOptions(epochs=2))
    assert key != corpus_digest(DOCS, "m@1", AdaptOptions(trained_layers=3))
    assert key != corpus_digest(DOCS, "m@1", AdaptOptions(hard_negatives=not AdaptOptions().hard_negatives))


def _folder(root: Path, name: str) -> Path:
    (root / name).mkdir(parents=True)
    (root / name / "modules.json").write_text("[]")
    return root / name


def test_the_pointer_serves_an_adaptation_only_of_the_configured_model_and_rolls_back(tmp_path):
    base, v1, v2 = _folder(tmp_path, "base"), _folder(tmp_path, "v1"), _folder(tmp_path, "v2")
    versions = ModelVersions(tmp_path / "models")
    assert versions.serving(str(base)) == str(base)
    versions.activate(str(base), v1)
    versions.activate(str(base), v2)
    assert versions.serving(str(base)) == str(v2.resolve())
    assert versions.serving(str(_folder(tmp_path, "other"))).endswith("other")  # another configured model
    assert versions.rollback(str(base)).active == str(v1.resolve())
    assert versions.rollback(str(base)).active == str(base.resolve())
    with pytest.raises(VersionError):
        versions.rollback(str(base))
    with pytest.raises(VersionError):
        versions.activate(str(base), tmp_path / "missing")


def test_a_version_deleted_from_disk_never_serves(tmp_path):
    base, v1 = _folder(tmp_path, "base"), _folder(tmp_path, "v1")
    versions = ModelVersions(tmp_path / "models")
    versions.activate(str(base), v1)
    (v1 / "modules.json").unlink()
    assert versions.serving(str(base)) == str(base)


TINY = AdaptOptions(max_pairs=8, batch_size=4, max_seq_length=32, seed=3)


@pytest.mark.model
def test_adapting_writes_a_new_model_with_its_own_key_and_leaves_the_base_alone(tmp_path, default_model_path):
    from matchmaking.encoders import build_encoder
    from matchmaking.model_folder import model_key_for

    before = model_key_for(str(default_model_path))
    result = adapt(str(default_model_path), DOCS, tmp_path / "adapted", TINY)
    assert result.steps == 2 and result.model_key != before and model_key_for(str(default_model_path)) == before
    assert result.model_key == model_key_for(tmp_path / "adapted")
    marker = json.loads((tmp_path / "adapted" / MARKER).read_text(encoding="utf-8"))
    assert marker["pairs"] == 8 and marker["recipe"]
    anchors = marker["fusion"]  # the engine's cosine anchors, carried over to where this model's cosines sit
    assert anchors["cos_floor"] < anchors["cos_ceil"]
    assert build_encoder(str(tmp_path / "adapted"), backend="torch").fusion == {
        "cos_floor": anchors["cos_floor"], "cos_ceil": anchors["cos_ceil"]}
    assert build_encoder(str(default_model_path), backend="torch").fusion == {}
    stock = build_encoder(str(default_model_path), backend="torch").encode_passages([DOCS[0][1]])
    new = build_encoder(str(tmp_path / "adapted"), backend="torch").encode_passages([DOCS[0][1]])
    assert new.shape == stock.shape and not np.allclose(new, stock, atol=1e-4)  # the weights moved
    with pytest.raises(AdaptError):  # never over an existing folder
        adapt(str(default_model_path), DOCS, tmp_path / "adapted", TINY)


@pytest.mark.model
def test_low_memory_training_learns_the_same_weights(tmp_path, default_model_path, monkeypatch):
    """Gradient checkpointing only trades memory for time: the same seed gives the same model, and the saved
    folder does not carry the training-time setting."""
    from dataclasses import replace

    from matchmaking import adapt as adapt_module
    from matchmaking.encoders import build_encoder

    calls: list[bool] = []
    real = adapt_module._checkpointing
    monkeypatch.setattr(adapt_module, "_checkpointing", lambda t, on: (calls.append(on), real(t, on)))
    full = replace(TINY, trained_layers=0)  # checkpointing serves a training of every layer
    adapt(str(default_model_path), DOCS, tmp_path / "low", full)
    assert calls == [True, False]  # on for the training, off before the save
    adapt(str(default_model_path), DOCS, tmp_path / "plain", replace(full, low_memory=False))
    assert calls == [True, False]
    low, plain = (build_encoder(str(tmp_path / n), backend="torch").encode_passages([DOCS[0][1]])
                  for n in ("low", "plain"))
    assert np.allclose(low, plain, atol=1e-4)
    assert "gradient_checkpointing" not in (tmp_path / "low" / "config.json").read_text(encoding="utf-8")


@pytest.mark.model
def test_training_the_top_layers_leaves_the_lower_ones_and_the_embeddings_as_they_were(tmp_path, default_model_path,
                                                                                       monkeypatch):
    """trained_layers=N: only the top N transformer layers move; no checkpointing is switched on for it."""
    from dataclasses import replace

    import torch
    from safetensors.torch import load_file

    from matchmaking import adapt as adapt_module

    calls: list[bool] = []
    monkeypatch.setattr(adapt_module, "_checkpointing", lambda t, on: calls.append(on))
    adapt(str(default_model_path), DOCS, tmp_path / "top", replace(TINY, trained_layers=2, learning_rate=1e-3))
    assert calls == []
    before = load_file(str(default_model_path / "model.safetensors"))
    after = load_file(str(tmp_path / "top" / "model.safetensors"))
    layers = sorted({int(n.split("encoder.layer.")[1].split(".")[0]) for n in before if "encoder.layer." in n})
    top = {f"encoder.layer.{i}." for i in layers[-2:]}
    moved = {n for n in before if not torch.equal(before[n], after[n])}
    assert moved and all(any(t in n for t in top) for n in moved), sorted(moved)[:5]
    assert any(f"encoder.layer.{layers[-1]}." in n for n in moved)


@pytest.mark.model
def test_hard_negatives_enter_the_loss(tmp_path, default_model_path, monkeypatch):
    """DOCS holds every listing three times: the copies are passed over, other listings are found, and the first
    step's loss (same seed, same batch) is higher with the hard negatives as further candidates than without."""
    from dataclasses import replace

    from matchmaking import adapt as adapt_module

    found: list[list[str]] = []
    real = adapt_module.hard_negatives
    monkeypatch.setattr(adapt_module, "hard_negatives", lambda *a, **k: found.append(real(*a, **k)) or found[-1])
    hard = adapt(str(default_model_path), DOCS, tmp_path / "hard", replace(TINY, hard_negatives=True))
    plain = adapt(str(default_model_path), DOCS, tmp_path / "plain", replace(TINY, hard_negatives=False))
    assert len(found) == 1 and any(found[0])
    assert hard.steps == plain.steps == 2 and hard.options["hard_negatives"] is True
    assert hard.first_loss > plain.first_loss


@pytest.mark.model
def test_a_failed_adaptation_leaves_no_folder(tmp_path, default_model_path):
    def boom(step, total, loss):
        raise RuntimeError("killed mid-training")

    with pytest.raises(RuntimeError):
        adapt(str(default_model_path), DOCS, tmp_path / "adapted", TINY, progress=boom)
    assert not (tmp_path / "adapted").exists() and not list(tmp_path.glob(".adapted-*"))
    with pytest.raises(AdaptError, match="training pairs"):
        adapt(str(default_model_path), DOCS[:1], tmp_path / "adapted", AdaptOptions(batch_size=8))


def test_an_adapted_folder_carries_its_cosine_anchors_into_the_engine(tmp_path):
    from matchmaking.model_folder import fusion_overrides
    from matchmaking.engine import Fusion, HybridMatcher
    from matchmaking.lexical import LexicalIndex
    from matchmaking.vectorstore import FaissStore

    folder = _folder(tmp_path, "adapted")
    (folder / MARKER).write_text(json.dumps({"fusion": {"cos_floor": 0.2, "cos_ceil": 0.7, "stock_means": [1, 2]}}))
    assert fusion_overrides(folder) == {"cos_floor": 0.2, "cos_ceil": 0.7}
    assert fusion_overrides(_folder(tmp_path, "stock")) == {}

    class Encoder:
        dim, model_key, fusion = 4, "m@1", {"cos_floor": 0.2, "cos_ceil": 0.7}

    matcher = HybridMatcher(Encoder(), FaissStore(4), LexicalIndex.build([], []), {})
    assert (matcher.fusion.cos_floor, matcher.fusion.cos_ceil) == (0.2, 0.7)
    given = HybridMatcher(Encoder(), FaissStore(4), LexicalIndex.build([], []), {}, weights=Fusion())
    assert given.fusion.cos_floor == Fusion().cos_floor  # weights given by the caller win


def test_an_export_that_cannot_run_says_why_instead_of_failing_the_adaptation(tmp_path):
    from matchmaking.adapt import export_onnx

    why = export_onnx(tmp_path / "not-a-model")
    assert why and "not-a-model" in why
