"""Scoring predicted tags against gold CoNLL-U: the figures of the CoNLL 2018 evaluator, and what it leaves out.

With gold words (every word aligned to itself) the official ``conll18_ud_eval.py`` computes

* UPOS, XPOS: exact match of the column;
* UFeats: match of FEATS *restricted to the universal features it lists* (:data:`UNIVERSAL_FEATURES`): features
  such as ``NumForm``, ``ExtPos`` or ``Typo`` are dropped from both sides before comparing;
* AllTags: UPOS, XPOS and UFeats all matching;
* Lemmas: exact match of LEMMA, a word whose gold LEMMA is ``_`` counting as right whatever is predicted (here only
  for systems that predict lemmas).

:func:`score` reproduces these, each with a 95% bootstrap interval, and adds what people need to explain errors:
exact full-FEATS accuracy (``feats_exact``), words seen vs unseen in training, accuracy by sentence length and by
genre (the ``sent_id`` prefix), per-tag precision/recall/F1/support (scikit-learn), confusion matrices with the most
frequent confusions and example words, and accuracy per universal feature. A word whose gold UPOS or XPOS is ``_``
(not annotated) is left out of that column's figure and AllTags; on fully annotated treebanks such as EWT this
changes nothing, so the figures equal the official ones.

The report is a plain dict (JSON-ready); its ``schema`` key names its version and :data:`SCHEMA_FILE` describes
it. :mod:`~bilstm_tagger.evaluation.rendering` draws it for people; :mod:`~bilstm_tagger.evaluation.comparison`
sets several side by side. This package reads CoNLL-U and predictions, never models (tagging a file with a model is
:mod:`bilstm_tagger.inference.prediction`'s), and imports no torch.
"""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..corpus import Sentence, read_conllu
from ..errors import CorpusError
from ..files import sha256_file
from ..targets import LABELLED_TARGETS, TARGET_NAMES, TARGETS
from .significance import bootstrap_interval

REPORT_SCHEMA = "bilstm_tagger.evaluation.v2"
#: The JSON Schema of reports and comparisons (``bilstm_tagger/schemas/reports.schema.json``).
SCHEMA_FILE = Path(__file__).resolve().parent / "schemas" / "reports.schema.json"
#: The features conll18_ud_eval.py keeps for UFeats (and AllTags).
UNIVERSAL_FEATURES = frozenset(
    "PronType NumType Poss Reflex Foreign Abbr Gender Animacy Number Case Definite Degree VerbForm Mood Tense "
    "Aspect Voice Evident Polarity Person Polite".split()
)
#: Sentence-length buckets (words) of the ``by_length`` breakdown: (label, first, last).
LENGTH_BUCKETS = (("1-10", 1, 10), ("11-20", 11, 20), ("21-30", 21, 30), ("31-50", 31, 50), ("51+", 51, None))
#: Metrics in report order, with the names the CoNLL 2018 evaluator prints.
METRICS = {
    "upos": "UPOS", "xpos": "XPOS", "ufeats": "UFeats", "alltags": "AllTags", "lemma": "Lemmas",
    "feats_exact": "Feats (exact)",
}
#: Confusions listed in ``top_confusions`` per tag column, and example words kept for each.
TOP_CONFUSIONS = 20
EXAMPLES_PER_CONFUSION = 3


def universal_feats(feats: Optional[str]) -> str:
    """FEATS restricted to :data:`UNIVERSAL_FEATURES`, sorted, ``""`` for none (as conll18_ud_eval.py does)."""
    if not feats:
        return ""
    return "|".join(sorted(f for f in feats.split("|") if f.split("=", 1)[0] in UNIVERSAL_FEATURES))


def _exact_feats(feats: Optional[str]) -> str:
    return "" if not feats or feats == "_" else "|".join(sorted(feats.split("|")))


def _feature_values(feats: Optional[str]) -> Dict[str, str]:
    """Universal features as name -> value."""
    return dict(f.split("=", 1) for f in universal_feats(feats).split("|") if "=" in f)


def genre(sent_id: Optional[str]) -> Optional[str]:
    """The genre or document a ``sent_id`` names before its first ``-`` (EWT: ``answers``, ``email``, ...)."""
    if not sent_id or "-" not in sent_id:
        return None
    return sent_id.split("-", 1)[0]


#: How a predicted value is compared with gold, per target metric (UFeats: universal features only).
MATCHES = {
    "upos": operator.eq,
    "xpos": operator.eq,
    "ufeats": lambda predicted, gold: universal_feats(predicted) == universal_feats(gold),
    "lemma": operator.eq,
}


