"""Model FLOPs utilisation: the per-GPU peaks MFU is measured against.

MFU = achieved model FLOP/s ÷ peak FLOP/s, where the model's FLOPs per token come from
``Transformer.flops_per_token`` (``6·N + 12·L·d·T``) and the peak is the GPU's dense bf16
tensor-core rate. On CPU there is no meaningful peak, so MFU is reported as n/a.
"""

from __future__ import annotations

import torch

# Dense bf16 tensor-core peaks per GPU, from the vendor data sheets (no 2:4 sparsity).
# The H100 figure is the SXM part's; the H200 has the same compute. A PCIe H100 (756)
# will read high: set peak_tflops in the config for it.
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def peak_flops_for_name(device_name: str) -> float | None:
    """Dense bf16 peak (FLOP/s) of a GPU by its CUDA name, e.g. "NVIDIA H100 80GB HBM3"; None if unknown."""
    return next((v for k, v in PEAK_BF16_FLOPS.items() if k in device_name), None)


def peak_flops(device: torch.device, override_tflops: float | None = None) -> float | None:
    """Per-device dense bf16 peak in FLOP/s: the override, else looked up by GPU name; None on CPU."""
    if override_tflops is not None:
        return override_tflops * 1e12
    if device.type != "cuda":
        return None
    return peak_flops_for_name(torch.cuda.get_device_name(device))
