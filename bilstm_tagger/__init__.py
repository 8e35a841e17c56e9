"""bilstm-tagger: a BiLSTM part-of-speech and morphology tagger for Universal Dependencies, usable from spaCy.

Public API: read and write CoNLL-U (:func:`read_conllu`, :func:`iter_conllu`, :func:`write_conllu`), train
(:func:`train`), load a model directory (:func:`load_model`), score predictions (:func:`score`), and the library
functions behind the CLI's ``evaluate`` and ``predict`` commands.
"""

__version__ = "0.1.0"

from .corpus import Sentence, Word, iter_conllu, read_conllu, write_conllu
from .errors import BilstmTaggerError, ConfigError, CorpusError, ModelDirError
from .evaluation import score
from .serialization import load_model, save_model
from .tagger import Tagger
from .training import TrainResult, load_config, train

__all__ = [
    "__version__",
    "Sentence",
    "Word",
    "iter_conllu",
    "read_conllu",
    "write_conllu",
    "BilstmTaggerError",
    "ConfigError",
    "CorpusError",
    "ModelDirError",
    "score",
    "load_model",
    "save_model",
    "Tagger",
    "TrainResult",
    "load_config",
    "train",
]