def _word_outcome(gold_word, pred: Mapping[str, Optional[str]]) -> Dict[str, Optional[bool]]:
    """Per metric, whether the prediction is right, or None when the metric does not apply to this word."""
    outcomes: Dict[str, Optional[bool]] = {}
    for target in TARGETS.values():
        gold = getattr(gold_word, target.name)  # None: not annotated
        value = pred.get(target.name)  # None: not predicted for this word, wrong wherever gold has a label
        if not target.labelled and target.name not in pred:
            outcomes[target.metric] = None  # lemmas are scored only for systems that predict them
        elif gold is None:
            # a tag left unannotated is not scored; conll18_ud_eval.py counts an unannotated lemma as right
            outcomes[target.metric] = None if target.labelled else True
        else:
            outcomes[target.metric] = value is not None and MATCHES[target.metric](value, gold)
    outcomes["alltags"] = all(outcomes[TARGETS[t].metric] is not False for t in LABELLED_TARGETS)
    feats = pred.get("feats")
    outcomes["feats_exact"] = feats is not None and _exact_feats(feats) == _exact_feats(gold_word.feats)
    return outcomes


class WordOutcomes:
    """Every word's outcome per metric, in corpus order: ``values[metric]`` is (n_words,) with 1 right, 0 wrong and
    -1 not scored; ``sentence`` (n_words,) is each word's sentence index. Paired tests compare two of these."""

    def __init__(self, gold: Sequence[Sentence], predicted: Sequence[Mapping[str, Sequence[Optional[str]]]]) -> None:
        if len(gold) != len(predicted):
            raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
        n_words = sum(len(sentence) for sentence in gold)
        self.values = {name: np.full(n_words, -1, dtype=np.int8) for name in METRICS}
        self.sentence = np.zeros(n_words, dtype=np.int64)
        index = 0
        for number, (sentence, tags) in enumerate(zip(gold, predicted)):
            for i, word in enumerate(sentence.words):
                self.sentence[index] = number
                for name, ok in _word_outcome(word, {t: values[i] for t, values in tags.items()}).items():
                    if ok is not None:
                        self.values[name][index] = int(ok)
                index += 1

    def group(self, mask: Optional[np.ndarray] = None) -> dict:
        """Correct, total and accuracy per metric over the words in ``mask`` (all words when None)."""
        metrics = {}
        for name, values in self.values.items():
            chosen = values if mask is None else values[mask]
            total = int((chosen >= 0).sum())
            correct = int((chosen == 1).sum())
            metrics[name] = {
                "correct": correct, "total": total,
                "accuracy": round(100.0 * correct / total, 4) if total else None,
            }
        n_words = len(self.sentence) if mask is None else int(mask.sum())
        return {"n_words": n_words, "metrics": metrics}

    def confidence_intervals(self, n_sentences: int) -> Dict[str, Optional[List[float]]]:
        """95% bootstrap interval of each metric's accuracy (see :func:`significance.bootstrap_interval`)."""
        return {name: bootstrap_interval(values, self.sentence, n_sentences) for name, values in self.values.items()}


