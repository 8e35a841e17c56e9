"""Tagger model families. Importing this package registers every family's architecture builder."""

from .base import NeuralTagger
from .bilstm import BiLSTMTagger, build_bilstm_tagger

__all__ = ["NeuralTagger", "BiLSTMTagger", "build_bilstm_tagger"]
