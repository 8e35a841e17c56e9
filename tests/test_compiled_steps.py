"""The compiled int8 step loops (bilstm_tagger.models.compiled_steps): close to torch's LSTM in float32, and a
sequence's states the same bits whatever else is in the batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from bilstm_tagger.models import compiled_steps, int8
from bilstm_tagger.models.neural import doubled_cell_input


def _sigmoid(values: np.ndarray, scale: float) -> np.ndarray:
    out = values.astype(np.float32).copy()
    compiled_steps._sigmoid(out, np.float32(scale), np.empty(len(out), np.int32))
    return out


def test_sigmoid_is_torchs_to_float32_rounding_over_the_whole_range():
    values = np.concatenate([np.linspace(-120, 120, 4001), [0.0, -0.0, 1e-8, -1e-8, 88.5, -88.5]]).astype(np.float32)
    expected = torch.sigmoid(torch.from_numpy(values).double()).numpy()
    np.testing.assert_allclose(_sigmoid(values, 1.0), expected, rtol=3e-7, atol=1e-30)
    np.testing.assert_allclose(_sigmoid(values, 2.0), torch.sigmoid(torch.from_numpy(values).double() * 2).numpy(),
                               rtol=3e-7, atol=1e-30)
    low, high = _sigmoid(np.array([-200.0, 200.0]), 1.0).tolist()
    assert 0.0 <= low < 1e-37 and high == 1.0  # finite far out: exp's argument is clamped


def _lstm_and_inputs(layers: int, seed: int = 0):
    torch.manual_seed(seed)
    lstm = nn.LSTM(6, 5, num_layers=layers, bidirectional=True, batch_first=True).eval()
    vectors = torch.randn(9, 6)  # one input vector per id
    # more sequences than take the compiled products, so that a sequence alone and in the batch take both kinds
    n = compiled_steps.TORCH_PRODUCT_ROWS + 3
    lengths = torch.randint(1, 8, (n,))
    lengths[:3] = torch.tensor([4, 1, 7])
    ids = torch.randint(0, 9, (n, 7))
    return lstm, vectors, ids, lengths


def _reference(lstm: nn.LSTM, vectors: torch.Tensor, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, T, 2H) states of nn.LSTM in float32, zero after each sequence's end."""
    with torch.inference_mode():
        packed = nn.utils.rnn.pack_padded_sequence(vectors[ids], lengths, batch_first=True, enforce_sorted=False)
        states, _ = nn.utils.rnn.pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=ids.shape[1])
    return states


def _first_layer(lstm: nn.LSTM, vectors: torch.Tensor):
    """The first layer's input table (2, V, 4H) and int8 recurrent weights, as the models prepare them."""
    hidden, names = lstm.hidden_size, ("l0", "l0_reverse")
    with torch.inference_mode():
        table = torch.stack([
            torch.addmm(getattr(lstm, f"bias_ih_{n}") + getattr(lstm, f"bias_hh_{n}"), vectors,
                        getattr(lstm, f"weight_ih_{n}").t())
            for n in names
        ])
        recurrent = torch.stack([getattr(lstm, f"weight_hh_{n}").t() for n in names])
    return doubled_cell_input(table, hidden), int8.quantize_columns(doubled_cell_input(recurrent, hidden))


def test_one_layer_is_close_to_nn_lstm_and_each_sequence_stands_alone():
    lstm, vectors, ids, lengths = _lstm_and_inputs(layers=1)
    table, quantized = _first_layer(lstm, vectors)
    arrays = (table.numpy(), ids.numpy(), lengths.numpy())
    states, h, c = compiled_steps.bidirectional_layer(*arrays, quantized, keep_states=True)
    expected = _reference(lstm, vectors, ids, lengths).numpy()
    np.testing.assert_allclose(states, expected, atol=0.03)
    assert not states[1, 1:].any() and not states[0, 4:].any()  # zero after each sequence's end
    # the final states: the forward direction's at the last position, the backward one's at the first
    rows = np.arange(len(ids))
    np.testing.assert_array_equal(h[0], states[rows, lengths.numpy() - 1, :5])
    np.testing.assert_array_equal(h[1], states[rows, 0, 5:])
    for b in range(len(ids)):  # alone (compiled products), the same bits as in the batch (torch's)
        alone, alone_h, alone_c = compiled_steps.bidirectional_layer(
            arrays[0], arrays[1][b : b + 1], arrays[2][b : b + 1], quantized, keep_states=True
        )
        np.testing.assert_array_equal(alone[0], states[b])
        np.testing.assert_array_equal(alone_c[:, 0], c[:, b])


