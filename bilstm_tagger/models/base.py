"""The contract every model family implements, and how a config's ``[model]`` section becomes a model.

A family is a :class:`TaggerModel` subclass registered under ``bilstm_tagger.<Family>.v<N>`` with
:func:`architecture_builder`. The contract says:

* **how it is built**: the config's ``[model]`` section gives the constructor's hyperparameters (their defaults are
  the constructor's, the single place they are written), and the vocabularies give the sizes the family lists in
  ``data_sizes`` (:meth:`TaggerModel.from_vocabs`, called by :func:`build_model`);
* **how it is trained**: a torch family (:class:`~bilstm_tagger.models.neural.NeuralTagger`) gives
  ``loss(batch)``, a counting family (:class:`CountingTagger`) ``fit(sentences, labels)``; the trainer
  dispatches on the two in one place;
* **how it is saved**: :meth:`TaggerModel.to_arrays` / :meth:`TaggerModel.load_arrays`, named numpy arrays that
  go to safetensors as they are (plain data, never pickle);
* **how it tags**: a counting family tags with ``tag_ids(sentences)``; a torch family computes per-word label ids
  of a batch with ``predict(batch, **decoding)``, and :mod:`bilstm_tagger.inference` does the rest. What a family
  can be asked at inference is declared here (``precisions``, ``device_types``, ``decoding_settings``,
  ``form_encodings``), so that inference options are checked against it without probing the model.

No torch here: the HMM and everything that only reads or scores CoNLL-U import this module without it.
"""

from __future__ import annotations

import abc
import functools
import inspect
import typing
from typing import Any, Callable, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..lexicon import FREQUENCY_BUCKETS
from ..registry import registry
from ..vocab import Vocabularies


