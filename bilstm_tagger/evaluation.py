"""Scoring predicted tags against gold CoNLL-U: the figures of the CoNLL 2018 evaluator, and what it leaves out.

With gold words (every word aligned to itself) the official ``conll18_ud_eval.py`` computes

* UPOS, XPOS: exact match of the column;
* UFeats: match of FEATS *restricted to the universal features it lists* (:data:`UNIVERSAL_FEATURES`): features
  such as ``NumForm``, ``ExtPos`` or ``Typo`` are dropped from both sides before comparing;
* AllTags: UPOS, XPOS and UFeats all matching.

:func:`score` reproduces these and adds exact full-FEATS accuracy (``feats_exact``), accuracy on words seen vs
unseen in training, and a per-UPOS precision/recall/F1/support table from scikit-learn. A word whose gold UPOS or
XPOS is ``_`` (not annotated) is left out of that column's figure and AllTags; on fully annotated treebanks such
as EWT this changes nothing, so the figures equal the official ones.

The report is a plain dict (JSON-ready); its ``schema`` key names its version.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from sklearn.metrics import precision_recall_fscore_support

from .corpus import Sentence, read_conllu

if TYPE_CHECKING:
    from .tagger import Tagger

REPORT_SCHEMA = "bilstm_tagger.evaluation.v1"
#: The features conll18_ud_eval.py keeps for UFeats (and AllTags).
UNIVERSAL_FEATURES = frozenset(
    "PronType NumType Poss Reflex Foreign Abbr Gender Animacy Number Case Definite Degree VerbForm Mood Tense "
    "Aspect Voice Evident Polarity Person Polite".split()
)
#: Sentence-length buckets (words) of the ``by_length`` breakdown: (label, first, last).
LENGTH_BUCKETS = (("1-10", 1, 10), ("11-20", 11, 20), ("21-30", 21, 30), ("31-50", 31, 50), ("51+", 51, None))
#: The metric that scores each target (UFeats scores the ``feats`` target).
TARGET_METRICS = {"upos": "upos", "xpos": "xpos", "feats": "ufeats"}
#: Metrics in report order, with the names the CoNLL 2018 evaluator prints.
METRICS = {"upos": "UPOS", "xpos": "XPOS", "ufeats": "UFeats", "alltags": "AllTags", "feats_exact": "Feats (exact)"}


def universal_feats(feats: Optional[str]) -> str:
    """FEATS restricted to :data:`UNIVERSAL_FEATURES`, sorted, ``""`` for none (as conll18_ud_eval.py does)."""
    if not feats:
        return ""
    return "|".join(sorted(f for f in feats.split("|") if f.split("=", 1)[0] in UNIVERSAL_FEATURES))


def _exact_feats(feats: Optional[str]) -> str:
    return "" if not feats or feats == "_" else "|".join(sorted(feats.split("|")))


class _Counter:
    """Correct/total counts per metric for one group of words."""

    def __init__(self) -> None:
        self.correct = {name: 0 for name in METRICS}
        self.total = {name: 0 for name in METRICS}
        self.words = 0

    def add(self, outcome: Mapping[str, Optional[bool]]) -> None:
        self.words += 1
        for name, ok in outcome.items():
            if ok is not None:
                self.total[name] += 1
                self.correct[name] += int(ok)

    def to_dict(self) -> dict:
        metrics = {}
        for name in METRICS:
            total = self.total[name]
            metrics[name] = {
                "correct": self.correct[name],
                "total": total,
                "accuracy": round(100.0 * self.correct[name] / total, 4) if total else None,
            }
        return {"n_words": self.words, "metrics": metrics}


def _word_outcome(gold_word, pred: Mapping[str, Optional[str]]) -> Dict[str, Optional[bool]]:
    """Per metric, whether the prediction is right, or None when the gold column is not annotated."""
    upos = None if gold_word.upos is None else pred.get("upos") == gold_word.upos
    xpos = None if gold_word.xpos is None else pred.get("xpos") == gold_word.xpos
    feats = pred.get("feats")  # None: not predicted for this word, wrong even where gold is the empty set
    ufeats = feats is not None and universal_feats(feats) == universal_feats(gold_word.feats)
    exact = feats is not None and _exact_feats(feats) == _exact_feats(gold_word.feats)
    annotated = [ok for ok in (upos, xpos, ufeats) if ok is not None]
    return {"upos": upos, "xpos": xpos, "ufeats": ufeats, "alltags": all(annotated), "feats_exact": exact}


def score(
    gold: Sequence[Sentence],
    predicted: Sequence[Mapping[str, Sequence[str]]],
    *,
    train_forms: Optional[Iterable[str]] = None,
) -> dict:
    """Score predictions against gold sentences.

    Args:
        gold: the gold sentences.
        predicted: for each sentence, target (``upos``, ``xpos``, ``feats``) -> one label per word (None for a
            word left untagged); a missing target or label counts as wrong wherever gold has one.
        train_forms: the forms seen in training; when given, the report splits words into seen and unseen.

    Returns:
        A JSON-ready report: ``metrics`` (correct, total, accuracy in percent, per metric), ``seen``/``unseen``
        (same shape) when ``train_forms`` is given, ``by_length`` (same shape per sentence-length bucket), and
        ``per_upos`` (precision, recall, F1, support per tag).
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    known = set(train_forms) if train_forms is not None else None
    overall, seen, unseen = _Counter(), _Counter(), _Counter()
    by_length = {label: _Counter() for label, _, _ in LENGTH_BUCKETS}
    sentences_per_bucket = {label: 0 for label, _, _ in LENGTH_BUCKETS}
    gold_upos: List[str] = []
    pred_upos: List[str] = []
    for sentence, tags in zip(gold, predicted):
        bucket = _length_bucket(len(sentence))
        sentences_per_bucket[bucket] += 1
        for i, word in enumerate(sentence.words):
            pred = {target: values[i] for target, values in tags.items()}
            outcome = _word_outcome(word, pred)
            overall.add(outcome)
            by_length[bucket].add(outcome)
            if known is not None:
                (seen if word.form in known else unseen).add(outcome)
            if word.upos is not None:
                gold_upos.append(word.upos)
                pred_upos.append(pred.get("upos") or "_")
    report = {"schema": REPORT_SCHEMA, "n_sentences": len(gold), **overall.to_dict()}
    if known is not None:
        report["seen"] = seen.to_dict()
        report["unseen"] = unseen.to_dict()
    report["by_length"] = [
        {"bucket": label, "n_sentences": sentences_per_bucket[label], **by_length[label].to_dict()}
        for label, _, _ in LENGTH_BUCKETS
    ]
    report["per_upos"] = per_tag_table(gold_upos, pred_upos)
    return report


