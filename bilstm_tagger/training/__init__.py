"""Training: configs (:mod:`~bilstm_tagger.training.config`) and the loop (:mod:`~bilstm_tagger.training.loop`).

Nothing is imported here, so reading a config does not load torch.
"""
