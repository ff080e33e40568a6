"""Export a sentence-transformers folder to ONNX for the ONNX Runtime encoder: trace, graph optimisation, int8.

Usage: ``python -m matchmaking.onnx_export --model instance/models/multilingual-e5-small
[--out DIR] [--force]``. It writes ``model.onnx`` (fp32) and ``model-int8.onnx`` (dynamic int8) into
``DIR`` (default: the model folder's sibling ``<name>-onnx``). The model folder itself is not touched,
so its digest and torch ``model_key`` do not change. Nothing is downloaded: the graph is traced from
the local sentence-transformers folder with ``torch.onnx.export`` (TorchScript exporter).

Steps (see docs/model.md, "ONNX Runtime"):

1. Trace BERT + mean pooling + L2 normalisation with eager attention (the SDPA path traces into
   IsNaN/Where nodes that ONNX Runtime's BERT fusions do not recognise), dynamic batch and sequence.
2. ``onnxruntime.transformers.optimizer.optimize_model(model_type="bert")``: fused Attention,
   EmbedLayerNormalization, SkipLayerNormalization and BiasGelu.
3. int8: ``onnxruntime.quantization.quantize_dynamic`` with per-channel 7-bit int8 weights on MatMul
   and the fused Attention (no saturation on AVX2 without VNNI, see ``_quantise``), except the FFN
   output MatMuls whose inputs carry outliers (the same
   calibration as the torch int8 path, ``encoders._outlier_linears``).

The encoder that runs the export is ``matchmaking.onnx_encoder`` (``EMBEDDING_BACKEND=onnx``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

from matchmaking.encoders import _load, _outlier_linears
from matchmaking.model_folder import ModelNotReady, folder_digest
from matchmaking.onnx_encoder import EXPORT_VERSION, MARKER, ONNX_FP32, ONNX_INT8, default_onnx_dir, is_complete

OPSET = 17
# copied next to the graphs: everything the ONNX encoder needs besides onnxruntime
_AUX_FILES = ("tokenizer.json", "tokenizer_config.json", "config.json", "config_sentence_transformers.json",
              "sentence_bert_config.json")


def _onnx_node_for(linear_name: str) -> str | None:
    """TorchScript node name of the MatMul of a BERT nn.Linear, e.g. layer.4 FFN output dense."""
    m = re.search(r"encoder\.layer\.(\d+)\.(.+)$", linear_name)
    return f"/b/encoder/layer.{m.group(1)}/{m.group(2).replace('.', '/')}/MatMul" if m else None


class _Pooled:  # built lazily so importing this module does not import torch
    @staticmethod
    def wrap(bert: Any) -> Any:
        import torch

        class Pooled(torch.nn.Module):
            """BERT -> mean over unmasked tokens -> L2 normalise (what the ST folder's modules do)."""

            def __init__(self, b: Any) -> None:
                super().__init__()
                self.b = b

            def forward(self, input_ids: Any, attention_mask: Any) -> Any:
                h = self.b(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(h.dtype)
                v = (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(v, p=2, dim=1)

        return Pooled(bert).eval()


def _export_fp32(model: Any, dest: Path) -> None:
    """Trace the sentence-transformers model into an ONNX graph with dynamic batch/sequence axes."""
    import torch

    bert = model[0].auto_model.eval()
    bert.set_attn_implementation("eager")
    wrapped = _Pooled.wrap(bert)
    ids = torch.tensor([[0, 100, 200, 2], [0, 300, 2, 1]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
            "sentence_embedding": {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation and tracer notes on shape checks
        torch.onnx.export(wrapped, (ids, mask), str(dest), input_names=["input_ids", "attention_mask"],
                          output_names=["sentence_embedding"], dynamic_axes=axes, opset_version=OPSET,
                          dynamo=False)
    bert.set_attn_implementation("sdpa")


def _optimise(src: Path, dest: Path, num_heads: int, hidden: int) -> dict[str, int]:
    """ONNX Runtime's offline BERT fusions; returns the fused-operator counts."""
    from onnxruntime.transformers.optimizer import optimize_model

    opt = optimize_model(str(src), model_type="bert", num_heads=num_heads, hidden_size=hidden, opt_level=0)
    opt.save_model_to_file(str(dest))
    return {k: v for k, v in opt.get_fused_operator_statistics().items() if v}


def _quantise(src: Path, dest: Path, exclude: Sequence[str]) -> None:
    """Dynamic int8, per-channel weights, on MatMul and Attention except the excluded nodes. Weights use 7 bits
    (reduce_range): on AVX2 CPUs without VNNI, ONNX Runtime multiplies uint8 activations by int8 weights with
    VPMADDUBSW, whose 16-bit pair sums saturate for full-range weights (255 x 127 x 2 > 32767) but not for 7-bit
    ones (255 x 64 x 2 < 32767). Full range lost 0.0063 dense nDCG@10 on the dev `gap` set on an AMD EPYC
    (AVX2) against 0.0039 on an Intel CPU with VNNI; 7 bits lost 0.0041 on the AMD one at the same speed, and
    give the same arithmetic on every CPU (docs/model.md, "int8 on CPUs without VNNI")."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)  # "consider pre-processing" advice, not applicable here
    quantize_dynamic(str(src), str(dest), per_channel=True, weight_type=QuantType.QInt8, reduce_range=True,
                     op_types_to_quantize=["MatMul", "Attention"], nodes_to_exclude=list(exclude),
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def export(model_dir: str | os.PathLike, out: str | os.PathLike | None = None, *, force: bool = False,
           quiet: bool = False) -> Path:
    """Export ``model_dir`` to ONNX (fp32 + int8) in ``out``; a no-op when it is already done."""
    src = Path(model_dir).expanduser().resolve()
    if not (src / "modules.json").is_file():
        raise ModelNotReady(src)
    dest = Path(out).expanduser().resolve() if out else default_onnx_dir(src)
    digest = folder_digest(src)
    if not force and is_complete(dest, digest):
        return dest
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr))
    import onnxruntime
    import torch

    t0 = time.perf_counter()
    model = _load(str(src), local=True)
    cfg = model[0].auto_model.config
    keep_fp32 = sorted(n for n in map(_onnx_node_for, _outlier_linears(model)) if n)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
    try:
        raw = tmp / "raw.onnx"
        _export_fp32(model, raw)
        say(f"exported {raw.stat().st_size >> 20} MB in {time.perf_counter() - t0:.0f} s")
        fused = _optimise(raw, tmp / ONNX_FP32, cfg.num_attention_heads, cfg.hidden_size)
        raw.unlink()
        say(f"optimised: {fused}")
        _quantise(tmp / ONNX_FP32, tmp / ONNX_INT8, keep_fp32)
        say(f"int8 written; fp32 MatMuls kept: {keep_fp32}")
        for name in _AUX_FILES:
            if (src / name).is_file():
                shutil.copy2(src / name, tmp / name)
        import onnx

        marker = {"export_version": EXPORT_VERSION, "source": str(src), "source_digest": digest,
                  "opset": OPSET, "int8_fp32_nodes": keep_fp32, "fused": fused,
                  "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                               "onnx": onnx.__version__},
                  "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (tmp / MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    say(f"done in {time.perf_counter() - t0:.0f} s -> {dest}")
    return dest


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: export a sentence-transformers folder to ONNX (fp32 + int8)."""
    ap = argparse.ArgumentParser(prog="python -m matchmaking.onnx_export", description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=os.environ.get("EMBEDDING_MODEL", "instance/models/multilingual-e5-small"))
    ap.add_argument("--out", default=None, help="output folder (default: <model>-onnx beside it)")
    ap.add_argument("--force", action="store_true", help="export again even if --out is complete")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        print(export(args.model, args.out, force=args.force))
    except Exception as exc:  # noqa: BLE001 - one bilingual line, exit 2, like matchmaking.convert
        print(f"ONNX 导出失败 / ONNX export failed: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
