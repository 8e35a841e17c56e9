"""The int8 step loops of bidirectional LSTMs at inference on the CPU (the sentence BiLSTM's layers and the
character encoders), compiled to machine code with numba.

A short sentence is a few dozen LSTM steps, and each step in torch is a dozen small operations whose dispatch
(1-6 µs each) costs far more than their arithmetic (bench/RESULTS.md, "Speed": latency). Here, at each step and for
each direction, the states of the sequences still running are quantized to int8 on the fixed scale of
:mod:`~bilstm_tagger.models.int8` and multiplied by the int8 recurrent weights in one matrix product; then
:func:`_cell_step` updates each sequence's cell. For a few sequences the whole loop is one compiled call
(:func:`_layer`, :func:`_stack` for all the layers of a BiLSTM) and the products are BLAS's on int8 values held as
float32; for more, the loop runs in Python and the products are torch's int8 ones (``torch._int_mm``, faster on
large batches). Either way the products are exact integers (below 2 ** 24 in float32, whatever the order of the
additions), and the rest is the same compiled code, so a sequence's states are the same bits whatever else is in
the batch.

The sigmoid is this module's own (:func:`_sigmoid`: a Cephes-style ``exp``, within 3e-7 of the exact sigmoid),
written so that the compiler vectorizes it, which libm's ``exp`` does not allow; the cell is ``nn.LSTM``'s up to
float rounding. Functions are compiled on first use and kept in numba's cache (next to this file, or in the user's
cache folder where that is read-only).
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from numba import njit

from . import int8

#: int8 scale of a state of 1.0, as in :mod:`~bilstm_tagger.models.int8`
_QMAX = np.float32(127.0)
_LOG2E = np.float32(1.44269504088896341)
# ln 2 in two parts, so that x - n ln 2 is exact for the n of float32's range (Cephes' expf)
_LN2_HIGH = np.float32(0.693359375)
_LN2_LOW = np.float32(-2.12194440e-4)
_EXP_POLY = tuple(np.float32(p) for p in (
    1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1
))
#: Batches of this many sequences take torch's int8 products (see the module docstring); fewer run all compiled.
#: The crossover, one thread: 16 character sequences (hidden 128) ran in 438 µs with torch's products against 517
#: compiled, 8 in 306 against 223; 32 sequences of one layer at hidden 96 in 801 against 887.
TORCH_PRODUCT_ROWS = 16
#: Below this many positions a linear head's int8 product is compiled (:func:`linear`), from it torch's
LINEAR_TORCH_ROWS = 64
#: Largest inner dimension whose int8 products sum exactly in float32 (int8's ``EXACT_IN_FLOAT``)
EXACT_ROWS = int8.EXACT_IN_FLOAT
#: OpenBLAS runs a product of fewer multiply-adds than this (M * N * K) on one thread: :func:`_products` cuts larger
#: ones into such blocks of rows, so that a few sequences never wake BLAS's threads (which a busy core stalls).
ONE_THREAD_WORK = 4 * 65536
# exp(-x) for x beyond these stays finite and its sigmoid is 0 or 1 to float32
_EXP_LOW, _EXP_HIGH = np.float32(-87.0), np.float32(87.0)


@njit(cache=True, nogil=True, error_model="numpy")
def _sigmoid(values: np.ndarray, scale: np.float32, powers: np.ndarray) -> None:
    """``values[:] = 1 / (1 + exp(-scale * values))`` in place; ``powers``: int32 scratch of the same size."""
    # the constants as locals: read from globals inside the loop, they are reloaded after every store (they might
    # alias the arrays), which keeps the compiler from vectorizing it
    low, high, log2e, ln2_high, ln2_low = _EXP_LOW, _EXP_HIGH, _LOG2E, _LN2_HIGH, _LN2_LOW
    p0, p1, p2, p3, p4, p5 = _EXP_POLY
    one, half, bias = np.float32(1.0), np.float32(0.5), np.int32(127)
    for j in range(values.shape[0]):
        x = min(max(-scale * values[j], low), high)
        whole = np.floor(x * log2e + half)
        r = (x - whole * ln2_high) - whole * ln2_low
        p = ((((p0 * r + p1) * r + p2) * r + p3) * r + p4) * r + p5
        values[j] = p * r * r + r + one
        powers[j] = (np.int32(whole) + bias) << np.int32(23)  # 2 ** whole, as float32 bits
    twos = powers.view(np.float32)
    for j in range(values.shape[0]):
        values[j] = one / (one + values[j] * twos[j])


@njit(cache=True, nogil=True, error_model="numpy")
def _products(rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(M, K) int8 values times (K, N) int8 values, both held as float32: (M, N), in blocks of rows small enough for
    BLAS to keep to one thread (:data:`ONE_THREAD_WORK`). Up to :data:`EXACT_ROWS` rows of ``weights`` the sums are
    integers below 2 ** 24, exact in float32 whatever the order of BLAS's additions; a longer K is summed in such
    parts, in a fixed order, so that each row's result still depends on that row alone."""
    m, k = rows.shape
    n = weights.shape[1]
    out = np.zeros((m, n), np.float32)
    block = max(1, ONE_THREAD_WORK // max(1, n * min(k, EXACT_ROWS)) - 1)
    for first in range(0, m, block):
        last = min(m, first + block)
        for start in range(0, k, EXACT_ROWS):
            stop = min(k, start + EXACT_ROWS)
            out[first:last] += np.dot(np.ascontiguousarray(rows[first:last, start:stop]), weights[start:stop])
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def _quantize(states: np.ndarray, out: np.ndarray) -> None:
    """States (M, H) in (-1, 1) on the int8 scale, rounded half to even as torch rounds: ``out`` (M, H), float32 or
    int8."""
    flat_states, flat_out = states.reshape(states.size), out.reshape(out.size)
    for k in range(flat_states.size):
        flat_out[k] = np.rint(flat_states[k] * _QMAX)


@njit(cache=True, nogil=True, error_model="numpy")
def _cell_step(
    gates: np.ndarray, t: int, d: int, table: np.ndarray, ids: np.ndarray, lengths: np.ndarray, order: np.ndarray,
    factors: np.ndarray, bias: np.ndarray, offsets: np.ndarray, h: np.ndarray, c: np.ndarray, tanh_c: np.ndarray,
    powers: np.ndarray, states: np.ndarray, scaled_inputs: bool, with_offsets: bool, keep_states: bool,
) -> None:
    """Step t of direction d for the first ``len(gates)`` rows (the sequences still running), from their recurrent
    products ``gates`` (active, 4H), overwritten: the new states and cells into ``h``, ``c`` (each (2, B, H), row r
    for sequence order[r]), and into ``states`` with ``keep_states``."""
    active, width = gates.shape
    hidden = width // 4
    two, one = np.float32(2.0), np.float32(1.0)
    scale, shift = factors[d], bias[d]
    for r in range(active):
        b = order[r]
        inputs = table[d, ids[b, t if d == 0 else lengths[b] - 1 - t]]
        g = gates[r]
        if scaled_inputs:  # integer products of the inputs: scaled with the state's, then the bias
            for j in range(width):
                g[j] = (g[j] + inputs[j]) * scale[j] + shift[j]
        elif with_offsets:
            offset = offsets[d, b]
            for j in range(width):
                g[j] = g[j] * scale[j] + (inputs[j] + offset[j])
        else:
            for j in range(width):
                g[j] = g[j] * scale[j] + inputs[j]
    _sigmoid(gates.reshape(active * width), one, powers)
    # gates i, f, g, o as in nn.LSTM, g's pre-activation doubled: tanh(g) = 2 sigmoid(2g) - 1
    for r in range(active):
        g, cell, tanh_cell = gates[r], c[d, r], tanh_c[r]
        for k in range(hidden):
            i = g[k]
            cell[k] = g[hidden + k] * cell[k] - i + two * i * g[2 * hidden + k]
            tanh_cell[k] = cell[k]
    _sigmoid(tanh_c[:active].reshape(active * hidden), two, powers)
    for r in range(active):
        g, state, tanh_cell = gates[r], h[d, r], tanh_c[r]
        for k in range(hidden):
            state[k] = (two * tanh_cell[k] - one) * g[3 * hidden + k]
    if keep_states:
        for r in range(active):
            b = order[r]
            states[b, t if d == 0 else lengths[b] - 1 - t, d * hidden:(d + 1) * hidden] = h[d, r]


@njit(cache=True, nogil=True, error_model="numpy")
def _layer(
    table: np.ndarray, ids: np.ndarray, lengths: np.ndarray, order: np.ndarray, recurrent: np.ndarray,
    factors: np.ndarray, bias: np.ndarray, offsets: np.ndarray, states: np.ndarray, final_h: np.ndarray,
    final_c: np.ndarray, scaled_inputs: bool, with_offsets: bool, keep_states: bool,
) -> None:
    """One layer, all steps, products by BLAS (:func:`_products`); the arguments as :func:`_torch_products_layer`'s."""
    n = order.shape[0]
    hidden = recurrent.shape[1]
    # Row r of the state buffers is sequence order[r]'s: longest first, so that the sequences still running at step
    # t are the first rows, whose products are one matrix product and whose element-wise steps are long loops.
    h = np.zeros((2, n, hidden), np.float32)
    c = np.zeros((2, n, hidden), np.float32)
    quantized = np.empty((n, hidden), np.float32)
    tanh_c = np.empty((n, hidden), np.float32)
    powers = np.empty(n * 4 * hidden, np.int32)
    active = n
    steps = lengths[order[0]] if n > 0 else 0
    for t in range(steps):
        while active > 0 and lengths[order[active - 1]] <= t:
            active -= 1
        for d in range(2):
            _quantize(h[d, :active], quantized[:active])
            gates = _products(quantized[:active], recurrent[d])  # (active, 4H)
            _cell_step(gates, t, d, table, ids, lengths, order, factors, bias, offsets, h, c, tanh_c, powers, states,
                       scaled_inputs, with_offsets, keep_states)
    for r in range(n):
        final_h[:, order[r]] = h[:, r]
        final_c[:, order[r]] = c[:, r]


def _torch_products_layer(
    table: np.ndarray, ids: np.ndarray, lengths: np.ndarray, order: np.ndarray, recurrent: int8.QuantizedWeights,
    factors: np.ndarray, bias: np.ndarray, offsets: np.ndarray, states: np.ndarray, final_h: np.ndarray,
    final_c: np.ndarray, scaled_inputs: bool, with_offsets: bool, keep_states: bool,
) -> None:
    """:func:`_layer` with each step's products in torch's int8 (for many sequences): ``table`` (2, R, 4H), ``ids``
    (B, T), ``lengths`` (B,), ``order`` the sequences longest first, ``factors`` and ``bias`` (2, 4H), ``offsets``
    (2, B, 4H) or empty, into ``states`` (B, T, 2H) and ``final_h``, ``final_c`` (2, B, H)."""
    n = len(order)
    hidden = recurrent.values.shape[1]
    h = np.zeros((2, n, hidden), np.float32)
    c = np.zeros((2, n, hidden), np.float32)
    quantized = torch.empty((n, hidden), dtype=torch.int8)
    products = torch.empty((n, 4 * hidden), dtype=torch.int32)
    gates = np.empty((n, 4 * hidden), np.float32)
    tanh_c = np.empty((n, hidden), np.float32)
    powers = np.empty(n * 4 * hidden, np.int32)
    running = (lengths[order][None, :] > np.arange(lengths.max(initial=0))[:, None]).sum(axis=1).tolist()
    for t, active in enumerate(running):
        for d in range(2):
            _quantize(h[d, :active], quantized.numpy()[:active])
            torch._int_mm(quantized[:active], recurrent.values[d], out=products[:active])
            np.copyto(gates[:active], products.numpy()[:active])  # exact: integers below 2 ** 24
            _cell_step(gates[:active], t, d, table, ids, lengths, order, factors, bias, offsets, h, c, tanh_c, powers,
                       states, scaled_inputs, with_offsets, keep_states)
    final_h[:, order] = h
    final_c[:, order] = c


def bidirectional_layer(
    table: np.ndarray, ids: np.ndarray, lengths: np.ndarray, recurrent: int8.QuantizedWeights, *,
    bias: Optional[np.ndarray] = None, offsets: Optional[np.ndarray] = None, keep_states: bool = False,
) -> Tuple[Optional[np.ndarray], np.ndarray, np.ndarray]:
    """Run one bidirectional LSTM layer over sequences, step by step, with int8 recurrent products.

    Args:
        table: (2, R, 4H) float32 rows of inputs per direction (forward first), gates in ``nn.LSTM``'s order, the
            cell input's doubled (:func:`~bilstm_tagger.models.neural.doubled_cell_input`): input projections with
            both biases, or, with ``bias``, the integer products of the layer's quantized inputs.
        ids: (B, T) int64: position p of sequence b reads row ``ids[b, p]`` of ``table``.
        lengths: (B,) int64 sequence lengths, each at most T.
        recurrent: (2, H, 4H) the recurrent weights in int8 (:func:`~bilstm_tagger.models.int8.quantize_columns`),
            doubled the same way.
        bias: (2, 4H) float32: ``table`` holds integer products, scaled with the state's and then biased.
        offsets: (2, B, 4H) float32 added to every input of a sequence (the lemmatizer's UPOS rows).
        keep_states: also return every position's states.

    Returns:
        The states (B, T, 2H), zero after each sequence's end (None without ``keep_states``), and each sequence's
        final state and cell, each (2, B, H): the forward direction's at its last position, the backward one's at
        its first.
    """
    n, width = ids.shape
    hidden = recurrent.values.shape[1]
    lengths = np.asarray(lengths, np.int64)
    states = np.zeros((n, width, 2 * hidden) if keep_states else (0, 0, 0), np.float32)
    final_h = np.zeros((2, n, hidden), np.float32)
    final_c = np.zeros((2, n, hidden), np.float32)
    factors = _dense(recurrent.factors[:, 0])
    arguments = (
        np.zeros((2, 4 * hidden), np.float32) if bias is None else np.ascontiguousarray(bias, np.float32),
        np.zeros((2, 0, 4 * hidden), np.float32) if offsets is None else np.asarray(offsets, np.float32),
        states, final_h, final_c, bias is not None, offsets is not None, keep_states,
    )
    table, ids = np.asarray(table, np.float32), np.ascontiguousarray(ids, np.int64)
    order = np.argsort(-lengths, kind="stable")
    if n < TORCH_PRODUCT_ROWS:
        _layer(table, ids, lengths, order, _dense(recurrent.as_float), factors, *arguments)
    else:
        _torch_products_layer(table, ids, lengths, order, recurrent, factors, *arguments)
    return (states if keep_states else None), final_h, final_c


@njit(cache=True, nogil=True, error_model="numpy")
def _linear(states: np.ndarray, weights: np.ndarray, factors: np.ndarray, bias: np.ndarray) -> np.ndarray:
    quantized = np.empty(states.shape, np.float32)
    _quantize(states, quantized)
    out = _products(quantized, weights)
    for r in range(out.shape[0]):
        row = out[r]
        for j in range(out.shape[1]):
            row[j] = row[j] * factors[j] + bias[j]
    return out


def _dense(values: torch.Tensor) -> np.ndarray:
    """A float32 tensor as a C-contiguous array (no copy when it is one): strided arrays send numba's products down a
    slow path."""
    return np.ascontiguousarray(values.numpy(), np.float32)


def linear(states: np.ndarray, weights: int8.QuantizedWeights, bias: np.ndarray) -> torch.Tensor:
    """``states @ weights + bias`` for states (M, K) in [-1, 1] and int8 weights (1, K, N), bias (N,) float32: (M, N)
    float32, what :func:`~bilstm_tagger.models.int8.bmm` gives plus the bias (exact integer products, then the same
    product by the scales and sum), compiled for fewer than :data:`LINEAR_TORCH_ROWS` rows."""
    if len(states) < LINEAR_TORCH_ROWS:
        return torch.from_numpy(_linear(np.ascontiguousarray(states, np.float32), _dense(weights.as_float[0]),
                                        _dense(weights.factors[0, 0]), bias))
    return int8.bmm(torch.from_numpy(states)[None], weights)[0].add_(torch.from_numpy(bias))


class LayerWeights(NamedTuple):
    """One layer of a BiLSTM as :func:`layer_stack` reads it, the cell input's doubled
    (:func:`~bilstm_tagger.models.neural.doubled_cell_input`); a layer's input and recurrent weights share one scale
    per column (:func:`~bilstm_tagger.models.int8.quantize_columns` of both stacked)."""

    inputs: Optional[int8.QuantizedWeights]  # (2, 2H, 4H) above the first layer; None for the first
    recurrent: int8.QuantizedWeights  # (2, H, 4H)
    bias: Optional[np.ndarray]  # (2, 4H) both biases summed above the first layer (the first's are in its inputs)


class LayerStack(NamedTuple):
    """A multi-layer BiLSTM's weights for :func:`bilstm_states`: each layer's, and the same as arrays of all layers
    for the compiled loop over the layers of a few sentences."""

    layers: Tuple[LayerWeights, ...]
    inputs: np.ndarray  # (L - 1, 2, 2H, 4H) float32 int8 values of the input weights above the first layer
    recurrent: np.ndarray  # (L, 2, H, 4H) float32 int8 values
    factors: np.ndarray  # (L, 2, 4H)
    bias: np.ndarray  # (L, 2, 4H), zero for the first layer


def layer_stack(layers: Sequence[LayerWeights]) -> LayerStack:
    """Stack the layers' weights (every layer above the first has ``inputs`` and ``bias``)."""
    recurrent = layers[0].recurrent.as_float
    zero = np.zeros((2, recurrent.shape[-1]), np.float32)
    inputs = [layer.inputs.as_float.numpy() for layer in layers[1:]]
    return LayerStack(
        layers=tuple(layers),
        inputs=np.stack(inputs) if inputs else np.zeros((0, 2, 2 * recurrent.shape[1], zero.shape[1]), np.float32),
        recurrent=np.stack([layer.recurrent.as_float.numpy() for layer in layers]),
        factors=np.stack([layer.recurrent.factors[:, 0].numpy() for layer in layers]),
        bias=np.stack([zero if layer.bias is None else layer.bias for layer in layers]).astype(np.float32),
    )


@njit(cache=True, nogil=True, error_model="numpy")
def _stack(
    table: np.ndarray, ids: np.ndarray, lengths: np.ndarray, order: np.ndarray, inputs: np.ndarray,
    recurrent: np.ndarray, factors: np.ndarray, bias: np.ndarray, states: np.ndarray,
) -> None:
    """All layers of :func:`bilstm_states` for a few sentences, in one call (the arrays of a :class:`LayerStack`)."""
    n, width = ids.shape
    hidden = recurrent.shape[2]
    unused = np.zeros((2, 0, 4 * hidden), np.float32)
    final = np.zeros((2, n, hidden), np.float32)
    _layer(table, ids, lengths, order, recurrent[0], factors[0], bias[0], unused, states, final, final.copy(),
           False, False, True)
    positions = np.arange(n * width).reshape(n, width)
    quantized = np.empty((n * width, 2 * hidden), np.float32)
    products = np.empty((2, n * width, 4 * hidden), np.float32)
    for layer in range(1, recurrent.shape[0]):
        # every position's input product at once, before the loop (those past a sentence's end are never read)
        _quantize(states.reshape(n * width, 2 * hidden), quantized)
        for d in range(2):
            products[d] = _products(quantized, inputs[layer - 1, d])
        _layer(products, positions, lengths, order, recurrent[layer], factors[layer], bias[layer], unused, states,
               final, final.copy(), True, False, True)


def bilstm_states(table: np.ndarray, ids: np.ndarray, lengths: np.ndarray, weights: LayerStack) -> np.ndarray:
    """The states of a multi-layer BiLSTM.

    Args:
        table: (2, R, 4H) float32 the first layer's input projections per direction, both biases included.
        ids: (B, T) int64 each position's row of ``table``.
        lengths: (B,) int64 sentence lengths.
        weights: the layers' weights (:func:`layer_stack`).

    Returns:
        (B, T, 2H) float32 the last layer's states, forward ones first, zero after each sentence's end.
    """
    n, width = ids.shape
    table, ids = np.asarray(table, np.float32), np.ascontiguousarray(ids, np.int64)
    lengths = np.asarray(lengths, np.int64)
    if n < TORCH_PRODUCT_ROWS:
        states = np.zeros((n, width, 2 * weights.recurrent.shape[2]), np.float32)
        _stack(table, ids, lengths, np.argsort(-lengths, kind="stable"), weights.inputs, weights.recurrent,
               weights.factors, weights.bias, states)
        return states
    states = None
    for layer in weights.layers:
        if layer.inputs is not None:
            # every position's input product at once, before the loop (those past a sentence's end are never read)
            below = torch.from_numpy(states).view(1, n * width, -1).expand(2, -1, -1)
            table = int8.products(below, layer.inputs).float().numpy()  # (2, B * T, 4H) integers
            ids = np.arange(n * width).reshape(n, width)
        states = bidirectional_layer(table, ids, lengths, layer.recurrent, bias=layer.bias, keep_states=True)[0]
    return states
