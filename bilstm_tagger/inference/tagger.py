"""A trained model ready to tag: the model directory's contents with validated inference options.

:func:`load_model` reads a model directory and returns a :class:`Tagger`; ``evaluate``, ``predict``, training's dev
checks and the spaCy component all tag through one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import itertools
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from confection import Config

from ..models.base import TaggerModel
from ..serialization import TrainedModel, read_model
from ..threads import ThreadGovernor
from ..vocab import Vocabularies
from .device import resolve_device
from .lemmatization import Lemmatization
from .options import InferenceOptions
from .runtime import new_runtime

Tags = Dict[str, List[Optional[str]]]


class Tagger:
    """A trained model of any family with its vocabularies, tagging with fixed options.

    Args:
        trained: the model, its config, vocabularies and ``meta.json``.
        options: how to tag (checked against the model's family here).
        use_gpu: what device "auto" means (see :func:`~bilstm_tagger.inference.device.resolve_device`).

    Raises:
        OptionError: for an option the model's family does not have.

    A torch model keeps a form cache of the forms it has tagged (and, for int8, the quantized copy it tags with);
    the model itself keeps the float32 weights that are saved. Make a new Tagger (:meth:`with_options`) after
    changing the weights in place. A model that lemmatizes also keeps the lemma of each (form, UPOS) it decoded.
    """

    def __init__(
        self, trained: TrainedModel, options: Optional[InferenceOptions] = None, *, use_gpu: Optional[bool] = None
    ) -> None:
        options = options or InferenceOptions()
        options.check_for(trained.model)
        self.trained = trained
        self.options = options
        self.use_gpu = use_gpu
        # "auto" is the CPU for what cannot run on a GPU: a counting family, an int8 copy
        may_use_gpu = "cuda" in trained.model.device_types and options.precision != "int8"
        device = resolve_device(options.device, use_gpu=use_gpu) if may_use_gpu else torch.device("cpu")
        self.runtime = new_runtime(trained.model, trained.vocabs, options, device)
        self.lemmatization = (
            Lemmatization(
                trained.lemmatizer, self.runtime.device, int8=options.precision == "int8",
                # the int8_steps option as the tagger has it (null: on where it applies), float32 for other precisions
                int8_steps=options.int8_steps if options.precision == "fp32" else False,
            )
            if trained.lemmatizer is not None and options.lemmatize else None
        )
        # one thread choice for the tagger's batches and the lemmatizer's: each batch of either is one to learn from
        self.threads: Optional[ThreadGovernor] = None
        if options.adapt_threads and self.runtime.device.type == "cpu" and hasattr(self.runtime, "threads"):
            self.threads = ThreadGovernor(torch.set_num_threads, torch.get_num_threads)
            self.runtime.threads = self.threads
            if self.lemmatization is not None:
                self.lemmatization.threads = self.threads

    @property
    def config(self) -> Config:
        return self.trained.config

    @property
    def vocabs(self) -> Vocabularies:
        return self.trained.vocabs

    @property
    def model(self) -> TaggerModel:
        return self.trained.model

    @property
    def meta(self) -> dict:
        return self.trained.meta

    @property
    def device(self) -> torch.device:
        return self.runtime.device

    @property
    def targets(self) -> List[str]:
        """What it predicts: the labelled targets, then ``lemma`` for a model that lemmatizes (unless the options
        turn lemmas off)."""
        return self.vocabs.targets + (["lemma"] if self.lemmatization is not None else [])

    @property
    def labels(self) -> Mapping[str, List[str]]:
        """The labels :meth:`tag_ids`' ids index, per target: the training label sets, and for a factored FEATS
        head the bundles it has composed since (ids after the training ones)."""
        return self.runtime.model.label_lists(self.vocabs.labels)

    def with_options(self, **changes) -> "Tagger":
        """A Tagger of the same model with some options changed (for example ``precision="int8"``)."""
        return Tagger(self.trained, dataclasses.replace(self.options, **changes), use_gpu=self.use_gpu)

    def tag(self, sentences: Sequence[Sequence[str]], *, batch_words: Optional[int] = None) -> List[Tags]:
        """Tag sentences given as word forms.

        Args:
            sentences: each sentence's words; an empty sentence gets empty tag lists.
            batch_words: padded word slots per batch (default: the options'); the result does not depend on it.

        Returns:
            For each sentence, a dict from each target it predicts (:attr:`targets`: ``upos``, ``xpos``,
            ``feats``, ``lemma``) to one value per word (None for a word the model left untagged, which only
            unconstrained seq2seq decoding does).
        """
        with without_cycle_collection():
            tag_ids = self.tag_ids(sentences, batch_words=batch_words)
            named = {target: self._named(tag_ids, target) for target in (tag_ids[0] if tag_ids else ())}
            tagged = [{target: rows[i] for target, rows in named.items()} for i in range(len(tag_ids))]
            if self.lemmatization is not None and tagged:
                # from the labels just named (lemmatize_tagged would name UPOS and FEATS again)
                for tags, lemmas in zip(tagged, self.lemmatize(sentences, named["upos"], named.get("feats"))):
                    tags["lemma"] = lemmas
        return tagged

    def lemmatize_tagged(
        self, sentences: Sequence[Sequence[str]], tag_ids: Sequence[Dict[str, List[int]]]
    ) -> List[List[str]]:
        """Lemmas of sentences :meth:`tag_ids` has tagged, from the UPOS (and FEATS) it predicted (see
        :meth:`lemmatize`)."""
        with without_cycle_collection():
            feats = self._named(tag_ids, "feats") if "feats" in self.labels else None
            return self.lemmatize(sentences, self._named(tag_ids, "upos"), feats)

    def _named(self, tag_ids: Sequence[Dict[str, List[int]]], target: str) -> List[List[Optional[str]]]:
        """One target's labels of :meth:`tag_ids`' output, None for a negative id (a word the model left untagged:
        unconstrained seq2seq decoding). Every sentence's ids are looked up at once in an array of the labels,
        which costs a fraction of a lookup per word in Python."""
        table = np.array([*self.labels[target], None], dtype=object)  # id -1 reads the None at the end
        ids = np.fromiter(itertools.chain.from_iterable(row[target] for row in tag_ids), dtype=np.int64)
        ids[ids < 0] = -1
        labels = table[ids].tolist()
        named, start = [], 0
        for row in tag_ids:
            end = start + len(row[target])
            named.append(labels[start:end])
            start = end
        return named

    def lemmatize(
        self, sentences: Sequence[Sequence[str]], upos: Sequence[Sequence[Optional[str]]],
        feats: Optional[Sequence[Sequence[Optional[str]]]] = None,
    ) -> List[List[str]]:
        """Lemmas of words given their UPOS and, if known, FEATS (predicted or gold), all sentences' unseen words
        decoded together.

        Raises:
            ValueError: for a model that does not lemmatize.
        """
        if self.lemmatization is None:
            raise ValueError("this model does not lemmatize (it was trained without lemma among its targets)")
        flat = self.lemmatization.lemmatize(
            [form for forms in sentences for form in forms], [tag for tags in upos for tag in tags],
            None if feats is None else [bundle for bundles in feats for bundle in bundles],
        )
        result, start = [], 0
        for forms in sentences:
            result.append(flat[start : start + len(forms)])
            start += len(forms)
        return result

    def encode_ahead(self, forms: Iterable[str]) -> int:
        """Encode word forms before the sentences that hold them come (most useful first; see
        :meth:`~bilstm_tagger.inference.form_cache.FormCache.add`): the parent of forked workers does it once for
        all of them. Tags do not change. Returns the number of forms encoded (0 for a model without a form cache)."""
        return self.runtime.encode_ahead(forms)

    def tag_ids(
        self, sentences: Sequence[Sequence[str]], *, batch_words: Optional[int] = None
    ) -> List[Dict[str, List[int]]]:
        """Like :meth:`tag`, with label ids (indices into ``vocabs.labels[target]``, -1 for untagged words)."""
        nonempty = [i for i, s in enumerate(sentences) if len(s) > 0]
        with without_cycle_collection():
            predicted = self.runtime.tag_ids(
                [sentences[i] for i in nonempty], batch_words=batch_words or self.options.batch_words
            )
        if len(nonempty) == len(sentences):
            return predicted
        targets = self.vocabs.targets  # a property that builds its list: once, not once per sentence
        results: List[Dict[str, List[int]]] = [{target: [] for target in targets} for _ in sentences]
        for i, ids in zip(nonempty, predicted):
            results[i] = ids
        return results


@contextlib.contextmanager
def without_cycle_collection():
    """Python's cycle collector paused while tags become Python lists and strings, and started again after (unless
    it was off already). Those lists make no reference cycles, so reference counting frees them as before, but
    allocating them starts full collections that walk every object of the process: with EWT test x20 in memory,
    two thirds of the host's time per word (1.5 against 0.45 µs, bench/RESULTS.md, "Speed")."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_model(
    directory: Union[str, Path], options: Optional[InferenceOptions] = None, *, use_gpu: Optional[bool] = None
) -> Tagger:
    """Load a model directory to tag with.

    Weights are read to the CPU, then moved, so a model trained on a GPU loads on a CPU-only machine.

    Args:
        directory: a directory written by ``bilstm-tagger train`` (or :func:`~bilstm_tagger.serialization.save_model`).
        options: how to tag (default: :class:`InferenceOptions`' defaults: the CPU, float32).
        use_gpu: what device "auto" means (see :func:`~bilstm_tagger.inference.device.resolve_device`).

    Raises:
        ModelDirError: naming the missing, corrupt or inconsistent part; OptionError: for an option the model's
            family does not have.
    """
    return Tagger(read_model(directory), options, use_gpu=use_gpu)
