"""bilstm-tagger: a BiLSTM part-of-speech and morphology tagger for Universal Dependencies, usable from spaCy.

Public API: read and write CoNLL-U (:func:`read_conllu`, :func:`iter_conllu`, :func:`write_conllu`), train
(:func:`load_config`, :func:`train`), load a model directory to tag with (:func:`load_model`, which takes
:class:`InferenceOptions`), save one (:func:`save_model`), and score predictions (:func:`score`).

Names are imported on first use (PEP 562), so ``import bilstm_tagger`` (and the CLI's ``--help``, or scoring two
CoNLL-U files) loads neither torch nor spaCy.
"""

from __future__ import annotations

import importlib
from typing import Any

from .version import __version__

#: public name -> the module that defines it
_EXPORTS = {
    "Sentence": "corpus",
    "Word": "corpus",
    "iter_conllu": "corpus",
    "read_conllu": "corpus",
    "write_conllu": "corpus",
    "BilstmTaggerError": "errors",
    "ConfigError": "errors",
    "CorpusError": "errors",
    "ModelDirError": "errors",
    "score": "evaluation.scoring",
    "InferenceOptions": "inference.options",
    "Tagger": "inference.tagger",
    "load_model": "inference.tagger",
    "TrainedModel": "serialization",
    "save_model": "serialization",
    "TrainResult": "training.loop",
    "load_config": "training.config",
    "train": "training.loop",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
