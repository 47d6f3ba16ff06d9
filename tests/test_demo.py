"""The op demo (``python -m inter4k.demo``) on the bundled sample image."""

from __future__ import annotations

import json
import math

import pytest

from inter4k import demo

ADA = "adaPool (beta 0.5) + adaUnPool"
EM = "eM only (beta 0) + adaUnPool"
BASE = "avg_pool2d + nearest"


@pytest.fixture(scope="module")
def result():
    return demo.run_demo()


def test_bundled_sample_is_there():
    assert demo.SAMPLE.is_file()
    img = demo.load_image(demo.SAMPLE)
    assert img.shape == (256, 256, 3) and img.dtype.name == "uint8"


def test_psnrs_are_finite_and_plausible(result):
    assert result["size"] == [256, 256] and result["factor"] == 2
    assert result["backend"] in ("compiled", "reference")
    assert set(result["psnr_db"]) == {ADA, EM, BASE}
    for name, value in result["psnr_db"].items():
        assert math.isfinite(value), name
        assert 15.0 < value < 45.0, (name, value)


def test_adaunpool_keeps_more_of_the_image_than_avg_nearest(result):
    # docs/OPS.md#information-retention: at 2x2, pool-then-unpool with the image's own weights beats
    # avg-pool + nearest by 1.3-3.4 dB at beta 0.5 and 2.4-6.8 dB at beta 0 on natural photos.
    p = result["psnr_db"]
    assert p[ADA] > p[BASE] + 1.0, p
    assert p[EM] > p[BASE] + 2.0, p


def test_demo_main_json(capsys):
    assert demo.main(["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["psnr_db"][ADA] > out["psnr_db"][BASE]


def test_demo_main_missing_image(tmp_path, capsys):
    assert demo.main([str(tmp_path / "nope.png")]) == 2
    assert "not found" in capsys.readouterr().err


def test_factor_must_be_at_least_2():
    with pytest.raises(ValueError, match="factor"):
        demo.run_demo(factor=1)
