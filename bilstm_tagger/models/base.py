"""What every neural tagger shares: per-target logits from a batch, the training loss, and argmax decoding.

A family implements ``forward(batch) -> {target: (B, T, n_labels)}``; the loss, argmax prediction and the
length-bucketed ``tag_ids`` live here so that the families are trained and run the same way (the seq2seq family
overrides ``loss`` and ``predict`` for its decoder). ``run_packed`` is the shared way of running an RNN over padding.
"""

from __future__ import annotations

import contextlib
from typing import Dict, List, Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..batching import Batch, length_batches
from ..form_cache import FormCache
from ..vocab import IGNORE_INDEX, Vocabularies

#: ``precision`` settings of :meth:`NeuralTagger.tag_ids`: autocast dtype, None for none ("int8" runs a
#: :meth:`NeuralTagger.quantized` copy of the network, which the :class:`~bilstm_tagger.tagger.Tagger` makes).
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16, "int8": None}


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


def reverse_padded(inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence's first ``length`` steps: (B, T, ...) -> (B, T, ...), padding stays at the end."""
    steps = torch.arange(inputs.shape[1], device=inputs.device)
    lengths = lengths.to(inputs.device)
    index = (lengths[:, None] - 1 - steps[None, :]).clamp(min=0)
    index = torch.where(steps[None, :] < lengths[:, None], index, steps[None, :])
    return inputs.gather(1, index.view(*index.shape, *([1] * (inputs.dim() - 2))).expand_as(inputs))


class NeuralTagger(nn.Module):
    """Base class of the torch tagger families.

    Args:
        n_labels: number of labels of each trained target (``upos``, ``xpos``, ``feats``).
    """

    def __init__(self, *, n_labels: Dict[str, int]) -> None:
        super().__init__()
        self.n_labels = dict(n_labels)

    def forward(self, batch: Batch) -> Dict[str, torch.Tensor]:  # pragma: no cover - abstract
        """Per-target logits, each (B, T, n_labels[target])."""
        raise NotImplementedError

    def quantized(self) -> "NeuralTagger":
        """A copy for CPU inference whose LSTM, GRU and linear layers compute in int8 with weights quantized per
        tensor and activations quantized on the fly (``torch.ao`` dynamic quantization; about 1.2x the speed of
        float32 at the same EWT accuracy, bench/RESULTS.md). Elman RNNs and embeddings stay float32."""
        import warnings

        with warnings.catch_warnings():
            # torch.ao's eager quantization announces its move to torchao; it is what ships with torch today
            warnings.simplefilter("ignore")
            copy = torch.ao.quantization.quantize_dynamic(self, {nn.LSTM, nn.GRU, nn.Linear}, dtype=torch.qint8)
        return copy.eval()

    def configure_inference(self, device: torch.device, precision: str) -> None:
        """Choose the inference path for ``device`` and ``precision`` (before a form cache is made for them)."""

    def new_form_cache(self, vocabs: Vocabularies, device: torch.device, precision: str) -> FormCache:
        """An empty :class:`~bilstm_tagger.form_cache.FormCache` for tagging on ``device`` in ``precision``."""
        self.configure_inference(device, precision)
        return FormCache(vocabs=vocabs, network=self, device=device)

    @property
    def form_vector_dim(self) -> int:
        """Width of :meth:`encode_forms`' output."""
        return self.embedding.output_dim

    def encode_forms(self, word_ids: torch.Tensor, type_chars: torch.Tensor, type_lengths: torch.Tensor) -> torch.Tensor:
        """What a :class:`~bilstm_tagger.form_cache.FormCache` keeps per form, (U,) word ids, (U, L) char ids
        and (U,) lengths -> (U, form_vector_dim); ``forward`` reads it back from ``Batch.form_vectors``.
        By default the word representation; a family may keep more (the BiLSTM keeps its first layer's input
        projections)."""
        return self.embedding.encode_forms(word_ids, type_chars, type_lengths)

    def loss(self, batch: Batch) -> torch.Tensor:
        """Sum over targets of the mean cross-entropy over annotated words (a scalar)."""
        logits = self(batch)
        total = logits[next(iter(logits))].new_zeros(())
        for target, scores in logits.items():
            gold = batch.targets[target]
            if bool((gold != IGNORE_INDEX).any()):
                total = total + F.cross_entropy(scores.flatten(0, 1), gold.flatten(), ignore_index=IGNORE_INDEX)
        return total

    @torch.inference_mode()
    def predict(self, batch: Batch) -> Dict[str, torch.Tensor]:
        """Best label id per word and target, each (B, T); positions past a sentence's end are meaningless."""
        return {target: scores.argmax(-1) for target, scores in self(batch).items()}

    def tag_ids(
        self,
        sentences: Sequence[Sequence[str]],
        vocabs: Vocabularies,
        *,
        device: torch.device,
        batch_words: int,
        cache: Optional[FormCache] = None,
        precision: str = "fp32",
    ) -> List[Dict[str, List[int]]]:
        """Best label ids for non-empty sentences, batched by length; the result does not depend on batch_words.

        Args:
            cache: per-form vectors kept across calls (a fresh one when None: forms repeated across this call's
                batches are still encoded once). It must come from :meth:`new_form_cache` for these weights, this
                device and this precision.
            precision: "bf16"/"fp16" run under ``torch.autocast``; "fp32" and "int8" do not (for int8 the
                :class:`~bilstm_tagger.tagger.Tagger` calls this on its :meth:`quantized` copy).
        """
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, not {precision!r}")
        results: List[Dict[str, List[int]]] = [{} for _ in sentences]
        self.eval()
        if cache is None:
            cache = self.new_form_cache(vocabs, device, precision)
        dtype = PRECISIONS[precision]
        autocast = torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            for group in length_batches([len(s) for s in sentences], batch_words=batch_words):
                batch = cache.make_batch([sentences[i] for i in group])
                predicted = {target: ids.cpu().tolist() for target, ids in self.predict(batch).items()}
                for row, i in enumerate(group):
                    n = len(sentences[i])
                    results[i] = {target: ids[row][:n] for target, ids in predicted.items()}
        return results
