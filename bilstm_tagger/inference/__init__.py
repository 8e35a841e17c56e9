"""Inference: tagging with a trained model.

* :mod:`~bilstm_tagger.inference.options`: :class:`InferenceOptions` (device, precision, batch size, decoding),
  checked where they enter and against the model's family;
* :mod:`~bilstm_tagger.inference.tagger`: :func:`load_model` and the :class:`Tagger` everything tags through;
* :mod:`~bilstm_tagger.inference.runtime`: how each kind of model runs (form cache, int8 copy, autocast);
* :mod:`~bilstm_tagger.inference.form_cache`, :mod:`~bilstm_tagger.inference.device`;
* :mod:`~bilstm_tagger.inference.prediction`: whole CoNLL-U files (``predict``, ``evaluate MODEL TEST``).

Nothing is imported here: :mod:`~bilstm_tagger.inference.options` is read by the CLI without torch.
"""