def score(
    gold: Sequence[Sentence],
    predicted: Sequence[Mapping[str, Sequence[Optional[str]]]],
    *,
    train_forms: Optional[Iterable[str]] = None,
    tag_tables: Sequence[str] = ("upos",),
    outcomes: Optional["WordOutcomes"] = None,
) -> dict:
    """Score predictions against gold sentences.

    Args:
        gold: the gold sentences.
        predicted: for each sentence, target (a name in :data:`~bilstm_tagger.targets.TARGETS`, and optionally
            ``lemma``) -> one value per word (None for a word left untagged); a missing target or label counts as wrong wherever
            gold has one. Lemmas are scored only when given.
        train_forms: the forms seen in training; when given, the report splits words into seen and unseen.
        tag_tables: the tag columns (``upos``, ``xpos``) that get per-tag tables, confusion matrices and top
            confusions.
        outcomes: ``WordOutcomes(gold, predicted)`` when the caller has it already (a comparison needs it too).

    Returns:
        A JSON-ready report (schema :data:`REPORT_SCHEMA`, documented in ``bilstm_tagger/schemas/``):
        ``metrics`` (correct, total, accuracy in percent and its 95% bootstrap interval ``ci95``, per metric),
        ``seen``/``unseen`` when ``train_forms`` is given, ``by_length``, ``by_genre``, ``per_tag``,
        ``confusion``, ``top_confusions`` and ``per_feature``.
    """
    outcomes = outcomes if outcomes is not None else WordOutcomes(gold, predicted)
    n_words = len(outcomes.sentence)
    known = set(train_forms) if train_forms is not None else None
    is_known = np.zeros(n_words, dtype=bool)
    buckets = np.empty(n_words, dtype=object)
    genres = np.empty(n_words, dtype=object)
    columns: Dict[str, Tuple[List[str], List[str], List[Tuple[str, Optional[str]]]]] = {
        target: ([], [], []) for target in tag_tables
    }
    features: Dict[str, List[int]] = {}  # name -> [gold count, predicted count, both and equal, either]
    index = 0
    for sentence, tags in zip(gold, predicted):
        bucket, sentence_genre = _length_bucket(len(sentence)), genre(sentence.sent_id)
        for i, word in enumerate(sentence.words):
            pred = {target: values[i] for target, values in tags.items()}
            is_known[index] = known is not None and word.form in known
            buckets[index], genres[index] = bucket, sentence_genre
            for target, (gold_tags, pred_tags, where) in columns.items():
                if getattr(word, target) is not None:
                    gold_tags.append(getattr(word, target))
                    pred_tags.append(pred.get(target) or "_")
                    where.append((word.form, sentence.sent_id))
            if "feats" in tags:
                _count_features(features, _feature_values(word.feats), _feature_values(pred.get("feats")))
            index += 1
    report = {"schema": REPORT_SCHEMA, "n_sentences": len(gold), **outcomes.group()}
    for name, interval in outcomes.confidence_intervals(len(gold)).items():
        report["metrics"][name]["ci95"] = interval
    if known is not None:
        report["seen"] = outcomes.group(is_known)
        report["unseen"] = outcomes.group(~is_known)
    sentence_buckets = [_length_bucket(len(sentence)) for sentence in gold]
    report["by_length"] = [
        {"bucket": label, "n_sentences": sentence_buckets.count(label), **outcomes.group(buckets == label)}
        for label, _, _ in LENGTH_BUCKETS
    ]
    sentence_genres = [genre(sentence.sent_id) for sentence in gold]
    report["by_genre"] = [
        {"genre": name, "n_sentences": sentence_genres.count(name), **outcomes.group(genres == name)}
        for name in sorted({g for g in sentence_genres if g is not None})
    ]
    report["per_tag"] = {target: per_tag_table(g, p) for target, (g, p, _) in columns.items()}
    report["confusion"] = {target: confusion(g, p) for target, (g, p, _) in columns.items()}
    report["top_confusions"] = {target: top_confusions(g, p, w) for target, (g, p, w) in columns.items()}
    report["per_feature"] = [
        {"feature": name, "gold": counts[0], "predicted": counts[1], "correct": counts[2], "total": counts[3],
         "accuracy": round(100.0 * counts[2] / counts[3], 4) if counts[3] else None}
        for name, counts in sorted(features.items())
    ]
    return report


def _count_features(features: Dict[str, List[int]], gold: Mapping[str, str], pred: Mapping[str, str]) -> None:
    """Per feature: a word counts where gold or prediction has it, and is right where both give the same value."""
    for name in set(gold) | set(pred):
        counts = features.setdefault(name, [0, 0, 0, 0])
        counts[0] += name in gold
        counts[1] += name in pred
        counts[2] += name in gold and gold.get(name) == pred.get(name)
        counts[3] += 1


def accuracies(metrics: Mapping[str, dict], targets: Iterable[str]) -> Dict[str, Optional[float]]:
    """Accuracy per metric of a report's ``metrics``, None for what a model trained on ``targets`` cannot get right.

    The report counts a target the model does not predict as wrong everywhere (0%); for tables and training logs
    "not predicted" reads better than 0.
    """
    targets = set(targets)
    predicted = {TARGETS[t].metric for t in targets}
    if "feats" in targets:
        predicted.add("feats_exact")
    if targets >= set(LABELLED_TARGETS):
        predicted.add("alltags")
    return {name: metrics[name]["accuracy"] if name in predicted else None for name in METRICS}


def _length_bucket(n_words: int) -> str:
    for label, first, last in LENGTH_BUCKETS:
        if n_words >= first and (last is None or n_words <= last):
            return label
    return LENGTH_BUCKETS[0][0]  # an empty sentence counts with the shortest


def per_tag_table(gold: Sequence[str], predicted: Sequence[str]) -> List[dict]:
    """Precision, recall, F1 (percent) and support per tag, over the tags in gold or predictions, sorted."""
    if not gold:
        return []
    from sklearn.metrics import precision_recall_fscore_support  # here: sklearn takes 0.6 s to import, --help need not

    labels = sorted(set(gold) | set(predicted))
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=labels, zero_division=0
    )
    return [
        {
            "tag": tag,
            "precision": round(100.0 * float(p), 4),
            "recall": round(100.0 * float(r), 4),
            "f1": round(100.0 * float(f), 4),
            "support": int(s),
        }
        for tag, p, r, f, s in zip(labels, precision, recall, f1, support)
    ]


