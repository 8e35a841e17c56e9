"""Matrix products in int8 for the step loops of LSTMs on the CPU (the BiLSTM's, the character encoder's), with
nothing that depends on the batch.

The inputs of every product in these step loops are LSTM states, which lie in (-1, 1) (``h = o * tanh(c)``), so one
fixed scale maps them to int8 (1.0 -> 127) without looking at the other sentences of the batch: per-tensor dynamic
quantization (``torch.ao``'s, the ``int8`` precision) scales by the largest value in the batch, so a sentence's
tags can change with its neighbours. The weights get one scale per output column. The int8 product is computed
exactly in int32 (``torch._int_mm``), then scaled back. The products of the step loops are most of the BiLSTM's
tagging time on a CPU (bench/RESULTS.md, "Speed"); the loops themselves are :mod:`~bilstm_tagger.models.compiled_steps`.
"""

from __future__ import annotations

import functools
from typing import Callable, Dict, Iterable, List, NamedTuple, Sequence, Tuple, Union

import torch

#: What a state of 1.0 becomes (symmetric: -127 to 127).
QMAX = 127.0
#: Largest inner dimension for which a float32 product of int8-valued matrices is exact: every partial sum is then
#: an integer below 2 ** 24, whatever order the BLAS adds in.
EXACT_IN_FLOAT = 2**24 // int(QMAX * QMAX)
#: Batches of fewer rows multiply their int8 values in float32 instead (the same integers, bit for bit): one batched
#: call costs less than ``torch._int_mm``'s per direction when there is one sentence (9 against 16 microseconds a
#: step at hidden 96), and more from a few rows.
FLOAT_ROWS = 4


class QuantizedWeights(NamedTuple):
    """Weights (D, K, N) for :func:`bmm`: int8 values with one scale per output column."""

    values: torch.Tensor  # (D, K, N) int8
    as_float: torch.Tensor  # (D, K, N) the same values in float32
    factors: torch.Tensor  # (D, 1, N) what an int32 product of quantized states with ``values`` is multiplied by


@functools.lru_cache(maxsize=None)
def available() -> bool:
    """Whether this torch computes int8 products on the CPU (``torch._int_mm`` with ``out=``; older versions have
    it for CUDA only)."""
    try:
        ones, out = torch.ones((1, 8), dtype=torch.int8), torch.zeros((1, 1), dtype=torch.int32)
        return int(torch._int_mm(ones, ones.t().contiguous(), out=out)[0, 0]) == 8
    except (AttributeError, RuntimeError, NotImplementedError):
        return False


def quantize_columns(weights: torch.Tensor) -> QuantizedWeights:
    """Weights (D, K, N) in int8, one scale per output column (its largest magnitude -> 127)."""
    scales = weights.abs().amax(dim=-2, keepdim=True).clamp_min(torch.finfo(weights.dtype).tiny) / QMAX
    # contiguous whatever the layout of ``weights`` (a transposed view, say): the compiled loops' BLAS products take
    # a slow path on strided arrays (160 against 30 µs for a short sentence's heads)
    values = torch.round(weights / scales).contiguous()
    return QuantizedWeights(values.to(torch.int8), values, scales / QMAX)


def products(states: torch.Tensor, weights: QuantizedWeights) -> torch.Tensor:
    """The exact integer products of states (D, M, K) in [-1, 1], quantized, with ``weights``' int8 values: (D, M, N),
    int32, or for fewer than :data:`FLOAT_ROWS` rows float32 holding the same integers. Products of parts of K add up
    exactly to the product of the whole."""
    rows = (states * QMAX).round_()
    if states.shape[1] < FLOAT_ROWS and states.shape[-1] <= EXACT_IN_FLOAT:
        return torch.bmm(rows, weights.as_float)
    rows = rows.to(torch.int8)
    products = torch.empty((len(rows), rows.shape[1], weights.values.shape[-1]), dtype=torch.int32)
    for d in range(len(rows)):
        torch._int_mm(rows[d], weights.values[d], out=products[d])
    return products


def bmm(states: torch.Tensor, weights: QuantizedWeights) -> torch.Tensor:
    """``states @ weights`` for states (D, M, K) in [-1, 1]: (D, M, N) float (see :func:`products`)."""
    # torch.mul, not addcmul: addcmul with a broadcast factor is 15-30x slower from a few hundred rows (torch 2.13)
    return torch.mul(products(states, weights), weights.factors)


class KeptWeights:
    """Values derived from parameters (int8 copies, projection tables), made on first use and again when one of the
    parameters changes: an optimizer step between two dev evaluations changes them in place, which bumps their
    versions.

    ``parameters`` is the tensors a value is made from, or a function that lists them, called once per name and its
    list kept: walking a module's attributes for every batch costs a microsecond each (20 µs for a BiLSTM's)."""

    def __init__(self) -> None:
        self._kept: Dict[str, Tuple[tuple, object]] = {}
        self._listed: Dict[str, List[torch.Tensor]] = {}

    def get(
        self, name: str, parameters: Union[Sequence[torch.Tensor], Callable[[], Iterable[torch.Tensor]]],
        make: Callable[[], object],
    ):
        if callable(parameters):
            if name not in self._listed:
                self._listed[name] = list(parameters())
            parameters = self._listed[name]
        key = tuple((p.data_ptr(), p._version) for p in parameters)
        kept = self._kept.get(name)
        if kept is None or kept[0] != key:
            kept = self._kept[name] = (key, make())
        return kept[1]
