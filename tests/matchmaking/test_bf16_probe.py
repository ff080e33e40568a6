"""The CPU probe behind EMBEDDING_QUANTIZE=bf16, read from cpuinfo files of known CPUs (no model)."""
from __future__ import annotations

from pathlib import Path

import pytest

from matchmaking.encoders import cpu_bf16_flags

SAPPHIRE_RAPIDS = "flags\t\t: fpu sse2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n"
ICE_LAKE = "flags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni\n"
NEOVERSE_V1 = "Features\t: fp asimd sve bf16 i8mm\n"


def _cpuinfo(tmp_path: Path, text: str) -> str:
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\n" + text + "model name\t: bf16 in a model name is not a flag\n")
    return str(path)


def test_amx_and_avx512_bf16_are_found(tmp_path: Path) -> None:
    assert cpu_bf16_flags(_cpuinfo(tmp_path, SAPPHIRE_RAPIDS)) == {"amx_bf16", "avx512_bf16"}


def test_arm_bf16_feature_is_found(tmp_path: Path) -> None:
    assert cpu_bf16_flags(_cpuinfo(tmp_path, NEOVERSE_V1)) == {"bf16"}


def test_avx512_without_bf16_is_not_enough(tmp_path: Path) -> None:
    assert cpu_bf16_flags(_cpuinfo(tmp_path, ICE_LAKE)) == frozenset()


def test_missing_cpuinfo_means_no_bf16(tmp_path: Path) -> None:
    assert cpu_bf16_flags(str(tmp_path / "absent")) == frozenset()


def test_auto_is_bf16_on_torch_with_native_bf16_and_int8_passages_on_onnx(monkeypatch):
    from matchmaking import encoders

    monkeypatch.setattr(encoders, "cpu_supports_bf16", lambda: True)
    assert encoders.resolve_quantize("auto") == "bf16"
    assert encoders.resolve_quantize("auto", "onnx") == "int8"
    monkeypatch.setattr(encoders, "cpu_supports_bf16", lambda: False)
    assert encoders.resolve_quantize("auto") is None
    assert [encoders.resolve_quantize(v) for v in (None, "", "none", "int8", "bf16")] == [None, None, None, "int8", "bf16"]


@pytest.mark.parametrize("bf16, exported, backend, quantize, expect", [
    (True, True, "auto", "auto", ("torch", "bf16")),     # native bf16: torch autocast
    (False, True, "auto", "auto", ("onnx", "int8")),     # AVX2 only: int8 ONNX passages, fp32 queries
    (False, False, "auto", "auto", ("torch", None)),     # no export (yet): torch fp32
    (False, True, "auto", "none", ("torch", None)),      # fp32 asked for: the torch reference
    (False, True, "auto", "int8", ("onnx", "int8")),
    (False, True, "torch", "auto", ("torch", None)),     # an explicit backend is kept
    (True, True, "onnx", "auto", ("onnx", "int8")),
])
def test_auto_set_up_follows_the_cpu_and_the_export(monkeypatch, bf16, exported, backend, quantize, expect):
    from matchmaking import encoders

    monkeypatch.setattr(encoders, "cpu_supports_bf16", lambda: bf16)
    monkeypatch.setattr(encoders, "onnx_export_ready", lambda path: exported)
    assert encoders.resolve_setup("models/m", backend, quantize) == expect


def test_cpu_flags_name_what_decides_the_set_up(tmp_path: Path) -> None:
    from matchmaking.encoders import cpu_flags

    assert cpu_flags(_cpuinfo(tmp_path, "flags : fpu avx2 fma avx512f avx512_vnni amx_bf16 amx_int8\n")) == \
        ["avx2", "avx512f", "avx512_vnni", "amx_int8", "amx_bf16"]
    assert cpu_flags(str(tmp_path / "absent")) == []