class TaggerModel(abc.ABC):
    """What every model family is (see the module docstring).

    Attributes:
        family: the family's name in messages ("BiLSTM", "HMM", ...).
        data_sizes: the constructor arguments that come from the vocabularies: any of ``n_words``, ``n_chars``,
            ``n_labels``, ``feats_labels`` (the FEATS label strings, for a head that splits them into features),
            ``n_clusters`` and ``n_frequency_buckets`` (the training lexicon's ids, 0 without one).
        precisions: the ``precision`` inference options it can tag in.
        device_types: the kinds of device it can run on ("cpu", "cuda").
        decoding_settings: inference options its ``predict`` takes (the seq2seq beam search's; ``consistent_tags``
            for the families with one head per target, which predict takes as a ``TagPairs`` table).
        form_encodings: what a form cache may keep per form besides the word representation ("projection": the
            first layer's input projections, the ``cached_projections`` option).
        n_labels: labels per trained target.
    """

    family: ClassVar[str]
    data_sizes: ClassVar[Tuple[str, ...]] = ("n_words", "n_chars", "n_labels")
    precisions: ClassVar[Tuple[str, ...]] = ("fp32",)
    device_types: ClassVar[Tuple[str, ...]] = ("cpu",)
    decoding_settings: ClassVar[Tuple[str, ...]] = ()
    form_encodings: ClassVar[Tuple[str, ...]] = ()
    n_labels: Dict[str, int]

    @classmethod
    def from_vocabs(cls, vocabs: Vocabularies, **hyperparameters: Any) -> "TaggerModel":
        """A new, untrained model for these vocabularies, with the config's ``hyperparameters``."""
        sizes = {
            "n_words": len(vocabs.words),
            "n_chars": len(vocabs.chars),
            "n_labels": {target: len(labels) for target, labels in vocabs.labels.items()},
            "feats_labels": list(vocabs.labels.get("feats", [])),
            "n_clusters": vocabs.lexicon.n_clusters if vocabs.lexicon is not None else 0,
            "n_frequency_buckets": FREQUENCY_BUCKETS if vocabs.lexicon is not None else 0,
        }
        return cls(**{name: sizes[name] for name in cls.data_sizes}, **hyperparameters)

    def label_lists(self, labels: Mapping[str, List[str]]) -> Mapping[str, List[str]]:
        """The label lists its predicted ids index: the training label sets ``labels``, which a family that composes
        new labels (the factored FEATS head) extends with those it has composed so far."""
        return labels

    @abc.abstractmethod
    def to_arrays(self) -> Dict[str, np.ndarray]:
        """Everything learnt, as named numpy arrays (what ``model.safetensors`` holds)."""

    @abc.abstractmethod
    def load_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Take the learnt state from :meth:`to_arrays`' output.

        Raises:
            ValueError: for arrays that do not fit this model (missing, unexpected or misshapen).
        """


class CountingTagger(TaggerModel):
    """A family trained by counting in one pass (the HMM): ``fit``, then ``tag_ids``; CPU and numpy only."""

    @abc.abstractmethod
    def fit(self, sentences: Sequence, labels: Mapping[str, Sequence[str]]) -> "CountingTagger":
        """Estimate the model from training sentences (:class:`~bilstm_tagger.corpus.Sentence`); ``labels`` gives
        each target's labels in id order. Returns the model itself.

        Raises:
            ValueError: when the data makes the model too large to build.
        """

    @abc.abstractmethod
    def tag_ids(self, sentences: Sequence[Sequence[str]]) -> List[Dict[str, List[int]]]:
        """Best label id per word and target for non-empty sentences of word forms."""


def architecture_builder(
    cls: type, *, fixed: Optional[Mapping[str, Any]] = None
) -> Callable[..., Callable[[Vocabularies], TaggerModel]]:
    """The config builder of a family: its parameters are the constructor's, defaults included, less the
    ``data_sizes`` and the ``fixed`` ones (an older version of an architecture: those keep the given values); it
    returns a function from the vocabularies to a new model.

    Writing the builder's signature once, from the class, keeps config file, builder and class in step (confection
    validates a config section against this signature).
    """
    signature = inspect.signature(cls)
    hints = typing.get_type_hints(cls.__init__)
    parameters = [
        parameter.replace(annotation=hints.get(name, parameter.annotation))
        for name, parameter in signature.parameters.items()
        if name not in cls.data_sizes and name not in (fixed or {})
    ]

    def build(**hyperparameters: Any) -> Callable[[Vocabularies], TaggerModel]:
        return functools.partial(cls.from_vocabs, **hyperparameters, **(fixed or {}))

    build.__signature__ = signature.replace(parameters=parameters, return_annotation=Callable)  # type: ignore
    build.__annotations__ = {p.name: p.annotation for p in parameters}
    build.model_class = cls  # type: ignore[attr-defined]  # what reads_lexicon asks before anything is built
    build.__name__ = build.__qualname__ = f"build_{cls.__name__}"
    build.__doc__ = f"Config builder of :class:`{cls.__module__}.{cls.__name__}`."
    return build


def reads_lexicon(section: Mapping[str, Any]) -> bool:
    """Whether the family a config's ``[model]`` section names reads a lexicon (:mod:`~bilstm_tagger.lexicon`:
    its ``data_sizes`` include the lexicon's), asked before the lexicon is built; False for a name the registry does
    not know (:func:`build_model` then says so)."""
    try:
        builder = registry.architectures.get(section.get("@architectures"))
    except ValueError:  # catalogue's RegistryError: no such architecture
        return False
    return "n_clusters" in getattr(builder, "model_class", TaggerModel).data_sizes


def build_model(section: Mapping[str, Any], vocabs: Vocabularies) -> TaggerModel:
    """An untrained model from a config's ``[model]`` section and the vocabularies.

    The architecture's module is found through the ``bilstm_tagger_architectures`` entry points (setup.cfg), so
    building an HMM imports no torch.
    """
    resolved = registry.resolve({"model": dict(section)}, validate=True)
    return resolved["model"](vocabs)
