"""Word representations shared by the neural families: a word embedding beside a character-level encoder.

The character encoder runs over the batch's distinct forms (``Batch.type_chars``) and its output is gathered back
to every token, so a frequent word's characters are encoded once per batch; at inference a
:class:`~bilstm_tagger.inference.form_cache.FormCache` hands over representations it keeps across batches
(``Batch.form_vectors``).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from ..vocab import PAD_ID
from . import int8
from .batching import Batch
from .neural import bidirectional_steps, doubled_cell_input, padded_bilstm

#: Longest form of each group the character BiLSTM runs over in training on the CPU (longer forms: a last group).
#: Training steps of the default model on EWT, 2 threads, against both BiLSTMs packed: the sentence BiLSTM unpacked
#: alone, 1.13x the words/s; the characters unpacked too, in one group, 0.7x; in these groups, 1.46-1.50x
#: (bench/RESULTS.md, "Speed": training without packed sequences).
CHAR_LENGTH_GROUPS = (6, 10, 16)


class WordCharEmbedding(nn.Module):
    """Concatenation of a word embedding and a character encoding of the form.

    Args:
        n_words: word vocabulary size.
        n_chars: character vocabulary size.
        word_dim: word embedding size.
        char_dim: character embedding size.
        char_hidden: character encoder size: per direction for "lstm", number of filters / 2 for "cnn", so both
            give ``2 * char_hidden`` features.
        char_encoder: "lstm" (a BiLSTM whose two final states are concatenated) or "cnn" (width-3 convolution,
            max-pooled over the form).
        n_clusters: cluster ids of the lexicon (:mod:`~bilstm_tagger.lexicon`), 0 without clusters.
        n_frequency_buckets: frequency ids of the lexicon, 0 without a lexicon.
        cluster_dim: embedding size of a cluster id (the form's and its lower case's are both embedded).
        frequency_dim: embedding size of a frequency bucket (likewise).
    """

    def __init__(
        self, *, n_words: int, n_chars: int, word_dim: int, char_dim: int, char_hidden: int, char_encoder: str,
        n_clusters: int = 0, n_frequency_buckets: int = 0, cluster_dim: int = 32, frequency_dim: int = 8,
    ) -> None:
        super().__init__()
        if char_encoder not in ("lstm", "cnn"):
            raise ValueError(f"char_encoder must be 'lstm' or 'cnn', not {char_encoder!r}")
        self.char_encoder = char_encoder
        self.word_embedding = nn.Embedding(n_words, word_dim, padding_idx=PAD_ID)
        self.char_embedding = nn.Embedding(n_chars, char_dim, padding_idx=PAD_ID)
        if char_encoder == "lstm":
            self.char_rnn = nn.LSTM(char_dim, char_hidden, batch_first=True, bidirectional=True)
        else:
            self.char_cnn = nn.Conv1d(char_dim, 2 * char_hidden, kernel_size=3, padding=1)
        self.output_dim = word_dim + 2 * char_hidden
        # the lexicon's ids of a form: cluster of the form, of its lower case, frequency of each (Lexicon.ids)
        self.cluster_embedding = nn.Embedding(n_clusters, cluster_dim) if n_clusters and cluster_dim else None
        self.frequency_embedding = (
            nn.Embedding(n_frequency_buckets, frequency_dim) if n_frequency_buckets and frequency_dim else None
        )
        self.output_dim += 2 * (cluster_dim if self.cluster_embedding else 0)
        self.output_dim += 2 * (frequency_dim if self.frequency_embedding else 0)
        self._kept = int8.KeptWeights()  # the character LSTM's tables for int8_steps

    def encode_types(
        self, type_chars: torch.Tensor, type_lengths: torch.Tensor, *, int8_steps: bool = False
    ) -> torch.Tensor:
        """Encode distinct forms: (U, L) char ids and (U,) lengths -> (U, 2 * char_hidden). ``int8_steps`` (the
        character LSTM, at inference): run it step by step with its products in int8 (:meth:`_int8_steps`)."""
        if self.char_encoder == "lstm" and int8_steps:
            return self._int8_steps(type_chars, type_lengths)
        if self.char_encoder == "lstm" and self.training and type_chars.device.type == "cpu":
            return self._by_length(type_chars, type_lengths)
        chars = self.char_embedding(type_chars)
        if self.char_encoder == "lstm":
            packed = pack_padded_sequence(chars, type_lengths.cpu(), batch_first=True, enforce_sorted=False)
            _, (h_n, _) = self.char_rnn(packed)
            return torch.cat([h_n[0], h_n[1]], dim=-1)
        features = torch.relu(self.char_cnn(chars.transpose(1, 2)))  # (U, F, L)
        mask = (type_chars == PAD_ID).unsqueeze(1)
        return features.masked_fill(mask, float("-inf")).amax(dim=-1)

    def _by_length(self, type_chars: torch.Tensor, type_lengths: torch.Tensor) -> torch.Tensor:
        """:meth:`encode_types` for training on the CPU: the character BiLSTM run unpacked
        (:func:`~bilstm_tagger.models.neural.padded_bilstm`, oneDNN's kernel) over groups of forms of similar
        length (:data:`CHAR_LENGTH_GROUPS`), each padded to its own longest form: in one group, one 400-character
        URL would make every form of the batch run 400 steps. (U, L), (U,) -> (U, 2 * char_hidden)."""
        lengths = type_lengths.to(type_chars.device)
        # group i holds the lengths above CHAR_LENGTH_GROUPS[i - 1] and up to CHAR_LENGTH_GROUPS[i]
        groups = torch.bucketize(lengths, torch.tensor(CHAR_LENGTH_GROUPS, device=lengths.device))
        rows, encodings = [], []
        for group in torch.unique(groups).tolist():
            chosen = torch.nonzero(groups == group).squeeze(1)
            chosen_lengths = lengths[chosen]
            chars = self.char_embedding(type_chars[chosen, : int(chosen_lengths.max())])
            finals = padded_bilstm(self.char_rnn, chars, chosen_lengths)[1]  # (2, n, char_hidden)
            rows.append(chosen)
            encodings.append(torch.cat([finals[0], finals[1]], dim=-1))
        return torch.cat(encodings)[torch.argsort(torch.cat(rows))]

    def _int8_steps(self, type_chars: torch.Tensor, type_lengths: torch.Tensor) -> torch.Tensor:
        """:meth:`encode_types` for the character BiLSTM, step by step: each character's input projection is read
        from a table (one row per character) and the recurrent products are int8 (:mod:`~bilstm_tagger.models.int8`;
        the loop is :func:`~bilstm_tagger.models.neural.bidirectional_steps`, bench/RESULTS.md, "Speed")."""
        rnn, hidden = self.char_rnn, self.char_rnn.hidden_size
        directions = ("l0", "l0_reverse")

        def parameters():
            kinds = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            return [getattr(rnn, f"{kind}_{d}") for kind in kinds for d in directions] + [self.char_embedding.weight]

        def tables():
            embedded = self.char_embedding.weight
            projections = torch.stack([
                torch.addmm(getattr(rnn, f"bias_ih_{d}") + getattr(rnn, f"bias_hh_{d}"), embedded,
                            getattr(rnn, f"weight_ih_{d}").t())
                for d in directions
            ])  # (2, n_chars, 4H)
            recurrent = torch.stack([getattr(rnn, f"weight_hh_{d}").t() for d in directions])  # (2, H, 4H)
            # the cell input's doubled, as lstm_cell reads them
            projections, recurrent = doubled_cell_input(projections, hidden), doubled_cell_input(recurrent, hidden)
            return projections, int8.quantize_columns(recurrent)

        projections, quantized = self._kept.get("chars", parameters, tables)
        _, h, _ = bidirectional_steps(projections, type_chars, type_lengths, quantized)
        return torch.cat([h[0], h[1]], dim=-1)  # each form's last states

    @property
    def uses_lexicon(self) -> bool:
        """Whether forms are read with their lexicon ids (``Batch.type_lexicon``)."""
        return self.cluster_embedding is not None or self.frequency_embedding is not None

    def encode_lexicon(self, type_lexicon: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        """(U, 4) lexicon ids (:meth:`~bilstm_tagger.lexicon.Lexicon.ids`) -> (U, 2 * cluster_dim + 2 *
        frequency_dim); None without a lexicon."""
        if not self.uses_lexicon:
            return None
        if type_lexicon is None:
            raise ValueError("this model reads a lexicon: its batches need type_lexicon (Vocabularies.lexicon)")
        parts = []
        if self.cluster_embedding is not None:
            parts.append(self.cluster_embedding(type_lexicon[:, :2]).flatten(1))
        if self.frequency_embedding is not None:
            parts.append(self.frequency_embedding(type_lexicon[:, 2:]).flatten(1))
        return torch.cat(parts, dim=-1)

    def _type_vectors(
        self, type_chars: torch.Tensor, type_lengths: torch.Tensor, type_lexicon: Optional[torch.Tensor], *,
        int8_steps: bool = False,
    ) -> torch.Tensor:
        """What a distinct form's characters and lexicon ids give, the part of its representation beside its word
        embedding: (U, L) char ids, (U,) lengths, (U, 4) lexicon ids or None -> (U, output_dim - word_dim)."""
        types = self.encode_types(type_chars, type_lengths, int8_steps=int8_steps)
        lexicon = self.encode_lexicon(type_lexicon)
        return types if lexicon is None else torch.cat([types, lexicon], dim=-1)

    def encode_forms(
        self, word_ids: torch.Tensor, type_chars: torch.Tensor, type_lengths: torch.Tensor, *, int8_steps: bool = False,
        type_lexicon: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Representations of distinct forms: (U,) word ids, (U, L) char ids, (U,) lengths, and (U, 4) lexicon ids
        for a model with a lexicon -> (U, output_dim)."""
        types = self._type_vectors(type_chars, type_lengths, type_lexicon, int8_steps=int8_steps)
        return torch.cat([self.word_embedding(word_ids), types], dim=-1)

    def forward(self, batch: Batch) -> torch.Tensor:
        """(B, T) words -> (B, T, output_dim); with ``batch.form_vectors`` (from :meth:`encode_forms`, encoding
        "embedding"), a gather."""
        if batch.form_vectors is not None:
            return batch.form_vectors[batch.word_types]
        types = self._type_vectors(batch.type_chars, batch.type_lengths, batch.type_lexicon)
        return torch.cat([self.word_embedding(batch.words), types[batch.word_types]], dim=-1)
