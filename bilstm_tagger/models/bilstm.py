"""The BiLSTM tagger: word + character representations, a multi-layer BiLSTM, one linear head per target.

The first layer's input projection depends on the form alone, so :meth:`BiLSTMTagger.encode_forms` offers it as a
form encoding ("projection") that a form cache keeps, and :meth:`BiLSTMTagger.forward` then runs the recurrence step
by step from the cached projections: about 40% fewer multiply-adds per word than ``nn.LSTM``, which recomputes the
projection for every token. Inference uses it on the CPU in float32 (the ``cached_projections`` option), with the
step loop's matrix products, and the linear heads', in int8 by default (the ``int8_steps`` option,
:mod:`~bilstm_tagger.models.int8`: states in (-1, 1) on one fixed scale, nothing set by the batch), the loop compiled
(:mod:`~bilstm_tagger.models.compiled_steps`); without int8, in torch (:func:`lstm_layer_steps`). Training, GPUs and
autocast run the fused ``nn.LSTM`` (cuDNN, or oneDNN's bf16 kernels). All read the same weights, and tests check
that they agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..registry import registry
from . import int8
from .base import architecture_builder
from .batching import Batch
from .dropout import Dropout
from .embedding import WordCharEmbedding
from .factored_feats import FactoredFeatsHead
from .neural import NeuralTagger, doubled_cell_input, lstm_cell, padded_bilstm, run_packed

if TYPE_CHECKING:  # imported where used: numba takes half a second and 100 MB to import, for int8 steps alone
    from . import compiled_steps

#: ``feats_head`` values
FEATS_HEADS = ("joint", "factored")


class BiLSTMTagger(NeuralTagger):
    """Sequence labeller reading the whole sentence in both directions (``bilstm_tagger.BiLSTM.v1``; defaults:
    ``configs/bilstm.cfg``).

    Args:
        n_words: word vocabulary size.
        n_chars: character vocabulary size.
        n_labels: number of labels per trained target.
        word_dim: word embedding size.
        char_dim: character embedding size.
        char_hidden: character encoder size (see :class:`WordCharEmbedding`).
        char_encoder: "lstm" or "cnn".
        hidden: BiLSTM size per direction.
        layers: number of stacked BiLSTM layers.
        dropout: dropout on the word representation, between layers and before the heads.
        feats_head: "joint" (one label per FEATS string seen in training) or "factored" (one classifier per
            feature, composed: :mod:`~bilstm_tagger.models.factored_feats`). Joint is the default: on the dev
            parts of de_gsd and ru_gsd (small-data setting) it scored higher UFeats (bench/RESULTS.md).
        feats_labels: the FEATS labels in id order (from the vocabularies; the factored head's features).
        n_clusters: cluster ids of the training lexicon, 0 without one (from the vocabularies).
        n_frequency_buckets: frequency ids of the training lexicon, 0 without one (from the vocabularies).
        cluster_dim: embedding size of a form's lexicon cluster (its lower case's too), when there is a lexicon.
        frequency_dim: embedding size of a form's lexicon frequency (likewise).
    """

    family: ClassVar[str] = "BiLSTM"
    form_encodings: ClassVar[Tuple[str, ...]] = ("projection",)
    data_sizes: ClassVar[Tuple[str, ...]] = (
        "n_words", "n_chars", "n_labels", "feats_labels", "n_clusters", "n_frequency_buckets"
    )

    def __init__(
        self,
        *,
        n_words: int,
        n_chars: int,
        n_labels: Dict[str, int],
        word_dim: int = 128,
        char_dim: int = 64,
        char_hidden: int = 128,
        char_encoder: str = "lstm",
        hidden: int = 96,
        layers: int = 2,
        dropout: float = 0.33,
        feats_head: str = "joint",
        feats_labels: Optional[Sequence[str]] = None,
        n_clusters: int = 0,
        n_frequency_buckets: int = 0,
        cluster_dim: int = 32,
        frequency_dim: int = 8,
    ) -> None:
        super().__init__(n_labels=n_labels)
        if feats_head not in FEATS_HEADS:
            raise ValueError(f"feats_head must be one of {', '.join(FEATS_HEADS)}, not {feats_head!r}")
        self.embedding = WordCharEmbedding(
            n_words=n_words,
            n_chars=n_chars,
            word_dim=word_dim,
            char_dim=char_dim,
            char_hidden=char_hidden,
            char_encoder=char_encoder,
            n_clusters=n_clusters,
            n_frequency_buckets=n_frequency_buckets,
            cluster_dim=cluster_dim,
            frequency_dim=frequency_dim,
        )
        self.dropout = Dropout(dropout)
        self.lstm = nn.LSTM(
            self.embedding.output_dim,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        heads = {target: nn.Linear(2 * hidden, n) for target, n in n_labels.items()}
        self.factored = feats_head == "factored" and "feats" in n_labels
        if self.factored:
            heads["feats"] = FactoredFeatsHead(2 * hidden, list(feats_labels or []))
        self.heads = nn.ModuleDict(heads)
        # what is derived from the parameters and kept until they change: the step loop's weights per layer
        # (_step_weights), their int8 copies (_compiled_layers), the input projection's (_projection)
        self._kept = int8.KeptWeights()

    def target_loss(self, target: str, scores: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
        if self.factored and target == "feats":
            return self.heads["feats"].loss(scores, gold)
        return super().target_loss(target, scores, gold)

    def target_ids(self, target: str, scores: torch.Tensor) -> torch.Tensor:
        if self.factored and target == "feats":
            return self.heads["feats"].predict(scores)
        return super().target_ids(target, scores)

    def label_scored(self, target: str) -> bool:
        return not (self.factored and target == "feats")

    def label_lists(self, labels: Mapping[str, List[str]]) -> Mapping[str, List[str]]:
        return {**labels, "feats": self.heads["feats"].labels()} if self.factored else labels

    def form_vector_dim(self, encoding: str) -> int:
        return 8 * self.lstm.hidden_size if encoding == "projection" else self.embedding.output_dim

    def _projection(self, layer: int):
        """Input weights (8H, D) and biases (8H,) of one layer, forward direction first, the cell input's doubled
        as :func:`lstm_layer_steps` reads them. Kept until the parameters change: made for every batch with new
        forms, they cost about 0.1 ms of a short sentence."""
        lstm, names = self.lstm, [f"l{layer}", f"l{layer}_reverse"]

        def make() -> Tuple[torch.Tensor, torch.Tensor]:
            weight = torch.cat([getattr(lstm, f"weight_ih_{n}") for n in names])
            bias = torch.cat([getattr(lstm, f"bias_ih_{n}") + getattr(lstm, f"bias_hh_{n}") for n in names])
            return doubled_cell_input(weight, lstm.hidden_size, dim=0), doubled_cell_input(bias, lstm.hidden_size)

        parameters = [getattr(lstm, f"{kind}_{n}") for kind in ("weight_ih", "bias_ih", "bias_hh") for n in names]
        return self._kept.get(f"projection {layer}", parameters, make)

    def encode_forms(
        self, word_ids: torch.Tensor, type_chars: torch.Tensor, type_lengths: torch.Tensor, encoding: str,
        *, int8_steps: bool = False, type_lexicon: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """For "projection", the first layer's input projections (both directions, biases included) of distinct
        forms, (U, 8H); for "embedding", their word representations, (U, D). ``int8_steps``: see
        :meth:`WordCharEmbedding.encode_types`; ``type_lexicon``: (U, 4) lexicon ids, for a model with a
        lexicon."""
        vectors = self.embedding.encode_forms(
            word_ids, type_chars, type_lengths, int8_steps=int8_steps, type_lexicon=type_lexicon
        )
        return F.linear(vectors, *self._projection(0)) if encoding == "projection" else vectors

    def forward(self, batch: Batch) -> Dict[str, torch.Tensor]:
        """Per-target logits, each (B, T, n_labels[target])."""
        if batch.form_vectors is not None and batch.form_encoding == "projection":
            if self.training:
                raise ValueError("cached projections are for inference; train on batches from make_batch")
            states = self._forward_cached(batch)
            if batch.int8_steps:
                return self._heads_in_int8(states)
        else:
            inputs = self.dropout(self.embedding(batch))  # (B, T, D)
            if self.training and inputs.device.type == "cpu":
                states = padded_bilstm(self.lstm, inputs, batch.lengths)[0]
            else:
                states = run_packed(self.lstm, inputs, batch.lengths)[0]
            states = self.dropout(states)  # (B, T, 2 * hidden)
        return {target: head(states) for target, head in self.heads.items()}

    def _heads_in_int8(self, states: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Each head's logits (B, T, n) from BiLSTM states (B, T, 2H): the linear heads' in one product in int8, as
        the step loops' (the states lie in (-1, 1); :mod:`~bilstm_tagger.models.int8`), with their weights side by
        side (each column has its own scale, so each head's logits are what its own product gives); the factored
        FEATS head in float32."""
        linear = [target for target, head in self.heads.items() if isinstance(head, nn.Linear)]
        heads = [self.heads[target] for target in linear]

        def side_by_side() -> Tuple[int8.QuantizedWeights, np.ndarray]:
            weights = torch.cat([head.weight for head in heads]).t()[None]
            return int8.quantize_columns(weights), torch.cat([head.bias for head in heads]).contiguous().numpy()

        parameters = [p for head in heads for p in (head.weight, head.bias)]
        weights, bias = self._kept.get("heads", parameters, side_by_side)
        from . import compiled_steps

        logits = compiled_steps.linear(states.reshape(-1, states.shape[-1]).numpy(), weights, bias)
        logits = logits.view(*states.shape[:-1], -1).split([head.out_features for head in heads], dim=-1)
        scores = dict(zip(linear, logits))
        return {target: scores[target] if target in scores else head(states) for target, head in self.heads.items()}

    def _forward_cached(self, batch: Batch) -> torch.Tensor:
        """BiLSTM states (B, T, 2H), zero after each sentence's end, from cached first-layer projections."""
        if batch.int8_steps:
            return self._forward_compiled(batch)
        word_types, lengths = batch.word_types, batch.lengths.to(batch.word_types.device)
        n, steps = word_types.shape
        hidden = self.lstm.hidden_size
        t = torch.arange(steps, device=word_types.device)
        valid = t[None, :] < lengths[:, None]  # (B, T)
        # Step t of the forward pass reads position t; of the backward pass, position length - 1 - t. Positions
        # are rows t * B + b of the flat (T * B + 1, .) state buffers; the last row takes the backward pass's
        # steps past a sentence's start, which nothing reads.
        dump = steps * n
        b = torch.arange(n, device=word_types.device)
        forward_rows = (t[:, None] * n + b[None, :])  # (T, B)
        backward_pos = (lengths[None, :] - 1 - t[:, None])  # (T, B)
        backward_rows = torch.where(backward_pos >= 0, backward_pos * n + b[None, :], dump)
        rows = torch.stack([forward_rows, backward_rows], dim=1)  # (T, 2, B)
        # first layer: the cached projection of each position's form, forward half or backward half
        form_rows = torch.cat([word_types.t().reshape(-1), word_types.new_zeros(1)])[rows]  # (T, 2, B)
        table = batch.form_vectors.view(-1, 2, 4 * hidden)  # (U, 2, 4H)
        direction = torch.tensor([0, 1], device=word_types.device)[None, :, None]
        table_rows = (form_rows * 2 + direction).reshape(steps, -1)  # rows of table.view(2U, 4H)
        flat_table = table.view(-1, 4 * hidden)
        state_rows = rows.reshape(steps, -1)
        states = flat_table  # what the first layer reads: the cached projections
        for layer in range(self.lstm.num_layers):
            weights, bias = self._step_weights(layer)
            read_rows = table_rows if layer == 0 else state_rows  # later layers: the states of the one below
            states = lstm_layer_steps(states, read_rows, rows, weights, bias, dump + 1)
        out = states[:dump].view(steps, n, 2 * hidden).transpose(0, 1)  # (B, T, 2H)
        return out * valid.unsqueeze(-1)

    def _forward_compiled(self, batch: Batch) -> torch.Tensor:
        """:meth:`_forward_cached` with the step loops in int8 (:func:`compiled_steps.bilstm_states`)."""
        # each form's cached first-layer projection, (U, 2, 4H) seen as (2, U, 4H)
        from . import compiled_steps

        table = batch.form_vectors.view(-1, 2, 4 * self.lstm.hidden_size).permute(1, 0, 2)
        states = compiled_steps.bilstm_states(
            table.numpy(), batch.word_types.numpy(), batch.lengths.numpy(), self._compiled_layers()
        )
        return torch.from_numpy(states)

    def _compiled_layers(self) -> compiled_steps.LayerStack:
        """The weights of :meth:`_step_weights` in int8, as :func:`compiled_steps.bilstm_states` reads them, each part
        contiguous; kept until the parameters change."""
        from . import compiled_steps

        hidden = self.lstm.hidden_size

        def part(weights: int8.QuantizedWeights, rows: slice) -> int8.QuantizedWeights:
            return int8.QuantizedWeights(
                weights.values[:, rows].contiguous(), weights.as_float[:, rows].contiguous(), weights.factors
            )

        def split() -> compiled_steps.LayerStack:
            layers = []
            for layer in range(self.lstm.num_layers):
                weights, bias = self._step_weights(layer)
                quantized = int8.quantize_columns(weights)
                if layer == 0:
                    layers.append(compiled_steps.LayerWeights(None, quantized, None))
                else:
                    layers.append(compiled_steps.LayerWeights(
                        part(quantized, slice(0, 2 * hidden)), part(quantized, slice(2 * hidden, None)),
                        bias[:, 0].contiguous().numpy(),
                    ))
            return compiled_steps.layer_stack(layers)

        return self._kept.get("compiled layers", self.lstm.parameters, split)

    def _step_weights(self, layer: int) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """What :func:`lstm_layer_steps` multiplies by for ``layer`` (the cell input's doubled, as
        :func:`~bilstm_tagger.models.neural.lstm_cell` reads them): the recurrent weights (2, H, 4H) and no bias
        for the first layer (its cached projections hold the input part and both biases); input and recurrent
        weights stacked (2, 2H + H, 4H) and both biases (2, 1, 4H) for the others. Kept until the parameters
        change: stacking them for every batch cost 0.2 ms of a short sentence's 2.5."""
        lstm, directions = self.lstm, ("", "_reverse")

        def stack() -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
            hidden = lstm.hidden_size
            w_hh = torch.stack([getattr(lstm, f"weight_hh_l{layer}{s}").t() for s in directions])
            if layer == 0:
                return doubled_cell_input(w_hh, hidden), None
            w_ih = torch.stack([getattr(lstm, f"weight_ih_l{layer}{s}").t() for s in directions])
            bias = torch.stack(
                [getattr(lstm, f"bias_ih_l{layer}{s}") + getattr(lstm, f"bias_hh_l{layer}{s}") for s in directions]
            ).unsqueeze(1)
            return doubled_cell_input(torch.cat([w_ih, w_hh], dim=1), hidden), doubled_cell_input(bias, hidden)

        parameters = [getattr(lstm, f"{kind}_l{layer}{s}") for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                      for s in directions]
        return self._kept.get(f"layer {layer}", parameters, stack)


