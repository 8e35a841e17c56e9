"""What every torch tagger family shares: per-target logits from a batch, the training loss, prediction (each
head's argmax, or UPOS chosen together with the heads paired with it: :mod:`~bilstm_tagger.models.tag_pairs`),
the per-form encodings a form cache keeps, and weights as plain arrays.

A family implements ``forward(batch) -> {target: (B, T, n_labels)}``; :meth:`NeuralTagger.loss` and
:meth:`NeuralTagger.predict` turn it into a training loss and label ids (the seq2seq family overrides both for its
decoder). ``run_packed`` is the shared way of running an RNN over padding (``padded_bilstm`` a faster one for
training a bidirectional LSTM on the CPU), ``lstm_cell`` the shared step of
the step-by-step loops (whose weights ``doubled_cell_input`` prepares), ``bidirectional_steps`` the character
encoders' loop. Batching, devices, precisions and the form
cache are the inference layer's (:mod:`bilstm_tagger.inference`), not the model's.
"""

from __future__ import annotations

from typing import ClassVar, Dict, Mapping, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..vocab import IGNORE_INDEX
from . import int8
from .base import TaggerModel
from .batching import Batch
from .dropout import dropout
from .tag_pairs import TagPairs


def run_packed(rnn: nn.Module, inputs: torch.Tensor, lengths: torch.Tensor):
    """Run a recurrent module over padded inputs, never reading past a sentence's end.

    Returns:
        The states (B, T, H), zero after each sentence's end, and the module's final state at each sentence's
        last word (for an LSTM, (h, c), each (layers * directions, B, H)).
    """
    packed = pack_padded_sequence(inputs, lengths.cpu(), batch_first=True, enforce_sorted=False)
    states, final = rnn(packed)
    states, _ = pad_packed_sequence(states, batch_first=True, total_length=inputs.shape[1])
    return states, final


