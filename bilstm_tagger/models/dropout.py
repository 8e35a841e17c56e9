"""Dropout for training on the CPU, its masks drawn by a compiled counter-based generator.

Torch draws a CPU dropout mask with its Mersenne Twister one number at a time: on the default model's EWT batches
(about 1,000 word slots of 464 and 192 features) its three dropouts took 8% of a training step, 6 ms for the widest
alone (bench/RESULTS.md, "Speed": "Training EWT in 10 minutes"). Here each value's keep-or-drop comes from
SplitMix64 of its index and one 64-bit seed, a loop the compiler vectorizes (0.11 ms for the same tensor). The seed
is drawn from torch's generator, so ``torch.manual_seed`` still fixes a run, a checkpoint's torch RNG state still
resumes it exactly, and each call draws a new mask. Elsewhere (a GPU, another dtype, evaluation) this is
``F.dropout``.

The kernel is compiled with numba on first use and kept in numba's cache; inference never imports numba here.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

#: Bits of each draw compared with the keep probability: its resolution is 2 ** -24.
_DRAW_BITS = 24


def _fill_keep_mask(seed: np.uint64, threshold: np.uint64, scale: np.float32, out: np.ndarray) -> None:
    """``out[i] = scale`` where the top 24 bits of SplitMix64's output for index ``i`` fall below ``threshold``,
    else 0 (compiled by :func:`_kernel`)."""
    gamma, mix1, mix2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
    s30, s27, s31, top = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(64 - _DRAW_BITS)
    zero = np.float32(0.0)
    for i in range(out.shape[0]):
        z = seed + np.uint64(i + 1) * gamma
        z = (z ^ (z >> s30)) * mix1
        z = (z ^ (z >> s27)) * mix2
        z = z ^ (z >> s31)
        out[i] = scale if (z >> top) < threshold else zero


@functools.lru_cache(maxsize=None)
def _kernel():
    from numba import njit  # here: numba takes half a second and 100 MB to import, which inference need not pay

    return njit(cache=True, nogil=True, error_model="numpy")(_fill_keep_mask)


def keep_mask(shape: torch.Size, p: float) -> torch.Tensor:
    """A float32 mask of ``shape``: each value ``1 / (1 - p)`` with probability ``1 - p``, else 0, independently;
    seeded from torch's default generator (one draw per call)."""
    seed = np.uint64(int(torch.randint(0, 2**62, (1,))))
    threshold = np.uint64(round((1.0 - p) * (1 << _DRAW_BITS)))
    out = np.empty(int(np.prod(shape)), dtype=np.float32)
    _kernel()(seed, threshold, np.float32(1.0 / (1.0 - p)), out)
    return torch.from_numpy(out).view(shape)


def dropout(values: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """``F.dropout(values, p, training)``, with the mask of :func:`keep_mask` for float32 tensors on the CPU."""
    if not training or p == 0.0:
        return values
    if values.device.type != "cpu" or values.dtype != torch.float32 or not 0.0 < p < 1.0:
        return F.dropout(values, p, training)
    return values * keep_mask(values.shape, p)


class Dropout(nn.Module):
    """``nn.Dropout`` by :func:`dropout` (no parameters: a model's weights are the same with either)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be between 0 and 1, not {p!r}")
        self.p = p

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return dropout(values, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
