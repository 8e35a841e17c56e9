"""The seq2seq tagger: an LSTM encoder reads the sentence, an LSTM decoder writes its tags, then ``<EOS>``.

Without attention the encoder's final state (every layer's h and c) is the *only* thing the decoder sees of the
sentence, which is the bottleneck this baseline exists to measure; ``reverse_input`` feeds the words last to first
(Sutskever et al. 2014). With ``attention = true`` the decoder also attends over the encoder states at every step
(Luong et al. 2015: "general" scores); ``input_feeding`` also feeds each step's attentional output to the next step,
which makes training step by step (several times slower on a CPU), whereas without it the teacher-forced decoder
and its attention run over the whole sentence at once.

The first trained target (UPOS when present) is the sequence the decoder emits and feeds back; ``<EOS>`` is one
more of its labels. The other targets (XPOS, FEATS) are read off the same decoder state at each step.

Decoding is beam search with ``beam_size`` hypotheses (1 = greedy). With ``constrain_length`` (the default) a
hypothesis must emit exactly one tag per word and then ``<EOS>``; without it ``<EOS>`` may come early or late
(it is forced at step ``2 * n + 5`` at the latest), and words left without a tag get id -1, which the tagger
writes as ``_`` and the evaluation counts as wrong. The config's values are the model's defaults; both are decoding
settings (``decoding_settings``), which inference options change on a trained model.
"""

from __future__ import annotations

import functools
from typing import ClassVar, Dict, List, Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from ..registry import registry
from ..vocab import IGNORE_INDEX
from .base import architecture_builder
from .batching import Batch
from .dropout import Dropout
from .beam import Beam
from .embedding import WordCharEmbedding
from .neural import NeuralTagger, reverse_padded, run_packed

#: Id written for a word that unconstrained decoding left without a tag.
MISSING = -1


