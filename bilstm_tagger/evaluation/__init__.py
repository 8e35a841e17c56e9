"""Evaluation and reports: scoring predicted tags against gold CoNLL-U, and showing where a tagger errs.

* :mod:`~bilstm_tagger.evaluation.scoring`: :func:`score` (the CoNLL 2018 figures and the breakdowns), predicted
  files (:func:`evaluate_file`);
* :mod:`~bilstm_tagger.evaluation.significance`: bootstrap intervals, McNemar's test;
* :mod:`~bilstm_tagger.evaluation.comparison`: several systems side by side;
* :mod:`~bilstm_tagger.evaluation.rendering` and :mod:`~bilstm_tagger.evaluation.plots`: text, Markdown, HTML,
  CSV, JSON and figures; ``schemas/``: the reports' JSON Schema.

It reads CoNLL-U, never models, and never imports torch.
"""