def confusion(gold: Sequence[str], predicted: Sequence[str]) -> dict:
    """Confusion matrix: ``counts[i][j]`` words of gold tag ``labels[i]`` predicted as ``labels[j]``."""
    from sklearn.metrics import confusion_matrix

    labels = sorted(set(gold) | set(predicted))
    counts = confusion_matrix(gold, predicted, labels=labels).tolist() if labels else []
    return {"labels": labels, "counts": counts}


def top_confusions(
    gold: Sequence[str], predicted: Sequence[str], where: Sequence[Tuple[str, Optional[str]]]
) -> List[dict]:
    """The most frequent (gold, predicted) errors with example words (form, sent_id) and their share of errors."""
    pairs: Dict[Tuple[str, str], List[Tuple[str, Optional[str]]]] = {}
    for g, p, place in zip(gold, predicted, where):
        if g != p:
            pairs.setdefault((g, p), []).append(place)
    errors = sum(len(places) for places in pairs.values())
    ranked = sorted(pairs.items(), key=lambda item: (-len(item[1]), item[0]))[:TOP_CONFUSIONS]
    return [
        {
            "gold": g, "predicted": p, "count": len(places),
            "share_of_errors": round(100.0 * len(places) / errors, 4),
            "examples": [{"form": form, "sent_id": sent_id} for form, sent_id in places[:EXAMPLES_PER_CONFUSION]],
        }
        for (g, p), places in ranked
    ]


def evaluate_file(
    gold_path: Union[str, Path],
    pred_path: Union[str, Path],
    *,
    train_forms: Optional[Iterable[str]] = None,
    tag_tables: Sequence[str] = ("upos",),
) -> dict:
    """Score any system's predicted CoNLL-U file against a gold file with the same words (see :func:`score`).

    Raises:
        CorpusError: naming the predicted file and line where its sentences or words stop matching gold.
    """
    gold = read_conllu(gold_path)
    report = score(gold, read_predictions(gold, pred_path), train_forms=train_forms, tag_tables=tag_tables)
    report["test_file"] = file_record(gold_path)
    report["tokenization"] = "gold"
    report["system"] = {"predictions": file_record(pred_path)}
    return report


def read_predictions(gold: Sequence[Sentence], pred_path: Union[str, Path]) -> List[Dict[str, List[Optional[str]]]]:
    """A predicted file's tag columns, per sentence, after checking it has gold's words.

    Lemmas are included only when the file has any (a system that predicts none writes ``_`` throughout).
    """
    predicted = read_conllu(pred_path)
    if len(predicted) != len(gold):
        raise CorpusError(pred_path, None, f"{len(predicted)} sentences, but the gold file has {len(gold)}")
    for number, (g, p) in enumerate(zip(gold, predicted), start=1):
        if p.forms != g.forms:
            raise CorpusError(pred_path, *_first_difference(number, g, p))
    has_lemmas = any(w.lemma is not None for sentence in predicted for w in sentence.words)
    columns = TARGET_NAMES if has_lemmas else LABELLED_TARGETS
    return [{c: [getattr(w, c) for w in sentence.words] for c in columns} for sentence in predicted]


def _first_difference(number: int, gold: Sentence, pred: Sentence) -> Tuple[int, str]:
    """(line in the predicted file, problem) for a predicted sentence whose words differ from gold's."""
    if len(pred) != len(gold):
        return pred.first_line, (
            f"sentence {number} has {len(pred)} words but gold (line {gold.first_line} of {Path(gold.path).name}) "
            f"has {len(gold)}: scoring needs the gold words"
        )
    i = next(i for i, (a, b) in enumerate(zip(pred.forms, gold.forms)) if a != b)
    gold_line = gold.first_line + gold.word_lines[i]
    return pred.first_line + pred.word_lines[i], (
        f"word {i + 1} of sentence {number} is {pred.forms[i]!r} but gold has {gold.forms[i]!r} (line {gold_line} "
        f"of {Path(gold.path).name}): scoring needs the gold words"
    )


def file_record(path: Union[str, Path]) -> dict:
    """A file's name, sha256 and, where its name says (UD's ``*-train``, ``*-dev``, ``*-test``), its split."""
    name = Path(path).name
    split = next((s for s in ("train", "dev", "test") if f"-{s}" in name or f"_{s}" in name), None)
    return {"name": name, "sha256": sha256_file(path), "split": split}