#: An ``nn.LSTM`` layer's parameters in the order ``torch.lstm`` reads them (names end ``_l{layer}[_reverse]``).
LSTM_WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def padded_bilstm(lstm: nn.LSTM, inputs: torch.Tensor, lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """A bidirectional, batch-first ``nn.LSTM`` over padded inputs as :func:`run_packed` runs it (the same values
    up to float rounding; dropout between layers as the module's own), without packing.

    On the CPU torch runs a packed sequence step by step in its own code, but a padded one in oneDNN's fused kernel,
    forward and backward. Padding after a sentence's end does not reach its states in a forward pass, so each layer
    runs two one-directional passes: one over the inputs, one over each sentence reversed within its length (the
    padding left at the end), whose states are put back in order. With the characters' BiLSTM run this way too
    (:meth:`~bilstm_tagger.models.embedding.WordCharEmbedding.encode_types`), the default model trains on EWT at
    15.4k words/s against 11.4k (bench/RESULTS.md, "Speed": training without packed sequences).

    Args:
        lstm: a bidirectional, batch-first LSTM.
        inputs: (B, T, D).
        lengths: (B,) each sequence's length, at least 1.

    Returns:
        The states (B, T, 2H), zero after each sequence's end, and each layer's and direction's state at its
        sequence's last step in that direction, (layers * 2, B, H) in ``nn.LSTM``'s order of ``h_n``.
    """
    n, steps = inputs.shape[:2]
    lengths = lengths.to(inputs.device)
    t = torch.arange(steps, device=inputs.device)
    valid = t[None, :] < lengths[:, None]  # (B, T)
    # position t of a reversed sentence reads position length - 1 - t; padding stays where it is
    reverse = torch.where(valid, lengths[:, None] - 1 - t[None, :], t[None, :])[:, :, None]  # (B, T, 1)
    last = (lengths - 1)[:, None, None]  # (B, 1, 1)
    start = inputs.new_zeros(1, n, lstm.hidden_size)

    def reordered(values: torch.Tensor) -> torch.Tensor:  # each sentence reversed within its length, (B, T, .)
        return values.gather(1, reverse.expand(-1, -1, values.shape[-1]))

    layer_inputs, finals = inputs, []
    for layer in range(lstm.num_layers):
        if layer > 0 and lstm.dropout > 0:
            layer_inputs = dropout(layer_inputs, lstm.dropout, lstm.training)
        directions = []
        for suffix in ("", "_reverse"):
            weights = [getattr(lstm, f"{name}_l{layer}{suffix}") for name in LSTM_WEIGHTS]
            read = reordered(layer_inputs) if suffix else layer_inputs
            states = torch.lstm(read, (start, start), weights, True, 1, 0.0, lstm.training, False, True)[0]
            finals.append(states.gather(1, last.expand(-1, -1, states.shape[-1]))[:, 0])
            directions.append(reordered(states) if suffix else states)
        layer_inputs = torch.cat(directions, dim=-1)
    return layer_inputs * valid.unsqueeze(-1), torch.stack(finals)


def tanh_by_sigmoid(values: torch.Tensor) -> torch.Tensor:
    """tanh as 2 sigmoid(2x) - 1 (the same to 2e-7): torch's CPU tanh is about ten times slower than its sigmoid
    (torch 2.13, AVX-512: 262 against 27 µs for 500 x 256 values; the two extra operations cost more below about
    4,000 values)."""
    return (values * 2.0).sigmoid_().mul_(2.0).sub_(1.0)


def lstm_cell(gates: torch.Tensor, cell: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step of a step-by-step loop: gate pre-activations (..., 4H) in ``nn.LSTM``'s order (input, forget,
    cell input, output), the cell input's doubled (:func:`doubled_cell_input`), and the previous cell (..., H) -> the
    new state and cell, each (..., H).

    Both tanh go through sigmoids (:func:`tanh_by_sigmoid`): they took 19% of the BiLSTM's tagging time, and with
    the cell input's pre-activations doubled in the weights, its sigmoid is part of the one over all gates.
    """
    # unsafe_split: four views without autograd's version counters (half the cost of four slices); these loops
    # run for inference only, and none of the views is written to
    i, f, g, o = torch.sigmoid(gates).unsafe_split(cell.shape[-1], dim=-1)
    # f * c + i * tanh(g) = f * c - i + 2 * i * sigmoid(2g)
    cell = (f * cell).sub_(i).addcmul_(i, g, value=2.0)
    return tanh_by_sigmoid(cell).mul_(o), cell


def doubled_cell_input(values: torch.Tensor, hidden: int, dim: int = -1) -> torch.Tensor:
    """Weights, biases or pre-activations in LSTM gate blocks (input, forget, cell input, output) of ``hidden``
    along ``dim`` (4H, or 8H for two directions), with the cell input's doubled: what :func:`lstm_cell` reads.
    Exact (a product by 2), and an int8 copy with one scale per column keeps the same integers."""
    scale = values.new_ones(4, hidden)
    scale[2] = 2.0
    shape = [1] * values.dim()
    shape[dim] = -1
    return values * scale.flatten().repeat(values.shape[dim] // (4 * hidden)).view(shape)


def reverse_padded(inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence's first ``length`` steps: (B, T, ...) -> (B, T, ...), padding stays at the end."""
    steps = torch.arange(inputs.shape[1], device=inputs.device)
    lengths = lengths.to(inputs.device)
    index = (lengths[:, None] - 1 - steps[None, :]).clamp(min=0)
    index = torch.where(steps[None, :] < lengths[:, None], index, steps[None, :])
    return inputs.gather(1, index.view(*index.shape, *([1] * (inputs.dim() - 2))).expand_as(inputs))


#: Batches of at most this many padded positions have every step's input projections gathered before the loop (the
#: same values, three operations a step fewer; a lemmatizer's decoding batch, 4,096 characters, always is one);
#: larger ones, a form cache's first batches of thousands of new forms, gather each step's rows as they go.
GATHERED_POSITIONS = 4096


def bidirectional_steps(
    tables: torch.Tensor, ids: torch.Tensor, lengths: torch.Tensor,
    recurrent: Union[torch.Tensor, int8.QuantizedWeights], *, offsets: Optional[torch.Tensor] = None,
    keep_states: bool = False,
) -> Tuple[Optional[torch.Tensor], torch.Tensor, torch.Tensor]:
    """A one-layer BiLSTM over sequences of ids, run step by step, each id's input projection read from a table (the
    character encoders at inference: the tagger's and the lemmatizer's). At step t the sequences longer than t are
    the first rows (sorted longest first), and the backward direction reads each from its end.

    Args:
        tables: (2, V, 4H) input projections per id with both biases, forward direction first, the cell input's
            doubled (:func:`doubled_cell_input`).
        ids: (U, L) ids, padded after each sequence's end.
        lengths: (U,) sequence lengths, each at least 1.
        recurrent: (2, H, 4H) recurrent weights, doubled the same way, or their int8 copy
            (:func:`~bilstm_tagger.models.int8.quantize_columns`) for products in int8, on the CPU: the loop is then
            :func:`~bilstm_tagger.models.compiled_steps.bidirectional_layer`.
        offsets: (2, U, 4H) added to every step's input projection of a sequence (the lemmatizer's UPOS rows).
        keep_states: also return every position's states.

    Returns:
        The states (U, L, 2H), zero after each sequence's end (None without ``keep_states``), and each sequence's
        final state and cell, each (2, U, H), in input order.
    """
    if isinstance(recurrent, int8.QuantizedWeights):
        from . import compiled_steps  # here: numba takes half a second and 100 MB to import, for int8 steps alone

        states, h, c = compiled_steps.bidirectional_layer(
            tables.numpy(), ids.numpy(), lengths.numpy(), recurrent,
            offsets=None if offsets is None else offsets.numpy(), keep_states=keep_states,
        )
        return (None if states is None else torch.from_numpy(states)), torch.from_numpy(h), torch.from_numpy(c)
    hidden = recurrent.shape[-1] // 4
    lengths = lengths.cpu()
    order = torch.argsort(lengths, descending=True, stable=True).to(ids.device)
    ids, lengths = ids[order], lengths[order.cpu()]
    backward = reverse_padded(ids, lengths)
    offsets = None if offsets is None else offsets[:, order]
    n_rows, width = ids.shape
    h = tables.new_zeros(2, n_rows, hidden)
    c = tables.new_zeros(2, n_rows, hidden)
    states = tables.new_zeros(2, n_rows, width, hidden) if keep_states else None  # backward ones in reading order
    if n_rows * width <= GATHERED_POSITIONS:
        inputs = torch.stack([tables[0][ids], tables[1][backward]])  # (2, U, L, 4H)
        if offsets is not None:
            inputs += offsets[:, :, None]
    active = (lengths[None, :] > torch.arange(width)[:, None]).sum(dim=1).tolist()
    for t, n in enumerate(active):  # n: sequences longer than t, the first n rows
        if n_rows * width <= GATHERED_POSITIONS:
            x = inputs[:, :n, t]
        else:
            x = torch.stack([tables[0].index_select(0, ids[:n, t]), tables[1].index_select(0, backward[:n, t])])
            if offsets is not None:
                x.add_(offsets[:, :n])
        gates = torch.baddbmm(x, h[:, :n], recurrent)  # (2, n, 4H): i, f, g, o
        if n == n_rows:  # every sequence still running: the new state and cell as they come, no copy into rows
            h, c = lstm_cell(gates, c)
        else:
            h[:, :n], c[:, :n] = lstm_cell(gates, c[:, :n])
        if states is not None:
            states[:, :n, t] = h[:, :n]
    in_order = torch.empty_like(order)
    in_order[order] = torch.arange(n_rows, device=order.device)
    if states is not None:
        states = torch.cat([states[0], reverse_padded(states[1], lengths)], dim=-1)[in_order]
    return states, h[:, in_order], c[:, in_order]


class NeuralTagger(nn.Module, TaggerModel):
    """Base class of the torch tagger families (trained by gradient on :meth:`loss`).

    Args:
        n_labels: number of labels of each trained target.
    """

    precisions: ClassVar[Tuple[str, ...]] = ("fp32", "bf16", "fp16", "int8")
    decoding_settings: ClassVar[Tuple[str, ...]] = ("consistent_tags",)
    device_types: ClassVar[Tuple[str, ...]] = ("cpu", "cuda")

    def __init__(self, *, n_labels: Dict[str, int]) -> None:
        super().__init__()
        self.n_labels = dict(n_labels)

    def forward(self, batch: Batch) -> Dict[str, torch.Tensor]:  # pragma: no cover - abstract
        """Per-target logits, each (B, T, n_labels[target])."""
        raise NotImplementedError

    def form_vector_dim(self, encoding: str) -> int:
        """Width of :meth:`encode_forms`' output for ``encoding`` ("embedding" or one of ``form_encodings``)."""
        return self.embedding.output_dim

    def encode_forms(
        self, word_ids: torch.Tensor, type_chars: torch.Tensor, type_lengths: torch.Tensor, encoding: str,
        *, int8_steps: bool = False, type_lexicon: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """What a form cache keeps per form: (U,) word ids, (U, L) char ids and (U,) lengths (and (U, 4) lexicon
        ids, for a model with a lexicon) -> (U, form_vector_dim(encoding)); ``forward`` reads it back from
        ``Batch.form_vectors``. "embedding" is the word representation; a family may offer more
        (``form_encodings``: the BiLSTM's first-layer projections). ``int8_steps``: a character LSTM runs step by
        step in int8 (the BiLSTM's ``int8_steps`` option)."""
        return self.embedding.encode_forms(
            word_ids, type_chars, type_lengths, int8_steps=int8_steps, type_lexicon=type_lexicon
        )

    def loss(self, batch: Batch) -> torch.Tensor:
        """Sum over targets of :meth:`target_loss` (a scalar)."""
        logits = self(batch)
        total = logits[next(iter(logits))].new_zeros(())
        for target, scores in logits.items():
            gold = batch.targets[target]
            if bool((gold != IGNORE_INDEX).any()):
                total = total + self.target_loss(target, scores, gold)
        return total

    def target_loss(self, target: str, scores: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
        """One target's loss: mean cross-entropy over annotated words of (B, T, n) scores and (B, T) gold ids."""
        return F.cross_entropy(scores.flatten(0, 1), gold.flatten(), ignore_index=IGNORE_INDEX)

    def target_ids(self, target: str, scores: torch.Tensor) -> torch.Tensor:
        """One target's best label ids (B, T) from its (B, T, n) scores."""
        return scores.argmax(-1)

    def label_scored(self, target: str) -> bool:
        """Whether ``forward``'s scores for ``target`` are one logit per label (what :class:`TagPairs` reads)."""
        return True

    @torch.inference_mode()
    def predict(self, batch: Batch, *, tag_pairs: Optional[TagPairs] = None) -> Dict[str, torch.Tensor]:
        """Best label id per word and target, each (B, T); positions past a sentence's end are meaningless.
        With ``tag_pairs`` (the ``consistent_tags`` decoding setting), UPOS and the heads paired with it are chosen
        together (:mod:`~bilstm_tagger.models.tag_pairs`). A family with other ``decoding_settings`` takes them
        as keyword arguments."""
        logits = self(batch)
        ids = {target: self.target_ids(target, scores) for target, scores in logits.items()}
        if tag_pairs is not None:
            ids.update(tag_pairs.choose({t: s for t, s in logits.items() if self.label_scored(t)}, ids))
        return ids

    def to_arrays(self) -> Dict[str, np.ndarray]:
        return module_arrays(self)

    def load_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        load_module_arrays(self, arrays)


def module_arrays(module: nn.Module) -> Dict[str, np.ndarray]:
    """A module's weights as named numpy arrays on the CPU (what a ``.safetensors`` file holds)."""
    return {name: value.detach().to("cpu").contiguous().numpy() for name, value in module.state_dict().items()}


def load_module_arrays(module: nn.Module, arrays: Mapping[str, np.ndarray]) -> None:
    """Load :func:`module_arrays`' output into ``module``.

    Raises:
        ValueError: for arrays that do not fit (missing, unexpected or misshapen), in torch's words.
    """
    try:
        module.load_state_dict({name: torch.from_numpy(np.array(value)) for name, value in arrays.items()})
    except RuntimeError as exc:
        raise ValueError(str(exc).splitlines()[0] if str(exc) else repr(exc)) from None
