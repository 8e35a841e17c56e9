"""Comparing taggers on one gold file: overall figures and per-tag F1 side by side, and which differences are real.

Each system is a model directory (tagged here) or a predicted CoNLL-U file from any tagger (spaCy, UDPipe,
Stanza, ...) with the gold words. Every pair of systems gets McNemar's exact test per metric on the words both
are scored on (:func:`~bilstm_tagger.significance.mcnemar`).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ..corpus import Sentence, read_conllu
from ..errors import BilstmTaggerError
from ..targets import LABELLED_TARGETS, TARGET_NAMES, TARGETS
from .scoring import WordOutcomes, accuracies, file_record, read_predictions, score
from .significance import ALPHA, mcnemar

COMPARISON_SCHEMA = "bilstm_tagger.comparison.v1"
#: Metrics compared pairwise: each target's, AllTags, and Lemmas for systems that predict them.
PAIRED_METRICS = tuple(TARGETS[t].metric for t in LABELLED_TARGETS) + ("alltags",) + tuple(
    target.metric for target in TARGETS.values() if not target.labelled
)

Predictions = Sequence[Mapping[str, Sequence[Optional[str]]]]
#: How a model directory becomes a system: (model directory, gold sentences) -> (predictions, training forms,
#: source description). The caller provides it (``inference.prediction.tag_gold``): this package never
#: loads models.
ModelTagger = Callable[[Path, Sequence[Sentence]], Tuple[Predictions, Optional[List[str]], dict]]


def compare(
    gold: Sequence[Sentence],
    systems: Mapping[str, Predictions],
    *,
    train_forms: Optional[Mapping[str, Optional[Sequence[str]]]] = None,
    tag_tables: Sequence[str] = ("upos",),
) -> dict:
    """Score every system on ``gold`` and test every pair.

    Args:
        gold: the gold sentences.
        systems: name -> predictions (as :func:`~bilstm_tagger.evaluation.score` takes them), in display order.
        train_forms: name -> that system's training forms, where known (for its seen/unseen split).
        tag_tables: tag columns that get per-tag tables.

    Returns:
        ``systems`` (names), ``reports`` (name -> full report), ``per_tag_f1`` (column -> tag -> name -> F1, None
        where a system never predicts or meets the tag), and ``pairs``: per pair and metric, the words only one
        system gets right, McNemar's p-value and whether it is below :data:`~bilstm_tagger.significance.ALPHA`.
    """
    if len(systems) < 1:
        raise ValueError("nothing to compare")
    train_forms = train_forms or {}
    outcomes = {name: WordOutcomes(gold, pred) for name, pred in systems.items()}
    reports = {
        name: score(gold, pred, train_forms=train_forms.get(name), tag_tables=tag_tables, outcomes=outcomes[name])
        for name, pred in systems.items()
    }
    # what each system predicts at all: a metric it cannot get right is "n/a", not 0%, and is not tested
    targets = {
        name: [t for t in TARGET_NAMES if any(v is not None for s in pred for v in s.get(t, ()))]
        for name, pred in systems.items()
    }
    scored = {name: accuracies(reports[name]["metrics"], targets[name]) for name in systems}
    per_tag_f1: Dict[str, Dict[str, Dict[str, Optional[float]]]] = {}
    for column in tag_tables:
        tags = sorted({row["tag"] for report in reports.values() for row in report["per_tag"][column]})
        rows = {name: {row["tag"]: row for row in report["per_tag"][column]} for name, report in reports.items()}
        per_tag_f1[column] = {
            tag: {name: rows[name][tag]["f1"] if tag in rows[name] else None for name in systems} for tag in tags
        }
    pairs = []
    for a, b in itertools.combinations(systems, 2):
        for metric in PAIRED_METRICS:
            acc_a, acc_b = scored[a][metric], scored[b][metric]
            if acc_a is None or acc_b is None:
                continue
            test = mcnemar(outcomes[a].values[metric], outcomes[b].values[metric])
            pairs.append({"a": a, "b": b, "metric": metric, "difference": round(acc_a - acc_b, 4), **test})
    return {
        "schema": COMPARISON_SCHEMA,
        "systems": list(systems),
        "alpha": ALPHA,
        "targets": targets,
        "reports": reports,
        "per_tag_f1": per_tag_f1,
        "pairs": pairs,
    }


def parse_system(spec: str) -> Tuple[str, Path]:
    """``NAME=PATH`` or ``PATH`` (named after the file or directory) -> (name, path)."""
    name, sep, path = spec.partition("=")
    if sep and name and path:
        return name, Path(path)
    path = Path(spec)
    return (path.name if path.is_dir() else path.stem), path


def compare_paths(
    gold_path: Union[str, Path],
    systems: Sequence[str],
    *,
    tag_model: Optional[ModelTagger] = None,
    tag_tables: Sequence[str] = ("upos",),
) -> dict:
    """:func:`compare` for paths: each system is ``[NAME=]PATH`` to a model directory or a predicted CoNLL-U file.

    Args:
        tag_model: tags ``gold`` with a model directory (:data:`ModelTagger`); without it, a model directory is an
            error.
    """
    gold = read_conllu(gold_path)
    predictions: Dict[str, Predictions] = {}
    forms: Dict[str, Optional[List[str]]] = {}
    sources: Dict[str, dict] = {}
    for spec in systems:
        name, path = parse_system(spec)
        if name in predictions:
            raise BilstmTaggerError(f"two systems are named {name!r}: name them as NAME=PATH")
        if path.is_dir():
            if tag_model is None:
                raise BilstmTaggerError(f"{path}: a model directory, but this comparison was given no way to tag")
            predictions[name], forms[name], sources[name] = tag_model(path, gold)
        elif path.is_file():
            predictions[name] = read_predictions(gold, path)
            forms[name] = None
            sources[name] = {"predictions": file_record(path)}
        else:
            raise BilstmTaggerError(f"{path}: neither a model directory nor a CoNLL-U file")
    result = compare(gold, predictions, train_forms=forms, tag_tables=tag_tables)
    result["test_file"] = file_record(gold_path)
    result["tokenization"] = "gold"
    result["sources"] = sources
    return result
