"""matchmaking.onnx_export (measurement tool, not wired into build_encoder): offline export, agreement."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from matchmaking.encoders import Encoder, ModelNotReady

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


def test_export_of_a_missing_model_folder_says_how_to_make_it(tmp_path: Path) -> None:
    from matchmaking.onnx_export import default_onnx_dir, export, is_complete

    with pytest.raises(ModelNotReady, match="matchmaking.convert"):
        export(tmp_path / "absent", tmp_path / "out", quiet=True)
    assert default_onnx_dir(tmp_path / "m") == (tmp_path / "m-onnx").resolve()
    assert not is_complete(tmp_path / "out")


@pytest.fixture(scope="module")
def onnx_dir(default_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh export of the default model into a tmp folder (~30 s, 880 MB)."""
    from matchmaking.onnx_export import export

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exporter and tracer notes
        return export(default_model_path, tmp_path_factory.mktemp("onnx") / "e5-onnx", quiet=True)


@pytest.mark.slow
@pytest.mark.parametrize("quantize, mean_min, min_min", [(None, 0.99999, 0.9999), ("int8", 0.998, 0.995)])
def test_onnx_vectors_agree_with_torch_fp32(real_encoder: Encoder, onnx_dir: Path, quantize: str | None,
                                            mean_min: float, min_min: float) -> None:
    from matchmaking.onnx_export import OnnxEncoder, is_complete

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
