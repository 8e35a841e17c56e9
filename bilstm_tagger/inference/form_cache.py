"""Inference-time memory of every word form seen: what the model computes from the form alone, computed once.

Tagging spends much of a word+char model's time in the character encoder, in the first layer's input projection,
and in Python code that looks words up; all depend only on the form and on frozen weights. :class:`FormCache` keeps,
per form, one row of a table: the model's ``encode_forms`` output in one encoding (the word representation, or for
the BiLSTM its first layer's input projections). A batch of sentences then needs one dict lookup per token, one
``encode_forms`` call for the forms not seen before, and a gather. Results are those of
:func:`~bilstm_tagger.models.batching.make_batch` (which encodes each of a batch's distinct forms once), up to
floating-point rounding.

A cache belongs to one set of weights on one device: each :class:`~bilstm_tagger.inference.tagger.Tagger` has its
own, and training builds a fresh Tagger for each dev evaluation.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Sequence

import numpy as np
import torch

from ..models.batching import Batch, char_ids, lexicon_ids
from ..models.neural import NeuralTagger
from ..vocab import UNK_ID, Vocabularies, word_key

#: Forms kept: 20,000 rows of 768 floats (the default BiLSTM, hidden 96) are 61 MB; EWT's test set has about 5,400
#: distinct forms, EWT train and dev together 21,300.
DEFAULT_CAPACITY = 20_000
#: Forms encoded per call by :meth:`FormCache.add`: EWT train's 19k forms took 0.51 s in calls of 1,000 against
#: 1.32 s in one call (one thread; each step's tensors of a huge call outgrow the CPU's caches).
ADD_SLICE = 1000
#: The share of the capacity :meth:`FormCache.add` may fill: the rest is room for the new forms of a batch or so
#: before the cache keeps only its most used half. ``predict --processes 2`` on 1.0M words of EWT text: 0.36 s
#: faster with 0.95, 0.2 s with 0.75 (bench/RESULTS.md, "Scale").
AHEAD_SHARE = 0.95


class FormCache:
    """Per-form vectors of one model.

    Args:
        vocabs: the model's vocabularies (word and character ids).
        model: the torch model (in eval mode).
        device: where the model runs; the table lives there.
        encoding: what to keep per form: "embedding" or one of the model's ``form_encodings``.
        int8_steps: encode forms with the character LSTM run step by step in int8, and make batches that ask the
            model for int8 products in its step loop (see :class:`~bilstm_tagger.models.batching.Batch`).
        capacity: forms kept. When a batch's new forms would overflow it, the cache first keeps only the half of
            its forms that were used most (a corpus's frequent words stay; its long tail goes), and if that is not
            room enough, it starts from empty (a batch's own forms are always kept, however many).
    """

    def __init__(
        self,
        *,
        vocabs: Vocabularies,
        model: NeuralTagger,
        device: torch.device,
        encoding: str = "embedding",
        int8_steps: bool = False,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self.vocabs = vocabs
        self.model = model
        self.device = device
        self.encoding = encoding
        self.int8_steps = int8_steps
        self.capacity = capacity
        self.clear()

    @torch.inference_mode()
    def clear(self) -> None:
        # Row 0 is padding: zeros that padded positions gather and the model masks.
        self.rows: Dict[str, int] = {}
        self.size = 1
        self.table = torch.zeros((1, self.model.form_vector_dim(self.encoding)), device=self.device)
        self.uses = np.zeros(1, dtype=np.int64)  # per row, the tokens that have read it

    @torch.inference_mode()
    def _keep_most_used(self) -> None:
        """Keep the capacity // 2 most used forms (ties: the earliest added), in a compacted table."""
        forms = list(self.rows)  # in row order: row = position + 1
        kept = np.sort(np.argsort(-self.uses[1 : self.size], kind="stable")[: self.capacity // 2])
        index = torch.from_numpy(np.concatenate([[0], kept + 1])).to(self.device)
        self.table = self.table.index_select(0, index)
        self.rows = {forms[k]: row for row, k in enumerate(kept.tolist(), start=1)}
        self.size = len(self.rows) + 1
        self.uses = np.zeros(self.size, dtype=np.int64)

    def _reserve(self, size: int) -> None:
        """Grow the table to at least ``size`` rows, doubling (up to the capacity), so that appending is amortised
        O(1) per form."""
        if size <= len(self.table):
            return
        rows = max(size, min(2 * len(self.table), self.capacity + 1))
        table = torch.zeros((rows, self.table.shape[1]), dtype=self.table.dtype, device=self.device)
        table[: self.size] = self.table[: self.size]
        self.table = table
        self.uses = np.concatenate([self.uses, np.zeros(rows - len(self.uses), dtype=np.int64)])

    def __len__(self) -> int:
        return len(self.rows)

    def _encode(self, forms: List[str]) -> torch.Tensor:
        """The vectors of forms: (len(forms), form_vector_dim)."""
        word_index = self.vocabs.words.index
        word_ids = torch.tensor([word_index.get(word_key(f), UNK_ID) for f in forms], dtype=torch.long, device="cpu")
        chars, lengths = char_ids(forms, self.vocabs)
        lexicon = lexicon_ids(forms, self.vocabs)
        return self.model.encode_forms(
            word_ids.to(self.device), chars.to(self.device), lengths, self.encoding, int8_steps=self.int8_steps,
            type_lexicon=None if lexicon is None else lexicon.to(self.device),
        )

    def _add(self, forms: List[str]) -> None:
        """Encode new forms and append them to the table."""
        self._append(forms, self._encode(forms), rows=self.size + len(forms))

    def _append(self, forms: List[str], encoded: torch.Tensor, *, rows: int) -> None:
        """Append forms and their vectors (len(forms), form_vector_dim) to the table, reserved to ``rows`` rows."""
        start, end = self.size, self.size + len(forms)
        self._reserve(rows)
        self.table[start:end] = encoded
        self.rows.update(zip(forms, range(start, end)))
        self.size = end

    @torch.inference_mode()
    def add(self, forms: Iterable[str]) -> int:
        """Encode forms before the batches that hold them come (the parent of ``predict --processes`` workers does
        it once for all of them). Forms already kept are skipped; the others are taken in the order given (most
        useful first) until the cache holds :data:`AHEAD_SHARE` of its capacity. Returns how many were added."""
        room = max(0, int(self.capacity * AHEAD_SHARE) - len(self.rows))
        new = [form for form in dict.fromkeys(forms) if form not in self.rows][:room]
        if not new:
            return 0
        # encoded in slices of similar length (a slice runs as many steps as its longest form), kept in the order
        # given (when the cache is full, the first forms added stay: see _keep_most_used)
        by_length = sorted(range(len(new)), key=lambda i: len(new[i]))
        encoded = torch.cat([
            self._encode([new[i] for i in by_length[start : start + ADD_SLICE]])
            for start in range(0, len(new), ADD_SLICE)
        ])
        in_order = torch.empty_like(encoded).index_copy_(0, torch.tensor(by_length, device=self.device), encoded)
        # the whole capacity at once: a forked worker that adds a form then writes into rows it already has, instead
        # of copying the table (and no longer sharing its pages with the other workers)
        self._append(new, in_order, rows=self.capacity + 1)
        return len(new)

    @torch.inference_mode()
    def make_batch(self, sentences: Sequence[Sequence[str]]) -> Batch:
        """A batch whose words point into this cache's table (``Batch.form_vectors``); encodes unseen forms.

        Args:
            sentences: each sentence's word forms (at least one word each).
        """
        flat = [form for forms in sentences for form in forms]
        rows = self.rows
        new = [form for form in dict.fromkeys(flat) if form not in rows]
        if new:
            if len(rows) + len(new) > self.capacity:
                # compacting is wasted work when even the kept half leaves no room for the batch's new forms
                if min(len(rows), self.capacity // 2) + len(new) > self.capacity:
                    self.clear()
                else:
                    self._keep_most_used()
                rows = self.rows
                new = [form for form in dict.fromkeys(flat) if form not in rows]
            self._add(new)
        # Scatter the flat row numbers into a padded (B, T) array. numpy on the CPU, with computed positions: a
        # boolean-mask assignment in torch cost more than the GPU's whole forward pass (H100 profile, RESULTS.md).
        lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
        max_len = int(lengths.max())
        starts = np.repeat(np.arange(len(sentences)) * max_len - (np.cumsum(lengths) - lengths), lengths)
        padded = np.zeros(len(sentences) * max_len, dtype=np.int64)
        flat_rows = np.fromiter(map(rows.__getitem__, flat), dtype=np.int64, count=len(flat))
        padded[np.arange(len(flat)) + starts] = flat_rows
        np.add.at(self.uses, flat_rows, 1)  # not a bincount of the whole table's length for a short sentence
        word_types = torch.from_numpy(padded.reshape(len(sentences), max_len)).to(self.device)
        lengths = torch.from_numpy(lengths)
        # ``words`` is only a placeholder of the right shape: the vectors already hold the word embeddings
        return Batch(
            words=word_types,
            word_types=word_types,
            type_chars=None,
            type_lengths=None,
            lengths=lengths,
            form_vectors=self.table,
            form_encoding=self.encoding,
            int8_steps=self.int8_steps,
        )
