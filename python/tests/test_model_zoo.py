"""torchvision networks through every stage (model_zoo.py), small enough for
CI: images of 64 x 64, batch 2. The float program must match PyTorch, the
deployed integer program the float network (cosine similarity of the logits
>= 0.99, the issue's bar), and the faithful simulation the deployed program
bit for bit; and the integer logits must be as close to float as PyTorch's
FX int8 gets (model_zoo.py also prints the float network's own sensitivity
to 8-bit rounding noise). Two networks whose training programs compile in
about a minute, and a small ViT (torchvision's VisionTransformer: 2 layers,
4 heads, width 64: attention, layer norm, GELU); the MobileNets' take several (depthwise gradients), so they and the
rest of the zoo at 224 x 224 run with `python3 python/tests/model_zoo.py
--all` (docs/Frontend.md)."""

import pytest

pytest.importorskip("torchvision")

import model_zoo  # noqa: E402


@pytest.mark.parametrize("name", ["resnet18", "squeezenet1_1", "vit_tiny"])
def test_torchvision_model_end_to_end(name, tmp_path):
    row = {}
    model_zoo.run(name, batch=2, workdir=str(tmp_path), row=row, steps=1,
                  calibration=8, size=64)
    print(model_zoo.table([row]))
    assert row["stage"] == "deployed", row
    assert row["cos_fp32"] > 0.9999, row
    assert row["collapsed"] == 0, row
    assert row["cos_int8"] >= 0.99, row
    # Not behind PyTorch's FX int8, calibrated on the same images (FX
    # cannot trace the ViT: NaN).
    if row["cos_fx_int8"] == row["cos_fx_int8"]:
        assert row["cos_int8"] >= row["cos_fx_int8"] - 1e-3, row
    assert row["faithful_diff"] == 0, row  # faithful = deployed, bit for bit
