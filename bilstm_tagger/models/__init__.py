"""Tagger model families. Importing this package registers every family's architecture builder.

Neural families (torch) subclass :class:`NeuralTagger`; the HMM (numpy) has the same ``tag_ids`` /
``state_dict`` / ``load_state_dict`` interface but is trained by counting (``fit``).
"""

from .base import NeuralTagger
from .bilstm import BiLSTMTagger, build_bilstm_tagger
from .hmm import HMMTagger, build_hmm_tagger
from .rnn import RNNTagger, build_rnn_tagger
from .seq2seq import Seq2SeqTagger, build_seq2seq_tagger

__all__ = [
    "NeuralTagger",
    "BiLSTMTagger",
    "build_bilstm_tagger",
    "HMMTagger",
    "build_hmm_tagger",
    "RNNTagger",
    "build_rnn_tagger",
    "Seq2SeqTagger",
    "build_seq2seq_tagger",
]