def test_offsets_are_added_to_every_input_of_their_sequence():
    lstm, vectors, ids, lengths = _lstm_and_inputs(layers=1, seed=1)
    table, quantized = _first_layer(lstm, vectors)
    n = len(ids)
    offsets = torch.randn(2, n, 20) * 0.1
    arrays = (ids.numpy(), lengths.numpy(), quantized)
    with_offsets = compiled_steps.bidirectional_layer(table.numpy(), *arrays, offsets=offsets.numpy())[1]
    # the same as a table with one copy of every row per sequence, the sequence's offset added
    per_sequence = (table[:, None] + offsets[:, :, None]).reshape(2, n * 9, 20)
    shifted_ids = ids + 9 * torch.arange(n)[:, None]
    expected = compiled_steps.bidirectional_layer(per_sequence.numpy(), shifted_ids.numpy(), *arrays[1:])[1]
    np.testing.assert_allclose(with_offsets, expected, atol=1e-6)
    assert not np.allclose(with_offsets, compiled_steps.bidirectional_layer(table.numpy(), *arrays)[1], atol=1e-3)


@pytest.mark.parametrize("layers", [1, 3])
def test_stacked_layers_are_close_to_nn_lstm_and_batch_independent(layers):
    lstm, vectors, ids, lengths = _lstm_and_inputs(layers=layers, seed=2)
    hidden = lstm.hidden_size
    table, first = _first_layer(lstm, vectors)
    stack = [compiled_steps.LayerWeights(None, first, None)]
    with torch.inference_mode():
        for layer in range(1, layers):
            names = (f"l{layer}", f"l{layer}_reverse")
            weights = torch.stack([
                torch.cat([getattr(lstm, f"weight_ih_{n}").t(), getattr(lstm, f"weight_hh_{n}").t()]) for n in names
            ])
            quantized = int8.quantize_columns(doubled_cell_input(weights, hidden))
            bias = torch.stack([getattr(lstm, f"bias_ih_{n}") + getattr(lstm, f"bias_hh_{n}") for n in names])
            parts = [int8.QuantizedWeights(quantized.values[:, rows].contiguous(),
                                           quantized.as_float[:, rows].contiguous(), quantized.factors)
                     for rows in (slice(0, 2 * hidden), slice(2 * hidden, None))]
            stack.append(compiled_steps.LayerWeights(*parts, doubled_cell_input(bias, hidden).numpy()))
    stack = compiled_steps.layer_stack(stack)
    states = compiled_steps.bilstm_states(table.numpy(), ids.numpy(), lengths.numpy(), stack)
    np.testing.assert_allclose(states, _reference(lstm, vectors, ids, lengths).numpy(), atol=0.05)
    for b in range(len(ids)):
        alone = compiled_steps.bilstm_states(table.numpy(), ids[b : b + 1].numpy(), lengths[b : b + 1].numpy(), stack)
        np.testing.assert_array_equal(alone[0, : lengths[b]], states[b, : lengths[b]])


def test_products_past_the_exact_width_are_summed_in_parts_each_row_on_its_own():
    generator = np.random.default_rng(0)
    k = 2 * compiled_steps.EXACT_ROWS + 5
    rows = generator.integers(-127, 128, (6, k)).astype(np.float32)
    weights = generator.integers(-127, 128, (k, 8)).astype(np.float32)
    together = compiled_steps._products(rows, weights)
    exact = rows.astype(np.int64) @ weights.astype(np.int64)
    np.testing.assert_allclose(together, exact, rtol=1e-6)
    for r in range(6):
        np.testing.assert_array_equal(compiled_steps._products(rows[r : r + 1], weights)[0], together[r])
