"""A trained tagger ready to use: vocabularies, network and device together, tagging lists of word forms.

This is what :func:`bilstm_tagger.serialization.load_model` returns and what ``evaluate``, ``predict`` and the
spaCy component call.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Union

import torch
from confection import Config

from .errors import BilstmTaggerError
from .form_cache import FormCache
from .models.base import PRECISIONS, NeuralTagger
from .models.hmm import HMMTagger
from .vocab import Vocabularies

#: Padded word slots per batch at prediction time: big enough to keep the matrices busy, small enough for RAM.
PREDICT_BATCH_WORDS = 4096

Tags = Dict[str, List[Optional[str]]]
TaggerModel = Union[NeuralTagger, HMMTagger]


class Tagger:
    """A trained model of any family with its vocabularies.

    Args:
        config: the resolved training config the model was built from.
        vocabs: vocabularies and label sets.
        network: the model (a torch :class:`NeuralTagger` or the numpy HMM), holding its trained weights.
        device: where a torch model runs (the HMM always runs on the CPU).
        meta: the model directory's ``meta.json``.
        precision: "fp32"; "bf16"/"fp16" to tag under ``torch.autocast`` (GPUs, and CPUs with bf16 matrix units);
            "int8" to tag with a dynamically quantized copy of the network (CPUs). Torch models only.

    A torch model keeps a :class:`~bilstm_tagger.form_cache.FormCache` of the forms it has tagged (and, for int8,
    the quantized copy it tags with, ``runtime``); call :meth:`to` (which makes them anew) after changing the
    network's weights in place. ``network`` itself always keeps the float32 weights that are saved.
    """

    def __init__(
        self,
        *,
        config: Config,
        vocabs: Vocabularies,
        network: TaggerModel,
        device: torch.device,
        meta: Optional[dict] = None,
        precision: str = "fp32",
    ) -> None:
        self.config = config
        self.vocabs = vocabs
        self.network = network
        self.meta = meta or {}
        self.set_precision(precision)
        self.to(device)

    @property
    def targets(self) -> List[str]:
        return self.vocabs.targets

    def to(self, device: torch.device) -> "Tagger":
        """Move a torch model to ``device`` (and start a new form cache there)."""
        if isinstance(self.network, torch.nn.Module):
            self.network.to(device).eval()
        self.device = device
        self._new_cache()
        return self

    def _new_cache(self) -> None:
        self.cache: Optional[FormCache] = None
        self.runtime: TaggerModel = self.network
        if isinstance(self.network, torch.nn.Module):
            if self.precision == "int8":
                if self.device.type != "cpu":
                    raise BilstmTaggerError(f"precision int8 is for CPUs; on {self.device} use bf16 or fp16")
                self.runtime = self.network.quantized()
            self.cache = self.runtime.new_form_cache(self.vocabs, self.device, self.precision)

    def set_precision(self, precision: str) -> None:
        """Tag in "fp32", under autocast in "bf16" or "fp16", or with an "int8" quantized copy (see the class)."""
        if precision not in PRECISIONS:
            raise BilstmTaggerError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        previous, self.precision = getattr(self, "precision", "fp32"), precision
        if hasattr(self, "device"):
            try:
                self._new_cache()
            except BilstmTaggerError:
                self.precision = previous  # e.g. int8 asked for on a GPU: keep tagging as before
                self._new_cache()
                raise

    def set_decoding(self, *, beam_size: Optional[int] = None, constrain_length: Optional[bool] = None) -> None:
        """Change decoding settings of a model that has them (the seq2seq family's beam search).

        Raises:
            BilstmTaggerError: for a setting this model's family does not have.
        """
        for name, value in (("beam_size", beam_size), ("constrain_length", constrain_length)):
            if value is None:
                continue
            if not hasattr(self.network, name):
                raise BilstmTaggerError(
                    f"{name} is a decoding setting of seq2seq models; this model is {type(self.network).__name__}"
                )
            if name == "beam_size" and value < 1:
                raise BilstmTaggerError(f"beam size must be at least 1, not {value}")
            setattr(self.network, name, value)
            setattr(self.runtime, name, value)

    def tag(self, sentences: Sequence[Sequence[str]], *, batch_words: int = PREDICT_BATCH_WORDS) -> List[Tags]:
        """Tag sentences given as word forms.

        Args:
            sentences: each sentence's words; an empty sentence gets empty tag lists.
            batch_words: padded word slots per batch; the result does not depend on it.

        Returns:
            For each sentence, a dict from each trained target (``upos``, ``xpos``, ``feats``) to one label per word
            (None for a word the model left untagged, which only unconstrained seq2seq decoding does).
        """
        labels = self.vocabs.labels
        return [
            # a negative id is a word the model left untagged (unconstrained seq2seq decoding): None, never a label
            {target: [labels[target][k] if k >= 0 else None for k in row] for target, row in ids.items()}
            for ids in self.tag_ids(sentences, batch_words=batch_words)
        ]

    def tag_ids(
        self, sentences: Sequence[Sequence[str]], *, batch_words: int = PREDICT_BATCH_WORDS
    ) -> List[Dict[str, List[int]]]:
        """Like :meth:`tag`, with label ids (indices into ``vocabs.labels[target]``, -1 for untagged words)."""
        nonempty = [i for i, s in enumerate(sentences) if len(s) > 0]
        results: List[Dict[str, List[int]]] = [{target: [] for target in self.targets} for _ in sentences]
        extra = {"cache": self.cache, "precision": self.precision} if self.cache is not None else {}
        predicted = self.runtime.tag_ids(
            [sentences[i] for i in nonempty], self.vocabs, device=self.device, batch_words=batch_words, **extra
        )
        for i, ids in zip(nonempty, predicted):
            results[i] = ids
        return results
