"""The character-level lemmatizer: the seq2seq design put to the job it is best known for (Stanza's lemmatizer).

A BiLSTM encodes the form's characters, each concatenated with an embedding of the word's UPOS; an LSTM decoder,
started from the encoder's final states, writes the lemma character by character, attending over the encoder states
at every step (Luong et al. 2015, "general" scores) and reading the UPOS embedding again with every input character.
Decoding is beam search (``beam_size`` hypotheses; 1 = greedy) that keeps the greedy result as a candidate, so a
wider beam never scores lower under the model.

With ``edit_classifier`` (Stanza's "edit" head), a classifier over the encoder's final states first says whether the
lemma is the form itself, the form lower-cased, or something to decode; a shortcut is taken when its probability is
at least ``edit_threshold``. Shortcuts cannot misspell: without them, 119 of the 247 lemma errors on EWT dev words
with the right UPOS and an unseen (form, UPOS) were lemmas equal to the form (URLs, e-mail addresses, names, symbol
runs) that the decoder garbled. Only the words left to decode pay for the decoder.

Inference on the CPU runs both LSTMs step by step from kept tables (:class:`StepTables`): each character's and each
UPOS's input projection is a row to read, and a step is one matrix product and the gates. A call of ``nn.LSTM``
costs about 150 µs whatever it computes, and the decoder calls it once per character: decoding one unseen EWT word
took 1.3 ms with it, 0.8 ms step by step (float32). With ``int8_steps`` (the default of the inference layer) every
batch runs so, its products in int8 on one fixed scale, as the tagger's step loops
(:mod:`~bilstm_tagger.models.int8`): ru_gsd test tags with lemmas at 14.0k words/s instead of 9.3k, the same lemmas
on the dev sets but 3 of 31,800 words. In float32 only batches under :data:`STEP_ROWS` do. Training, GPUs and the
``torch.ao`` int8 copy (``precision = "int8"``) run ``nn.LSTM``; all read the same weights, and tests check that
they agree.

The model only writes lemmas; which words reach it is the inference layer's decision
(:mod:`bilstm_tagger.inference.lemmatization`: a (form, UPOS) seen in training is answered from the training
dictionary, and every lemma is computed once per (form, UPOS)).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..registry import registry
from ..vocab import IGNORE_INDEX, PAD_ID, UNK_ID, LemmaVocabularies
from . import int8
from .base import architecture_builder
from .batching import char_ids
from .beam import Beam
from .dropout import Dropout
from .neural import (
    bidirectional_steps, doubled_cell_input, load_module_arrays, lstm_cell, module_arrays, run_packed, tanh_by_sigmoid,
)

#: A decoded lemma may be this many characters longer than its form (German "gab" -> "geben" is 2).
EXTRA_STEPS = 10
#: The edit classifier's classes, in the order of its outputs.
EDITS = ("decode", "identity", "lower")
#: Batches of fewer rows (words, times the beam when decoding) run step by step at inference on the CPU; larger ones
#: run ``nn.LSTM``, whose fused kernels win from about 64 words (ru_gsd test's unseen words, 1 thread: 16 words 5.7
#: ms against 7.8, 64 words 19.8 against 19.8, 256 words 83 against 70).
STEP_ROWS = 64


def edit_of(form: str, lemma: str) -> str:
    """The edit that turns ``form`` into ``lemma``: one of :data:`EDITS` (identity first)."""
    if lemma == form:
        return "identity"
    return "lower" if lemma == form.lower() else "decode"


def apply_edit(edit: str, form: str) -> Optional[str]:
    """The lemma an edit gives for ``form``; None for ``"decode"`` (the decoder must write it)."""
    return form if edit == "identity" else form.lower() if edit == "lower" else None


@dataclass
class LemmaBatch:
    """U words to lemmatize, at most L characters each; M lemma characters with ``<EOS>`` when training.

    Attributes:
        chars: (U, L) character ids of the forms, ``PAD_ID`` padded.
        lengths: (U,) characters per form (at least 1).
        upos: (U,) UPOS ids (``n_upos`` for a UPOS the lemmatizer never saw).
        targets: (U, M) lemma character ids followed by ``<EOS>``, ``IGNORE_INDEX`` padded; None at inference.
        edits: (U,) gold edit ids (index into :data:`EDITS`); None at inference.
    """

    chars: torch.Tensor
    lengths: torch.Tensor
    upos: torch.Tensor
    targets: Optional[torch.Tensor] = None
    edits: Optional[torch.Tensor] = None

    def to(self, device: torch.device) -> "LemmaBatch":
        return LemmaBatch(
            chars=self.chars.to(device),
            lengths=self.lengths,  # pack_padded_sequence wants lengths on the CPU
            upos=self.upos.to(device),
            targets=None if self.targets is None else self.targets.to(device),
            edits=None if self.edits is None else self.edits.to(device),
        )


def make_lemma_batch(
    forms: Sequence[str],
    upos: Sequence[Optional[str]],
    vocabs: LemmaVocabularies,
    lemmas: Optional[Sequence[str]] = None,
) -> LemmaBatch:
    """Tensorise words (form and UPOS), with their gold lemmas for training."""
    chars, lengths = char_ids(forms, vocabs)
    upos_index = vocabs.upos_index
    upos_ids = torch.tensor([upos_index.get(tag, len(vocabs.upos)) for tag in upos], dtype=torch.long)
    targets = edits = None
    if lemmas is not None:
        edits = torch.tensor([EDITS.index(edit_of(f, lemma)) for f, lemma in zip(forms, lemmas)], dtype=torch.long)
        eos = len(vocabs.chars)
        width = max(len(lemma) for lemma in lemmas) + 1
        index = vocabs.chars.index
        targets = torch.full((len(forms), width), IGNORE_INDEX, dtype=torch.long)
        for row, lemma in enumerate(lemmas):
            targets[row, : len(lemma) + 1] = torch.tensor([index.get(c, UNK_ID) for c in lemma] + [eos])
    return LemmaBatch(chars, lengths, upos_ids, targets, edits)


class StepTables(NamedTuple):
    """What :class:`CharLemmatizer`'s step loops read, the cell input's doubled as
    :func:`~bilstm_tagger.models.neural.lstm_cell` reads them. The inputs are a character's embedding beside the
    UPOS's (:meth:`CharLemmatizer._with_upos`), so each input projection is the sum of a character row (biases
    included) and a UPOS row. The int8 copies are for ``int8_steps``: the inputs of those products are LSTM states,
    attention contexts (averages of encoder states) and tanh outputs, all in (-1, 1)."""

    encoder_chars: torch.Tensor  # (2, n_chars + 2, 4H), forward direction first
    encoder_upos: torch.Tensor  # (2, n_upos + 1, 4H)
    encoder_recurrent: torch.Tensor  # (2, H, 4H)
    decoder_chars: torch.Tensor  # (n_chars + 2, 8H)
    decoder_upos: torch.Tensor  # (n_upos + 1, 8H)
    decoder_recurrent: torch.Tensor  # (2H, 8H)
    encoder_int8: int8.QuantizedWeights  # encoder_recurrent
    decoder_int8: int8.QuantizedWeights  # decoder_recurrent, (1, 2H, 8H)
    combine_int8: int8.QuantizedWeights  # attention_combine's weights, (1, 4H, 2H)
    output_int8: int8.QuantizedWeights  # output's weights, (1, 2H, n_chars + 1)


class CharLemmatizer(nn.Module):
    """Encoder-decoder over characters, conditioned on UPOS (``bilstm_tagger.Lemmatizer.v2``; defaults:
    ``configs/bilstm.cfg``'s ``[lemmatizer.model]``).

    Args:
        n_chars: character vocabulary size (input and output; the output adds ``<EOS>``).
        n_upos: number of UPOS labels (one more id stands for a UPOS never seen).
        char_dim: character embedding size.
        upos_dim: UPOS embedding size.
        hidden: encoder size per direction; the decoder has twice this.
        dropout: dropout on the embeddings and on the decoder output.
        beam_size: hypotheses kept while decoding (1 = greedy), unless a call says otherwise.
        edit_classifier: also learn which lemmas are the form or its lower case (:data:`EDITS`), and decode only
            the others (``bilstm_tagger.Lemmatizer.v1`` is this model without it).
        edit_threshold: the probability the classifier must give "identity" or "lower" for that shortcut to be
            taken; below it the word is decoded.
    """

    family: ClassVar[str] = "Lemmatizer"
    data_sizes: ClassVar[Tuple[str, ...]] = ("n_chars", "n_upos")

    def __init__(
        self,
        *,
        n_chars: int,
        n_upos: int,
        char_dim: int = 64,
        upos_dim: int = 32,
        hidden: int = 128,
        dropout: float = 0.2,
        beam_size: int = 1,
        edit_classifier: bool = True,
        edit_threshold: float = 0.9,
    ) -> None:
        super().__init__()
        self.eos = n_chars  # output id of <EOS>
        self.bos = n_chars + 1  # only ever an input
        self.beam_size = beam_size
        self.edit_threshold = edit_threshold
        self.char_embedding = nn.Embedding(n_chars + 2, char_dim, padding_idx=PAD_ID)
        self.upos_embedding = nn.Embedding(n_upos + 1, upos_dim)
        self.dropout = Dropout(dropout)
        self.encoder = nn.LSTM(char_dim + upos_dim, hidden, batch_first=True, bidirectional=True)
        self.decoder = nn.LSTM(char_dim + upos_dim, 2 * hidden, batch_first=True)
        self.attention_score = nn.Linear(2 * hidden, 2 * hidden, bias=False)
        self.attention_combine = nn.Linear(4 * hidden, 2 * hidden)
        self.output = nn.Linear(2 * hidden, n_chars + 1)
        self.edit_classifier = nn.Linear(4 * hidden, len(EDITS)) if edit_classifier else None
        self._kept = int8.KeptWeights()  # the step loops' tables (_step_tables)

    @classmethod
    def from_vocabs(cls, vocabs: LemmaVocabularies, **hyperparameters) -> "CharLemmatizer":
        """A new, untrained lemmatizer for these vocabularies."""
        return cls(n_chars=len(vocabs.chars), n_upos=len(vocabs.upos), **hyperparameters)

    # -- the pieces -------------------------------------------------------------------------------------------------

    def _with_upos(self, chars: torch.Tensor, upos: torch.Tensor) -> torch.Tensor:
        """(N, S) char ids and (N,) UPOS ids -> (N, S, char_dim + upos_dim) inputs."""
        embedded = self.dropout(self.char_embedding(chars))
        tag = self.dropout(self.upos_embedding(upos))[:, None, :].expand(-1, chars.shape[1], -1)
        return torch.cat([embedded, tag], dim=-1)

    def encode(self, batch: LemmaBatch, *, int8_steps: bool = False):
        """Encoder states (U, L, 2H), their mask (U, L), and the decoder's initial (h, c), each (1, U, 2H).
        ``int8_steps``: see :meth:`predict_lemmas`."""
        mask = torch.arange(batch.chars.shape[1], device=batch.chars.device)[None, :] < batch.lengths.to(
            batch.chars.device)[:, None]
        if self._stepwise(batch.chars.shape[0], int8_steps):
            states, initial = self._encode_steps(batch, int8_steps)
            return states, mask, initial
        states, (h, c) = run_packed(self.encoder, self._with_upos(batch.chars, batch.upos), batch.lengths)
        initial = (torch.cat([h[0], h[1]], dim=-1)[None], torch.cat([c[0], c[1]], dim=-1)[None])
        return states, mask, initial

    # -- step by step (inference on the CPU) -----------------------------------------------------------------------

    def _stepwise(self, rows: int, int8_steps: bool = False) -> bool:
        """Whether to run the LSTMs step by step for a batch of ``rows``: at inference, with float32 ``nn.LSTM``
        weights on the CPU (not an int8 copy, whose modules are no longer ``nn.LSTM``), for every batch with
        ``int8_steps`` and below :data:`STEP_ROWS` without."""
        if self.training or type(self.encoder) is not nn.LSTM or type(self.decoder) is not nn.LSTM:
            return False
        weight = self.decoder.weight_hh_l0
        return weight.device.type == "cpu" and weight.dtype == torch.float32 and (int8_steps or rows < STEP_ROWS)

    def _step_tables(self) -> "StepTables":
        """What the step loops read (:class:`StepTables`), kept until a parameter changes."""
        encoder, decoder = self.encoder, self.decoder

        def parameters():
            names = [f"{kind}_l0" for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            return [*(getattr(encoder, name + suffix) for name in names for suffix in ("", "_reverse")),
                    *(getattr(decoder, name) for name in names), self.char_embedding.weight,
                    self.upos_embedding.weight, self.attention_combine.weight, self.output.weight]

        def make() -> StepTables:
            chars, tags = self.char_embedding.weight, self.upos_embedding.weight
            width = chars.shape[1]

            def doubled(lstm: nn.LSTM, suffix: str):  # (characters, UPOS, recurrent), the cell input's doubled
                weight = getattr(lstm, f"weight_ih_l0{suffix}")
                bias = getattr(lstm, f"bias_ih_l0{suffix}") + getattr(lstm, f"bias_hh_l0{suffix}")
                tables = (torch.addmm(bias, chars, weight[:, :width].t()), tags @ weight[:, width:].t(),
                          getattr(lstm, f"weight_hh_l0{suffix}").t())
                return [doubled_cell_input(table, lstm.hidden_size).contiguous() for table in tables]

            encoding = [torch.stack(both) for both in zip(doubled(encoder, ""), doubled(encoder, "_reverse"))]
            decoding = doubled(decoder, "")
            return StepTables(
                *encoding, *decoding, encoder_int8=int8.quantize_columns(encoding[2]),
                decoder_int8=int8.quantize_columns(decoding[2][None]),
                combine_int8=int8.quantize_columns(self.attention_combine.weight.t()[None]),
                output_int8=int8.quantize_columns(self.output.weight.t()[None]),
            )

        return self._kept.get("steps", parameters, make)

    def _encode_steps(self, batch: LemmaBatch, int8_steps: bool):
        """:meth:`encode`'s states (U, L, 2H) and initial (h, c), each (1, U, 2H), step by step
        (:func:`~bilstm_tagger.models.neural.bidirectional_steps`): each step's input projection is the
        character's row plus the word's UPOS row."""
        tables = self._step_tables()
        upos = batch.upos
        states, h, c = bidirectional_steps(
            tables.encoder_chars, batch.chars, batch.lengths,
            tables.encoder_int8 if int8_steps else tables.encoder_recurrent,
            offsets=torch.stack([tables.encoder_upos[0][upos], tables.encoder_upos[1][upos]]), keep_states=True,
        )
        return states, (torch.cat([h[0], h[1]], dim=-1)[None], torch.cat([c[0], c[1]], dim=-1)[None])

    def attend(self, out: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Attentional outputs (N, S, 2H) for decoder outputs (N, S, 2H) over memory (N, L, 2H), mask (N, L)."""
        scores = torch.einsum("nsh,nlh->nsl", self.attention_score(out), memory)
        weights = scores.masked_fill(~mask[:, None, :], float("-inf")).softmax(-1)
        context = torch.einsum("nsl,nlh->nsh", weights, memory)
        return torch.tanh(self.attention_combine(torch.cat([context, out], dim=-1)))

    def edit_logits(self, initial: Tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """(U, len(EDITS)) edit scores from the encoder's final (h, c), each (1, U, 2H)."""
        return self.edit_classifier(self.dropout(torch.cat([initial[0][0], initial[1][0]], dim=-1)))

    # -- training -------------------------------------------------------------------------------------------------

    def forward(self, batch: LemmaBatch) -> torch.Tensor:
        """Teacher-forced logits (U, M, n_chars + 1): step t is fed the gold character t - 1 (``<BOS>`` first)."""
        return self._teacher_forced(batch, *self.encode(batch))

    def _teacher_forced(self, batch: LemmaBatch, memory, mask, initial) -> torch.Tensor:
        gold = batch.targets
        fed = torch.where(gold >= 0, gold, torch.full_like(gold, PAD_ID))[:, :-1]
        previous = torch.cat([torch.full_like(gold[:, :1], self.bos), fed], dim=1)  # (U, M)
        outputs, _ = self.decoder(self._with_upos(previous, batch.upos), initial)
        return self.output(self.dropout(self.attend(outputs, memory, mask)))

    def loss(self, batch: LemmaBatch) -> torch.Tensor:
        """Mean cross-entropy per lemma character (``<EOS>`` included), plus the edit classifier's mean
        cross-entropy per word when the model has one (the decoder still learns every lemma, as Stanza's does)."""
        memory, mask, initial = self.encode(batch)
        logits = self._teacher_forced(batch, memory, mask, initial)
        loss = F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten(), ignore_index=IGNORE_INDEX)
        if self.edit_classifier is not None:
            loss = loss + F.cross_entropy(self.edit_logits(initial), batch.edits)
        return loss

    # -- decoding -------------------------------------------------------------------------------------------------

    def _edits(self, initial: Tuple[torch.Tensor, torch.Tensor]) -> List[str]:
        """Each word's edit from the encoder's final states: the classifier's most probable one if it has at least
        ``edit_threshold``, else ``"decode"`` (always, without a classifier)."""
        n = initial[0].shape[1]
        if self.edit_classifier is None:
            return ["decode"] * n
        probability, best = self.edit_logits(initial).float().softmax(-1).max(-1)
        best = best.masked_fill(probability < self.edit_threshold, EDITS.index("decode"))
        return [EDITS[i] for i in best.tolist()]

    @torch.inference_mode()
    def predict_edits(self, batch: LemmaBatch) -> List[str]:
        """Each word's edit (one of :data:`EDITS`; see :meth:`predict_lemmas`)."""
        self.eval()
        return self._edits(self.encode(batch)[2])

    @torch.inference_mode()
    def predict_lemmas(
        self, batch: LemmaBatch, *, beam_size: Optional[int] = None, int8_steps: bool = False
    ) -> Tuple[List[str], List[Optional[List[int]]]]:
        """Each word's edit, and for the words whose edit is ``"decode"`` their lemma as character ids (None for the
        others): the forms are encoded once, and only the words left to decode go through the decoder.

        ``int8_steps`` (float32 weights on the CPU): every batch runs step by step, the products by LSTM states,
        attention contexts and tanh outputs in int8 on one fixed scale (:mod:`~bilstm_tagger.models.int8`), so a
        word's lemma does not depend on the words decoded with it."""
        if self.training:  # eval() walks every submodule: 60 µs of a word's decoding
            self.eval()
        memory, mask, initial = self.encode(batch, int8_steps=int8_steps)
        edits = self._edits(initial)
        sequences: List[Optional[List[int]]] = [None] * len(edits)
        rows = [i for i, edit in enumerate(edits) if edit == "decode"]
        if rows:
            index = torch.tensor(rows, device=memory.device)
            chosen = LemmaBatch(chars=batch.chars[index], lengths=batch.lengths[index.cpu()], upos=batch.upos[index])
            encoded = (memory[index], mask[index], (initial[0][:, index], initial[1][:, index]))
            decoded = self.decode(chosen, beam_size=beam_size, encoded=encoded, int8_steps=int8_steps)[0]
            for row, ids in zip(rows, decoded):
                sequences[row] = ids
        return edits, sequences

    @torch.inference_mode()
    def predict(self, batch: LemmaBatch, *, beam_size: Optional[int] = None) -> List[List[int]]:
        """The decoder's lemma of each word (the edit classifier aside), as character ids without ``<EOS>``."""
        self.eval()
        sequences, _ = self.decode(batch, beam_size=beam_size)
        return sequences

    def decode(
        self, batch: LemmaBatch, *, beam_size: Optional[int] = None, encoded=None, int8_steps: bool = False
    ) -> Tuple[List[List[int]], torch.Tensor]:
        """Beam search, never worse than greedy under the model: character ids per word and log-probabilities (U,).
        ``encoded`` is :meth:`encode`'s output for ``batch`` when the caller has it; ``int8_steps``: see
        :meth:`predict_lemmas`."""
        beam_size = self.beam_size if beam_size is None else beam_size
        encoded = self.encode(batch, int8_steps=int8_steps) if encoded is None else encoded
        sequences, scores = self.beam_search(batch, encoded, beam_size, int8_steps=int8_steps)
        if beam_size > 1:
            greedy, greedy_scores = self.beam_search(batch, encoded, 1, int8_steps=int8_steps)
            better = (greedy_scores > scores).tolist()
            sequences = [g if b else s for s, g, b in zip(sequences, greedy, better)]
            scores = torch.where(greedy_scores > scores, greedy_scores, scores)
        return sequences, scores

    def beam_search(
        self, batch: LemmaBatch, encoded, beam_size: int, *, int8_steps: bool = False
    ) -> Tuple[List[List[int]], torch.Tensor]:
        """Decode every word at once, ``beam_size`` (K) hypotheses each.

        The search is :class:`~bilstm_tagger.models.beam.Beam`'s. A word's lemma is cut at ``EXTRA_STEPS``
        characters more than its form (its own cap, so that batching does not change results).

        Returns:
            Character ids per word (without ``<EOS>``), and each lemma's log-probability with ``<EOS>`` (U,).
        """
        memory, mask, (h, c) = encoded
        n, k = memory.shape[0], beam_size
        device = memory.device
        limits = batch.lengths.to(device) + EXTRA_STEPS  # (U,)
        expand = functools.partial(torch.repeat_interleave, repeats=k, dim=0)
        memory, mask, upos = expand(memory), expand(mask), expand(batch.upos.to(device))
        state = (h.repeat_interleave(k, dim=1), c.repeat_interleave(k, dim=1))
        beam = Beam(n, k, self.eos + 1, self.eos, device)
        previous = torch.full((n * k,), self.bos, dtype=torch.long, device=device)
        step = self._decoder_step(upos, memory, mask, int8_steps)
        for t in range(int(limits.max()) + 1):
            logits, state = step(previous, state)
            log_probs = logits.log_softmax(-1).view(n, k, beam.vocab)
            at_limit = (t >= limits)[:, None, None]  # past a word's cap only <EOS> is left
            log_probs = log_probs.masked_fill(at_limit & ~beam.is_eos, float("-inf"))
            _, chars, flat = beam.advance(log_probs)
            state = (state[0][:, flat], state[1][:, flat])
            previous = chars.flatten()
            if beam.done:
                break
        best, best_scores = beam.best()
        steps, _ = beam.trace(best)
        sequences = []
        for row in steps.tolist():
            end = row.index(self.eos) if self.eos in row else len(row)
            sequences.append(row[:end])
        return sequences, best_scores.cpu()

    def _decoder_step(self, upos: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor, int8_steps: bool):
        """One decoder step for N hypotheses with (N,) UPOS ids, attending over memory (N, L, 2H) with mask (N, L):
        (N,) previous characters and the state (h, c), each (1, N, 2H) -> output logits (N, n_chars + 1) and the
        new state. ``nn.LSTM`` unless :meth:`_stepwise`; step by step from the kept tables, in int8 with
        ``int8_steps``."""
        if not self._stepwise(len(upos), int8_steps):
            def fused(previous: torch.Tensor, state):
                out, state = self.decoder(self._with_upos(previous[:, None], upos), state)
                return self.output(self.attend(out, memory, mask)).squeeze(1), state

            return fused
        tables = self._step_tables()
        tags = tables.decoder_upos.index_select(0, upos)  # (N, 8H)
        if not int8_steps:
            def stepped(previous: torch.Tensor, state):
                gates = torch.addmm(tables.decoder_chars.index_select(0, previous).add_(tags), state[0][0],
                                    tables.decoder_recurrent)
                h, c = lstm_cell(gates, state[1][0])
                return self.output(self.attend(h[:, None], memory, mask)).squeeze(1), (h[None], c[None])

            return stepped
        # attend's scores out . W m computed as out . (m W): W applied to the memory once, not to every output
        keys = (memory @ self.attention_score.weight).transpose(1, 2)  # (N, 2H, L)
        blocked = ~mask[:, None, :]
        combine_bias, output_bias = self.attention_combine.bias, self.output.bias

        def in_int8(previous: torch.Tensor, state):
            x = tables.decoder_chars.index_select(0, previous).add_(tags)
            h, c = lstm_cell(int8.bmm(state[0], tables.decoder_int8)[0].add_(x), state[1][0])
            weights = torch.bmm(h[:, None], keys).masked_fill_(blocked, float("-inf")).softmax(-1)  # (N, 1, L)
            context = torch.bmm(weights, memory)[:, 0]
            combined = int8.bmm(torch.cat([context, h], dim=-1)[None], tables.combine_int8)[0].add_(combine_bias)
            logits = int8.bmm(tanh_by_sigmoid(combined)[None], tables.output_int8)[0].add_(output_bias)
            return logits, (h[None], c[None])

        return in_int8

    @torch.inference_mode()
    def sequence_log_prob(self, batch: LemmaBatch) -> torch.Tensor:
        """log P(lemma + ``<EOS>`` | form, UPOS) of each word's gold lemma in ``batch.targets``, (U,)."""
        self.eval()
        log_probs = self(batch).log_softmax(-1)
        gold = batch.targets
        picked = log_probs.gather(-1, gold.clamp(min=0)[..., None]).squeeze(-1)
        return picked.masked_fill(gold == IGNORE_INDEX, 0.0).sum(-1).cpu()

    def to_arrays(self) -> Dict[str, np.ndarray]:
        return module_arrays(self)

    def load_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        load_module_arrays(self, arrays)


build_char_lemmatizer = registry.architectures("bilstm_tagger.Lemmatizer.v2")(architecture_builder(CharLemmatizer))
#: The first version, without the edit classifier: what model directories written before v2 name.
build_char_lemmatizer_v1 = registry.architectures("bilstm_tagger.Lemmatizer.v1")(
    architecture_builder(CharLemmatizer, fixed={"edit_classifier": False, "edit_threshold": 1.0})
)