def accuracies(metrics: Mapping[str, dict], targets: Iterable[str]) -> Dict[str, Optional[float]]:
    """Accuracy per metric of a report's ``metrics``, None for what a model trained on ``targets`` cannot get right.

    The report counts a target the model does not predict as wrong everywhere (0%); for tables and training logs
    "not predicted" reads better than 0.
    """
    targets = set(targets)
    predicted = {TARGET_METRICS[t] for t in targets} | ({"feats_exact"} if "feats" in targets else set())
    if targets >= set(TARGET_METRICS):
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


def format_report(report: dict) -> str:
    """A plain-text rendering of :func:`score`'s report for the terminal."""
    lines = []
    header = f"{'metric':<15}{'accuracy':>10}{'correct':>10}{'total':>10}"
    groups = [("all words", report)]
    if "unseen" in report:
        groups += [("seen in training", report["seen"]), ("unseen in training", report["unseen"])]
    for title, group in groups:
        lines.append(f"{title} ({group['n_words']} words)")
        lines.append(header)
        for name, label in METRICS.items():
            m = group["metrics"][name]
            acc = "n/a" if m["accuracy"] is None else f"{m['accuracy']:.2f}"
            lines.append(f"{label:<15}{acc:>10}{m['correct']:>10}{m['total']:>10}")
        lines.append("")
    if report.get("per_upos"):
        lines.append(f"{'UPOS':<8}{'precision':>10}{'recall':>10}{'F1':>10}{'support':>9}")
        for row in report["per_upos"]:
            lines.append(
                f"{row['tag']:<8}{row['precision']:>10.2f}{row['recall']:>10.2f}{row['f1']:>10.2f}{row['support']:>9}"
            )
    return "\n".join(lines)


def evaluate_model(tagger: "Tagger", test_path: Union[str, Path]) -> dict:
    """Tag a gold CoNLL-U file's words with ``tagger`` and score the result (see :func:`score`).

    The report also records the test file (name and sha256), the tokenization (gold) and the model's
    architecture and training files, so a figure can be traced to what produced it.
    """
    from .serialization import sha256_file

    gold = read_conllu(test_path)
    predicted = tagger.tag([sentence.forms for sentence in gold])
    report = score(gold, predicted, train_forms=tagger.vocabs.train_forms)
    report["test_file"] = {"name": Path(test_path).name, "sha256": sha256_file(test_path)}
    report["tokenization"] = "gold"
    report["model"] = {
        "architecture": tagger.meta.get("architecture"),
        "train_files": tagger.meta.get("train_files"),
        "targets": tagger.targets,
    }
    return report
