"""How each kind of model tags: the one place that looks at what kind of model it has.

A counting model (the HMM) tags sentences itself. A torch model is run by a :class:`NeuralRuntime`: on its device,
in its precision (a quantized copy for int8, autocast for bf16/fp16), through a
:class:`~bilstm_tagger.inference.form_cache.FormCache`, in length-bucketed batches, with the decoding settings its
family declares (for ``consistent_tags``, a table of the vocabularies' (UPOS, tag) pairs). Options arrive already
checked (:class:`~bilstm_tagger.inference.options.InferenceOptions`).

**Forks.** The first :class:`NeuralRuntime` makes every child forked after it start with one torch thread
(:mod:`bilstm_tagger.threads`: a child of a process whose thread pool has run would hang in it, and several
workers on the same cores want one thread each).
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Dict, Iterable, List, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from ..models import int8
from ..models.base import CountingTagger, TaggerModel
from ..threads import ThreadGovernor, one_torch_thread_in_forked_children, running
from ..models.batching import length_batches
from ..models.neural import NeuralTagger
from ..models.tag_pairs import TagPairs
from ..vocab import Vocabularies
from .form_cache import FormCache
from .options import InferenceOptions, OptionError

#: torch.autocast dtype of each precision that runs under autocast
AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}

TagIds = List[Dict[str, List[int]]]


def quantized(model: nn.Module) -> nn.Module:
    """A copy for CPU inference whose LSTM, GRU and linear layers compute in int8 with weights quantized per tensor
    and activations quantized on the fly (``torch.ao`` dynamic quantization; about 1.2x the speed of float32 at
    the same EWT accuracy, bench/RESULTS.md). Elman RNNs and embeddings stay float32. For a tagger or the
    lemmatizer."""
    with warnings.catch_warnings():
        # torch.ao's eager quantization announces its move to torchao; it is what ships with torch today
        warnings.simplefilter("ignore")
        copy = torch.ao.quantization.quantize_dynamic(model, {nn.LSTM, nn.GRU, nn.Linear}, dtype=torch.qint8)
    return copy.eval()


class CountingRuntime:
    """Tags with a counting model (CPU, numpy)."""

    device = torch.device("cpu")

    def __init__(self, model: CountingTagger) -> None:
        self.model = model

    def tag_ids(self, sentences: Sequence[Sequence[str]], batch_words: int) -> TagIds:
        """Best label ids for non-empty sentences (``batch_words`` does not apply: sentences are independent)."""
        return self.model.tag_ids(sentences)

    def encode_ahead(self, forms: Iterable[str]) -> int:
        """Nothing to encode: a counting model keeps no per-form vectors."""
        return 0


class NeuralRuntime:
    """Tags with a torch model (see the module docstring).

    Args:
        model: the trained model; it is moved to ``device`` and put in eval mode, and keeps its float32 weights.
        vocabs: its vocabularies.
        options: checked options.
        device: the resolved device.
    """

    def __init__(
        self, model: NeuralTagger, vocabs: Vocabularies, options: InferenceOptions, device: torch.device
    ) -> None:
        one_torch_thread_in_forked_children()
        self.device = device
        model.to(device).eval()
        self.model = quantized(model) if options.precision == "int8" else model
        self.autocast = AUTOCAST.get(options.precision)
        projections = options.cached_projections
        if projections is None:  # fastest where it applies: the CPU in float32
            projections = "projection" in model.form_encodings and device.type == "cpu" and options.precision == "fp32"
        encoding = "projection" if projections else "embedding"
        int8_steps = options.int8_steps
        if int8_steps is None:  # on where it applies: the step loop of cached projections, on the CPU
            int8_steps = projections and device.type == "cpu" and int8.available()
        elif int8_steps and not (projections and device.type == "cpu" and int8.available()):
            raise OptionError(
                f"int8_steps is for the cached-projection path on a CPU with int8 products (torch {torch.__version__}"
                f" on {device}: {'available' if int8.available() else 'none'})"
            )
        self.cache = FormCache(
            vocabs=vocabs, model=self.model, device=device, encoding=encoding, int8_steps=bool(int8_steps)
        )
        self.decoding: Dict[str, object] = {
            name: getattr(options, name)
            for name in model.decoding_settings
            if getattr(options, name) is not None and name != "consistent_tags"
        }
        if "consistent_tags" in model.decoding_settings and options.consistent_tags is not False:
            if vocabs.tag_pairs:
                self.decoding["tag_pairs"] = TagPairs(vocabs.labels, vocabs.tag_pairs, device)
            elif options.consistent_tags:
                raise OptionError(
                    "consistent_tags: this model directory records no (UPOS, tag) pairs (it was trained before "
                    "they were saved, or has no UPOS); train it again, or leave consistent_tags unset"
                )
        self.threads: Optional[ThreadGovernor] = None  # set by the Tagger (InferenceOptions.adapt_threads)

    def encode_ahead(self, forms: Iterable[str]) -> int:
        """Add forms to the form cache ahead of tagging (:meth:`FormCache.add`); returns how many were new."""
        with torch.inference_mode(), self._autocast(), running(self.threads):
            return self.cache.add(forms)

    def _autocast(self):
        """The precision's autocast context (a null one for fp32 and int8)."""
        return torch.autocast(self.device.type, dtype=self.autocast) if self.autocast else contextlib.nullcontext()

    def tag_ids(self, sentences: Sequence[Sequence[str]], batch_words: int) -> TagIds:
        """Best label ids for non-empty sentences, batched by length; the result does not depend on batch_words."""
        results: TagIds = [{} for _ in sentences]
        if self.model.training:  # whoever holds the model may have switched it to training since
            self.model.eval()  # (not called every time: it walks every submodule, 0.08 ms of a short sentence)
        with torch.inference_mode(), self._autocast():
            for group in length_batches([len(s) for s in sentences], batch_words=batch_words):
                with running(self.threads):
                    batch = self.cache.make_batch([sentences[i] for i in group])
                    predicted = self.model.predict(batch, **self.decoding)
                # each target's ids of the words alone, sentence after sentence, as one list: one conversion of
                # the real words instead of a Python int for every padded slot, then a slice per sentence (the
                # host's work per word, which bounds what a GPU can be fed: bench/RESULTS.md, "Speed")
                lengths = np.array([len(sentences[i]) for i in group])
                flat = {}
                for target, ids in predicted.items():
                    ids = ids.cpu().numpy()  # (B, T)
                    flat[target] = ids[np.arange(ids.shape[1])[None, :] < lengths[:, None]].tolist()
                ends = np.cumsum(lengths).tolist()
                for i, start, end in zip(group, [0, *ends], ends):
                    results[i] = {target: ids[start:end] for target, ids in flat.items()}
        return results


Runtime = Union[CountingRuntime, NeuralRuntime]


def new_runtime(
    model: TaggerModel, vocabs: Vocabularies, options: InferenceOptions, device: torch.device
) -> Runtime:
    """The runtime for ``model``'s kind (the one dispatch on kinds of model at inference)."""
    if isinstance(model, CountingTagger):
        return CountingRuntime(model)
    return NeuralRuntime(model, vocabs, options, device)
