"""encode_bench's harness: variants x batch sizes alternate in rounds, ratios and cosines against torch fp32."""
from __future__ import annotations

import numpy as np
import pytest

from matchmaking.tools import encode_bench, evaluate


class BatchRecordingEncoder:
    """Deterministic unit vectors per text; records the batch sizes it was called with."""

    dim = 8

    def __init__(self, key: str, noise: float) -> None:
        self.model_key, self.noise, self.batches = key, noise, []

    def encode_passages(self, texts, batch_size=32):
        self.batches.append(batch_size)
        out = np.stack([np.random.default_rng(sum(map(ord, t))).normal(size=8) for t in texts]) + self.noise
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def test_several_batch_sizes_are_labelled_and_compared_to_torch_at_the_first(monkeypatch):
    encoders = {"torch": BatchRecordingEncoder("k", 0.0), "torch-bf16": BatchRecordingEncoder("k+bf16", 0.05)}
    monkeypatch.setattr(encode_bench, "build", lambda v, *a: encoders[v])
    texts = [f"摘要 {i}" for i in range(6)]
    out = encode_bench.run("m", None, texts, ["torch-bf16"], [2, 4], 1, 2, lambda s: None)
    assert list(out["rounds"][0]) == ["torch@2", "torch@4", "torch-bf16@2", "torch-bf16@4"]
    assert all(row["torch@2"]["x_torch"] == 1.0 for row in out["rounds"])
    assert out["cosine_vs_torch"]["torch@4"]["min"] == pytest.approx(1.0, abs=1e-6)
    assert out["cosine_vs_torch"]["torch-bf16@2"]["min"] < 0.9999
    assert encoders["torch"].batches == [2, 4, 2, 4, 2, 4]  # warm-up, then two rounds
    assert out["model_keys"] == {"torch": "k", "torch-bf16": "k+bf16"}


@pytest.mark.parametrize("batch", ["0", "16,x", ""])
def test_bad_batch_exits_2(batch, capsys):
    with pytest.raises(SystemExit) as exc:
        encode_bench.main(["--batch", batch, "--variants", "torch"])
    assert exc.value.code == 2 and "--batch" in capsys.readouterr().err


def test_evaluate_and_bench_accept_bf16_and_reject_others(capsys):
    assert evaluate._args(["set", "--quantize", "bf16"]).quantize == "bf16"
    with pytest.raises(SystemExit) as exc:
        evaluate._args(["set", "--quantize", "fp16"])
    assert exc.value.code == 2 and "参数错误" in capsys.readouterr().err