def lstm_layer_steps(
    source: torch.Tensor, read_rows: torch.Tensor, rows: torch.Tensor, weights: torch.Tensor, bias, n_rows: int
) -> torch.Tensor:
    """Run the two directions of one LSTM layer step by step, in float32 (the ``int8_steps`` loop is
    :func:`~bilstm_tagger.models.compiled_steps.bilstm_states`).

    Args:
        source: (R, K) rows the layer's inputs are read from: K = 4H input projections with both biases (when
            ``bias`` is None), or K = 2H states of the previous layer.
        read_rows: (T, 2 * B) the rows of ``source`` each direction reads at step t (forward direction first).
        rows: (T, 2, B) where each direction's state at step t is written in the output buffer.
        weights: (2, H, 4H) recurrent weights, or (2, K + H, 4H) input and recurrent weights stacked.
        bias: None, or (2, 1, 4H) both biases summed.
        n_rows: rows of the output buffer.

    Returns:
        (n_rows, 2H) states: forward ones in the first H columns, backward ones in the last H.
    """
    steps, _, n = rows.shape
    hidden = weights.shape[-1] // 4
    h = weights.new_zeros(2, n, hidden)
    c = weights.new_zeros(2, n, hidden)
    out = weights.new_zeros(n_rows, 2 * hidden)
    # Both directions' states of a step are copied at once, into rows of ``out`` seen as (n_rows * 2, H): row 2r is
    # row r's forward half, 2r + 1 its backward half. Indices are split per step before the loop.
    halves = out.view(2 * n_rows, hidden)
    written = (rows * 2 + torch.tensor([0, 1], device=rows.device)[None, :, None]).reshape(steps, 2 * n).unbind(0)
    reads = read_rows.unbind(0)
    for t in range(steps):
        x = source.index_select(0, reads[t]).view(2, n, -1)
        if bias is None:  # (2, B, 4H), gates i, f, g, o as in nn.LSTM
            gates = torch.baddbmm(x, h, weights)
        else:
            gates = torch.baddbmm(bias, torch.cat([x, h], dim=-1), weights)
        h, c = lstm_cell(gates, c)
        halves.index_copy_(0, written[t], h.view(2 * n, hidden))
    return out


build_bilstm_tagger = registry.architectures("bilstm_tagger.BiLSTM.v1")(architecture_builder(BiLSTMTagger))
