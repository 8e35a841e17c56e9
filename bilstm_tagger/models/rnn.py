"""The unidirectional RNN tagger: each tag is predicted from the words up to and including its own.

``h_t = f(W_xh x_t + W_hh h_{t-1})`` with an Elman (tanh), GRU or LSTM cell, stacked ``layers`` deep, over the same
word + character representation as the BiLSTM, so that a comparison with it measures direction and nothing else.
"""

from __future__ import annotations

from typing import ClassVar, Dict

import torch
from torch import nn

from ..registry import registry
from .base import architecture_builder
from .batching import Batch
from .dropout import Dropout
from .embedding import WordCharEmbedding
from .neural import NeuralTagger, run_packed

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class RNNTagger(NeuralTagger):
    """Left-to-right sequence labeller (``bilstm_tagger.RNN.v1``; defaults: ``configs/rnn.cfg``).

    Args:
        n_words: word vocabulary size.
        n_chars: character vocabulary size.
        n_labels: number of labels per trained target.
        word_dim: word embedding size.
        char_dim: character embedding size.
        char_hidden: character encoder size (see :class:`WordCharEmbedding`).
        char_encoder: "lstm" or "cnn".
        cell: "rnn" (Elman, tanh), "gru" or "lstm".
        hidden: recurrent state size.
        layers: number of stacked recurrent layers.
        dropout: dropout on the word representation, between layers and before the heads.
    """

    family: ClassVar[str] = "RNN"

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
        cell: str = "lstm",
        hidden: int = 512,
        layers: int = 2,
        dropout: float = 0.33,
    ) -> None:
        super().__init__(n_labels=n_labels)
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, not {cell!r}")
        self.embedding = WordCharEmbedding(
            n_words=n_words,
            n_chars=n_chars,
            word_dim=word_dim,
            char_dim=char_dim,
            char_hidden=char_hidden,
            char_encoder=char_encoder,
        )
        self.dropout = Dropout(dropout)
        self.rnn = CELLS[cell](
            self.embedding.output_dim,
            hidden,
            num_layers=layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.heads = nn.ModuleDict({target: nn.Linear(hidden, n) for target, n in n_labels.items()})

    def forward(self, batch: Batch) -> Dict[str, torch.Tensor]:
        """Per-target logits, each (B, T, n_labels[target]); position t has seen words 1..t only."""
        inputs = self.dropout(self.embedding(batch))  # (B, T, D)
        states = self.dropout(run_packed(self.rnn, inputs, batch.lengths)[0])  # (B, T, hidden)
        return {target: head(states) for target, head in self.heads.items()}


build_rnn_tagger = registry.architectures("bilstm_tagger.RNN.v1")(architecture_builder(RNNTagger))
