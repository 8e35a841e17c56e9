"""Tagger model families, behind one contract (:mod:`~bilstm_tagger.models.base`).

One family per module: :mod:`~bilstm_tagger.models.bilstm`, :mod:`~bilstm_tagger.models.rnn` and
:mod:`~bilstm_tagger.models.seq2seq` (torch, sharing :mod:`~bilstm_tagger.models.neural`,
:mod:`~bilstm_tagger.models.embedding` and :mod:`~bilstm_tagger.models.batching`), and
:mod:`~bilstm_tagger.models.hmm` (numpy only). Nothing is imported here, so that ``import
bilstm_tagger.models.hmm`` does not load torch; :func:`~bilstm_tagger.models.base.build_model` imports the module of
the architecture a config names (through the ``bilstm_tagger_architectures`` entry points).
"""