class Seq2SeqTagger(NeuralTagger):
    """Encoder-decoder tagger with optional attention and beam-search decoding (``bilstm_tagger.Seq2Seq.v1``;
    defaults: ``configs/seq2seq.cfg``).

    Args:
        n_words: word vocabulary size.
        n_chars: character vocabulary size.
        n_labels: number of labels per trained target; the first is the decoded sequence.
        word_dim: word embedding size.
        char_dim: character embedding size.
        char_hidden: character encoder size (see :class:`WordCharEmbedding`).
        char_encoder: "lstm" or "cnn".
        hidden: encoder and decoder state size.
        layers: layers of the encoder and of the decoder.
        tag_dim: size of the embedding of the previous tag fed to the decoder.
        dropout: dropout on the inputs and on the decoder output.
        reverse_input: encode the words last to first.
        attention: let the decoder attend over the encoder states.
        input_feeding: with attention, feed each step's attentional output into the next step (Luong et al.).
        beam_size: hypotheses kept while decoding (1 = greedy), unless a call says otherwise.
        constrain_length: decode exactly one tag per word, unless a call says otherwise.
    """

    family: ClassVar[str] = "Seq2Seq"
    decoding_settings: ClassVar[Tuple[str, ...]] = ("beam_size", "constrain_length")

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
        hidden: int = 512,
        layers: int = 2,
        tag_dim: int = 64,
        dropout: float = 0.33,
        reverse_input: bool = True,
        attention: bool = False,
        input_feeding: bool = False,
        beam_size: int = 4,
        constrain_length: bool = True,
    ) -> None:
        super().__init__(n_labels=n_labels)
        self.primary = next(iter(n_labels))
        self.eos = n_labels[self.primary]  # <EOS> is one more label of the primary target
        self.bos = self.eos + 1  # only ever an input
        self.reverse_input = reverse_input
        self.attention = attention
        self.input_feeding = attention and input_feeding
        self.beam_size = beam_size
        self.constrain_length = constrain_length
        self.hidden = hidden
        self.embedding = WordCharEmbedding(
            n_words=n_words,
            n_chars=n_chars,
            word_dim=word_dim,
            char_dim=char_dim,
            char_hidden=char_hidden,
            char_encoder=char_encoder,
        )
        self.dropout = Dropout(dropout)
        lstm_dropout = dropout if layers > 1 else 0.0
        self.encoder = nn.LSTM(self.embedding.output_dim, hidden, num_layers=layers, batch_first=True, dropout=lstm_dropout)
        self.tag_embedding = nn.Embedding(self.bos + 1, tag_dim)
        decoder_input = tag_dim + (hidden if self.input_feeding else 0)
        self.decoder = nn.LSTM(decoder_input, hidden, num_layers=layers, batch_first=True, dropout=lstm_dropout)
        if attention:
            self.attention_score = nn.Linear(hidden, hidden, bias=False)
            self.attention_combine = nn.Linear(2 * hidden, hidden)
        heads = {target: nn.Linear(hidden, n) for target, n in n_labels.items()}
        heads[self.primary] = nn.Linear(hidden, self.eos + 1)
        self.heads = nn.ModuleDict(heads)

    # -- the pieces -------------------------------------------------------------------------------------------------

    def encode(self, batch: Batch) -> Tuple[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """Encoder states (B, T, H) in input order and the final (h, c), each (layers, B, H)."""
        inputs = self.dropout(self.embedding(batch))
        if self.reverse_input:
            inputs = reverse_padded(inputs, batch.lengths)
        return run_packed(self.encoder, inputs, batch.lengths)

    def step(
        self,
        previous: torch.Tensor,
        state: Tuple[torch.Tensor, torch.Tensor],
        feed: Optional[torch.Tensor],
        memory: Optional[torch.Tensor],
        memory_mask: Optional[torch.Tensor],
    ) -> Tuple[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """One decoder step: previous tags (N,) -> output (N, H) and the new state; ``feed`` is the last output."""
        inputs = self.tag_embedding(previous)
        if self.input_feeding:
            inputs = torch.cat([inputs, feed], dim=-1)
        out, state = self.decoder(inputs.unsqueeze(1), state)
        if self.attention:
            out = self.attend(out, memory, memory_mask)
        return out.squeeze(1), state

    def attend(self, out: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor) -> torch.Tensor:
        """Attentional outputs for decoder outputs (N, S, H) over memory (N, T, H) with mask (N, T): (N, S, H)."""
        scores = torch.einsum("nsh,nth->nst", self.attention_score(out), memory)
        weights = scores.masked_fill(~memory_mask[:, None, :], float("-inf")).softmax(-1)
        context = torch.einsum("nst,nth->nsh", weights, memory)
        return torch.tanh(self.attention_combine(torch.cat([context, out], dim=-1)))

    def _memory(self, states: torch.Tensor, lengths: torch.Tensor):
        if not self.attention:
            return None, None
        mask = torch.arange(states.shape[1], device=states.device)[None, :] < lengths.to(states.device)[:, None]
        return states, mask

    # -- training -------------------------------------------------------------------------------------------------

    def forward(self, batch: Batch) -> Dict[str, torch.Tensor]:
        """Teacher-forced logits, each (B, T + 1, n); the primary target's last class is ``<EOS>``.

        Needs ``batch.targets``: step t is fed the gold primary tag of word t - 1 (``<BOS>`` first).
        """
        states, final = self.encode(batch)
        gold = batch.targets[self.primary]  # (B, T), IGNORE_INDEX beyond the end or where unannotated
        n, t_max = gold.shape
        # an unannotated gold tag is fed back as <BOS>, the one input that says nothing about a tag
        fed = torch.where(gold >= 0, gold, torch.full_like(gold, self.bos))
        previous = torch.cat([torch.full((n, 1), self.bos, dtype=torch.long, device=gold.device), fed], dim=1)
        if not self.input_feeding:
            # every input is known in advance, so the decoder runs as one LSTM call rather than T + 1 steps;
            # steps past a sentence's end only see their own padding and are ignored by the loss
            outputs, _ = self.decoder(self.tag_embedding(previous), final)
            if self.attention:
                outputs = self.attend(outputs, *self._memory(states, batch.lengths))
        else:
            # input feeding makes each step depend on the last output: step by step
            memory, mask = self._memory(states, batch.lengths)
            feed, state, steps = states.new_zeros(n, self.hidden), final, []
            for t in range(t_max + 1):
                feed, state = self.step(previous[:, t], state, feed, memory, mask)
                steps.append(feed)
            outputs = torch.stack(steps, dim=1)
        hidden = self.dropout(outputs)  # (B, T + 1, H)
        return {target: head(hidden) for target, head in self.heads.items()}

    def loss(self, batch: Batch) -> torch.Tensor:
        """Cross-entropy of every target; the primary one also learns to emit ``<EOS>`` after the last word."""
        logits = self(batch)
        total = logits[self.primary].new_zeros(())
        lengths = batch.lengths.to(logits[self.primary].device)
        for target, scores in logits.items():
            gold = batch.targets[target]
            padded = F.pad(gold, (0, 1), value=IGNORE_INDEX)  # (B, T + 1)
            if target == self.primary:
                padded = padded.scatter(1, lengths[:, None], self.eos)
            if bool((padded != IGNORE_INDEX).any()):
                total = total + F.cross_entropy(scores.flatten(0, 1), padded.flatten(), ignore_index=IGNORE_INDEX)
        return total

    # -- decoding -------------------------------------------------------------------------------------------------

    @torch.inference_mode()
    def predict(
        self, batch: Batch, *, beam_size: Optional[int] = None, constrain_length: Optional[bool] = None
    ) -> Dict[str, torch.Tensor]:
        """Beam-search tags for every sentence: each target (B, T), ``MISSING`` where no tag was emitted.

        Args:
            beam_size, constrain_length: decoding settings for this call (None: the model's own).
        """
        self.eval()
        states, final = self.encode(batch)
        tags, _ = self.decode(states, final, batch.lengths, beam_size=beam_size, constrain_length=constrain_length)
        return tags

    def decode(
        self,
        states: torch.Tensor,
        final: Tuple[torch.Tensor, torch.Tensor],
        lengths: torch.Tensor,
        *,
        beam_size: Optional[int] = None,
        constrain_length: Optional[bool] = None,
    ) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
        """Beam search, never worse than greedy under the model: tags (B, T) and scores (B,).

        Plain beam search can prune the greedy path and end below it; the greedy result is kept as a candidate
        so that a wider beam can only help. ``beam_size`` and ``constrain_length`` default to the model's.
        """
        beam_size = self.beam_size if beam_size is None else beam_size
        tags, scores = self.beam_search(states, final, lengths, beam_size, constrain_length)
        if beam_size > 1:
            greedy_tags, greedy_scores = self.beam_search(states, final, lengths, 1, constrain_length)
            better = greedy_scores > scores
            tags = {target: torch.where(better[:, None], greedy_tags[target], ids) for target, ids in tags.items()}
            scores = torch.where(better, greedy_scores, scores)
        return tags, scores

    def beam_search(
        self,
        states: torch.Tensor,
        final: Tuple[torch.Tensor, torch.Tensor],
        lengths: torch.Tensor,
        beam_size: int,
        constrain_length: Optional[bool] = None,
    ) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
        """Decode a batch, ``beam_size`` hypotheses per sentence, all sentences at once.

        Args:
            states: encoder states (B, T, H).
            final: the encoder's final (h, c), each (layers, B, H).
            lengths: words per sentence (B,).
            beam_size: hypotheses kept per sentence (K).
            constrain_length: exactly one tag per word (None: the model's setting).

        Returns:
            Label ids per target (B, T), ``MISSING`` where no tag was emitted, and each sentence's log-probability
            of its primary sequence, ``<EOS>`` included (B,).

        The search itself (scores, back-pointers, finished hypotheses) is :class:`~bilstm_tagger.models.beam.Beam`'s.
        """
        n, t_max, _ = states.shape
        k = beam_size
        if constrain_length is None:
            constrain_length = self.constrain_length
        device = states.device
        lengths = lengths.to(device)
        vocab = self.eos + 1
        max_steps = t_max + 1 if constrain_length else 2 * t_max + 5
        expand = functools.partial(torch.repeat_interleave, repeats=k, dim=0)
        state = (final[0].repeat_interleave(k, dim=1), final[1].repeat_interleave(k, dim=1))  # (L, B*K, H)
        memory, mask = self._memory(states, lengths)
        if self.attention:
            memory, mask = expand(memory), expand(mask)
        feed = states.new_zeros(n * k, self.hidden) if self.input_feeding else None
        beam = Beam(n, k, vocab, self.eos, device)
        previous = torch.full((n * k,), self.bos, dtype=torch.long, device=device)
        # the other targets' tags at each step, greedy from the same decoder output, reordered with the beam
        others: Dict[str, List[torch.Tensor]] = {target: [] for target in self.heads if target != self.primary}
        for t in range(max_steps):
            out, state = self.step(previous, state, feed, memory, mask)
            log_probs = self.heads[self.primary](out).log_softmax(-1).view(n, k, vocab)
            if constrain_length:
                # before a sentence's last word <EOS> is impossible; from then on only <EOS> is
                words_left = (t < lengths)[:, None, None]
                log_probs = log_probs.masked_fill(words_left & beam.is_eos, float("-inf"))
            else:
                # a sentence's last allowed step (its own cap, so that batching does not change results)
                words_left = (t < 2 * lengths + 4)[:, None, None]
            log_probs = log_probs.masked_fill(~words_left & ~beam.is_eos, float("-inf"))
            rows, tags, flat = beam.advance(log_probs)
            for target, stream in others.items():
                stream.append(self.heads[target](out).argmax(-1).view(n, k).gather(1, rows))
            state = (state[0][:, flat], state[1][:, flat])
            feed = out[flat] if self.input_feeding else None
            previous = tags.flatten()
            if beam.done:
                break
        best, best_scores = beam.best()  # every sentence has finished by now
        traced, traced_others = beam.trace(best, **others)
        width = max(traced.shape[1], t_max)

        def padded(ids: torch.Tensor) -> torch.Tensor:  # (B, steps) -> (B, width), MISSING after the last step
            return torch.cat([ids, ids.new_full((n, width - ids.shape[1]), MISSING)], dim=1)

        sequence = padded(traced)
        # keep the tags before <EOS>, one per word at most
        emitted = (sequence == self.eos).long().cumsum(-1) == 0
        emitted &= torch.arange(sequence.shape[1], device=device)[None, :] < lengths[:, None]
        result = {self.primary: sequence, **{target: padded(ids) for target, ids in traced_others.items()}}
        result = {target: ids.masked_fill(~emitted, MISSING)[:, :t_max].cpu() for target, ids in result.items()}
        return result, best_scores.cpu()

    @torch.inference_mode()
    def sequence_log_prob(self, batch: Batch) -> float:
        """log P(primary tags + ``<EOS>`` | words) of a one-sentence batch's gold tags (for testing the search)."""
        self.eval()
        logits = self(batch)[self.primary][0].log_softmax(-1)  # (T + 1, n + 1)
        gold = batch.targets[self.primary][0].tolist() + [self.eos]
        return float(sum(logits[t, g] for t, g in enumerate(gold)))


build_seq2seq_tagger = registry.architectures("bilstm_tagger.Seq2Seq.v1")(architecture_builder(Seq2SeqTagger))
