"""Sentences for the tagger, from a run of words that may hold several.

The BiLSTM is trained on one sentence at a time; a spaCy Doc may hold a paragraph or a whole document. The
component tags each sentence of a Doc on its own: the Doc's own boundaries when something set them (a parser,
senter or sentencizer, or ``Doc(..., sent_starts=...)``), else those of the model's :class:`SentenceSplitter`, else
(a model directory written before it had one) those of :func:`sentence_spans`.

:func:`sentence_spans` is a rule: a sentence ends after a token made of sentence-final punctuation (and the closing
quotes or brackets right after it) when the next word does not start with a lower-case letter. Chosen on EWT dev
(bench/RESULTS.md, "Scale"): without the lower-case condition, splits inside real sentences cost 0.13 XPOS on
one-sentence Docs. It finds 69% of EWT dev's boundaries in runs of ten sentences: web text often ends a sentence
without punctuation.

:class:`SentenceSplitter` learns where sentences start from the training file itself (its sentences joined in runs
of :data:`RUN_SENTENCES`): a logistic regression over the words on each side of a gap and their shapes, trained with
scikit-learn and kept as plain weights, so that splitting needs neither scikit-learn nor torch. Its threshold is the
one with the best boundary F1 on dev, joined the same way. On EWT dev it finds 87% of the boundaries at 93%
precision, and tagging runs of ten sentences split by it loses 0.07 UPOS against one sentence at a time, where the
rule lost 0.16 (bench/RESULTS.md, "Scale"). What it misses reaches the tagger as one sequence of two sentences, so
the training loop trains each pair of training sentences it would not separate as one sequence too
(:meth:`~SentenceSplitter.separates`, ``[training] join_unsplit``). It never cuts a ``"`` off the quotation it opens
or closes (:meth:`~SentenceSplitter.spans`).

Either runs over one paragraph at a time (:func:`spans_within_paragraphs`): the component ends a paragraph at a
blank line of the text, which no sentence crosses. No torch, no spaCy here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

#: Characters a sentence-final token is made of ("." "!" "?" "..." "?!" "…").
SENTENCE_FINAL = frozenset(".!?…")
#: Tokens that stay with the sentence they close.
CLOSING = frozenset({'"', "'", "”", "’", ")", "]", "}", "»", "''"})
#: Quote marks that open and close alike: which one a mark does shows only in how many came before it.
SYMMETRIC_QUOTES = frozenset({'"'})


def sentence_spans(words: Sequence[str]) -> List[Tuple[int, int]]:
    """(start, end) word indices of the sentences of ``words``, by the punctuation rule (see the module docstring);
    the spans cover every word."""
    spans: List[Tuple[int, int]] = []
    start, i, n = 0, 0, len(words)
    while i < n:
        if words[i] and all(c in SENTENCE_FINAL for c in words[i]):
            end = i + 1
            while end < n and words[end] in CLOSING:
                end += 1
            if end < n and not words[end][:1].islower():
                spans.append((start, end))
                start = end
            i = end
        else:
            i += 1
    if start < n:
        spans.append((start, n))
    return spans


def spans_from_starts(starts: Sequence[Optional[bool]]) -> List[Tuple[int, int]]:
    """(start, end) spans from per-word sentence-start flags (spaCy's ``is_sent_start``: True, False or None)."""
    return _spans_between([i for i, flag in enumerate(starts) if flag], len(starts))


def spans_within_paragraphs(
    split: Callable[[Sequence[str]], List[Tuple[int, int]]], words: Sequence[str], paragraph_starts: Sequence[int]
) -> List[Tuple[int, int]]:
    """(start, end) spans of ``words`` by ``split`` (a splitter's :meth:`~SentenceSplitter.spans` or
    :func:`sentence_spans`) run over each paragraph on its own: a sentence never runs on past a paragraph's end.
    ``paragraph_starts``: ascending word indices where a paragraph starts (0 implied)."""
    spans: List[Tuple[int, int]] = []
    for start, end in _spans_between(paragraph_starts, len(words)):
        spans.extend((start + a, start + b) for a, b in split(words[start:end]))
    return spans


def _spans_between(starts: Sequence[int], n: int) -> List[Tuple[int, int]]:
    """(start, end) spans of ``n`` words whose sentences start at the ascending indices ``starts`` (0 implied)."""
    bounds = [0, *(i for i in starts if i > 0), n]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


#: Sentences joined into one run of words to learn and choose the threshold from (``spacy convert -n 10``'s Docs).
RUN_SENTENCES = 10
#: Training sentences a splitter learns from, at most: EWT's 12.5k take 4 s; a bigger corpus adds little to it.
MAX_SENTENCES = 20000
#: Features seen fewer times in training get no weight (a sixth of them are kept on EWT, at the same dev F1).
MIN_FEATURE_COUNT = 2
#: Forms whose weights a splitter keeps before starting again from empty.
FORM_CACHE_CAPACITY = 100_000


def _logit(probability: float) -> float:
    """The logit a gap's probability reaches ``probability`` at (what :meth:`SentenceSplitter.gap_logits` gives)."""
    return math.log(probability / (1.0 - probability))


def _shape(word: str) -> str:
    if not word:
        return "empty"
    if all(c in SENTENCE_FINAL for c in word):
        return "final"
    if word in CLOSING:
        return "closing"
    first = word[0]
    if first.isupper():
        return "CAPS" if len(word) > 1 and word.isupper() else "Cap"
    if first.islower():
        return "low"
    if first.isdigit():
        return "num"
    return "other" if any(c.isalnum() for c in word) else "punct"


def gap_features(words: Sequence[str], i: int) -> List[str]:
    """The features of the gap before ``words[i]`` (0 < i < len(words)): the words on each side, lower-cased
    before the gap and as written after it, and the shapes of the two words on each side."""
    before, after = words[i - 1], words[i]
    two_before = words[i - 2] if i >= 2 else "<s>"
    next_word = words[i + 1] if i + 1 < len(words) else "</s>"
    shape_before, shape_after, shape_next = _shape(before), _shape(after), _shape(next_word)
    return [
        "w-1=" + before.lower(),
        "w-2=" + two_before.lower(),
        "w+0=" + after,
        "s-2=" + _shape(two_before),
        "s-1=" + shape_before,
        "s+0=" + shape_after,
        "s+1=" + shape_next,
        "s-1,+0=" + shape_before + "," + shape_after,
        "s+0,+1=" + shape_after + "," + shape_next,
    ]


def _runs(sentences: Sequence[Sequence[str]]) -> List[Tuple[List[str], set]]:
    """Consecutive sentences joined RUN_SENTENCES at a time: (words, indices where a sentence starts, 0 left out)."""
    runs = []
    for first in range(0, len(sentences), RUN_SENTENCES):
        words: List[str] = []
        starts = set()
        for sentence in sentences[first : first + RUN_SENTENCES]:
            if words:
                starts.add(len(words))
            words.extend(sentence)
        runs.append((words, starts))
    return runs


@dataclass
class SentenceSplitter:
    """Where sentences start in a run of words, learnt from a training file (see the module docstring).

    Attributes:
        weights: feature -> weight of the logistic regression (see :func:`gap_features`).
        bias: its intercept.
        threshold: the probability from which a gap starts a sentence.
        scores: its boundary precision, recall and F1 on dev at that threshold (empty without dev).
    """

    weights: Dict[str, float]
    bias: float
    threshold: float
    scores: Dict[str, float]

    def __post_init__(self) -> None:
        self._forms: Dict[str, Tuple[float, float, float, str]] = {}  # see _form
        self._shapes: Dict[Tuple[str, str, str, str], float] = {}  # see gap_logits

    def _form(self, word: str) -> Tuple[float, float, float, str]:
        """A word's weights as the word before a gap, two before it and after it, and its shape (kept per form:
        a corpus repeats its forms)."""
        known = self._forms.get(word)
        if known is None:
            if len(self._forms) >= FORM_CACHE_CAPACITY:
                self._forms.clear()
            weights, lower = self.weights, word.lower()
            known = (weights.get("w-1=" + lower, 0.0), weights.get("w-2=" + lower, 0.0),
                     weights.get("w+0=" + word, 0.0), _shape(word))
            self._forms[word] = known
        return known

    def gap_logits(self, words: Sequence[str]) -> List[float]:
        """Logit that a sentence starts at each word after the first: len(words) - 1 values. The sum of the
        weights of :func:`gap_features`, computed from per-form weights and a table of the four shapes."""
        if len(words) < 2:
            return []
        forms = [self._form("<s>"), *(self._form(word) for word in words), self._form("</s>")]
        weights, shapes = self.weights, self._shapes
        logits = []
        for i in range(2, len(forms) - 1):  # the gap before forms[i], i.e. before words[i - 1]
            key = (forms[i - 2][3], forms[i - 1][3], forms[i][3], forms[i + 1][3])
            shape_weight = shapes.get(key)
            if shape_weight is None:
                two_before, before, after, next_word = key
                shape_weight = shapes[key] = sum(weights.get(f, 0.0) for f in (
                    "s-2=" + two_before, "s-1=" + before, "s+0=" + after, "s+1=" + next_word,
                    "s-1,+0=" + before + "," + after, "s+0,+1=" + after + "," + next_word,
                ))
            logits.append(self.bias + forms[i - 1][0] + forms[i - 2][1] + forms[i][2] + shape_weight)
        return logits

    def spans(self, words: Sequence[str]) -> List[Tuple[int, int]]:
        """(start, end) word indices of the sentences of ``words``; the spans cover every word.

        A sentence starts at each gap whose logit reaches the threshold's, except inside a quotation of
        :data:`SYMMETRIC_QUOTES`: a ``"`` that opens one (an odd count of them since the sentence started) is not
        cut from the words after it, nor one that closes it from the words before. The gap features cannot tell an
        opening ``"`` from a closing one, and a quote cut off its quotation is tagged as the other kind (EWT dev, runs
        of ten: XPOS 0.02 closer to one sentence at a time on two models, UPOS unchanged; bench/RESULTS.md,
        "Scale")."""
        cut = _logit(self.threshold)
        starts: List[int] = []
        quote_open = False
        for i, logit in enumerate(self.gap_logits(words), start=1):
            after_quote = words[i - 1] in SYMMETRIC_QUOTES
            if after_quote:
                quote_open = not quote_open
            if logit >= cut and not (quote_open and (after_quote or words[i] in SYMMETRIC_QUOTES)):
                starts.append(i)
                quote_open = False
        return _spans_between(starts, len(words))

    def separates(self, first: Sequence[str], second: Sequence[str]) -> bool:
        """Whether the gap's logit starts a sentence at ``second`` when the two sentences' words come one after the
        other (what the training loop's ``join_unsplit`` asks of each pair of consecutive training sentences):
        :meth:`spans`' decision there, but for its quote rule. Only the two words on each side of the gap are read,
        as :func:`gap_features` does. Training on the pairs that the quote rule also leaves together (EWT: 947
        instead of 909) scored lower on dev with both seeds tried (bench/RESULTS.md, "Scale")."""
        before = list(first[-2:])
        return self.gap_logits([*before, *second[:2]])[len(before) - 1] >= _logit(self.threshold)

    def summary(self) -> Dict[str, float]:
        """What ``meta.json`` records of it: the threshold and its dev boundary scores."""
        return {"threshold": self.threshold, **self.scores}

    @classmethod
    def fit(
        cls, sentences: Sequence[Sequence[str]], *, dev: Sequence[Sequence[str]] = ()
    ) -> Optional["SentenceSplitter"]:
        """Learn from training sentences (word lists, in file order; the first :data:`MAX_SENTENCES`) and choose
        the threshold on ``dev``'s (0.5 without dev sentences to choose on). None when the training text has no
        gap of each kind to learn from (a single sentence, or only one-word sentences)."""
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.linear_model import LogisticRegression

        rows, labels = [], []
        for words, starts in _runs(sentences[:MAX_SENTENCES]):
            for i in range(1, len(words)):
                rows.append(gap_features(words, i))
                labels.append(i in starts)
        if len(set(labels)) < 2:
            return None
        counts: Dict[str, int] = {}
        for row in rows:
            for feature in row:
                counts[feature] = counts.get(feature, 0) + 1
        vectorizer = DictVectorizer()
        matrix = vectorizer.fit_transform(
            [{feature: 1 for feature in row if counts[feature] >= MIN_FEATURE_COUNT} for row in rows]
        )
        classifier = LogisticRegression(C=1.0, max_iter=1000).fit(matrix, labels)
        weights = {
            feature: round(float(weight), 6)
            for feature, weight in zip(vectorizer.get_feature_names_out(), classifier.coef_[0])
            if round(float(weight), 6) != 0.0
        }
        splitter = cls(weights=weights, bias=float(classifier.intercept_[0]), threshold=0.5, scores={})
        if len(dev) > 1:
            splitter.threshold, splitter.scores = splitter._best_threshold(dev)
        return splitter

    def _best_threshold(self, dev: Sequence[Sequence[str]]) -> Tuple[float, Dict[str, float]]:
        """The threshold (0.05 to 0.95 by 0.05) with the best boundary F1 on dev's runs, ties to the higher."""
        gaps = []  # (logit, starts a sentence) of every gap of dev's runs
        for words, starts in _runs(dev):
            gaps.extend((logit, i + 1 in starts) for i, logit in enumerate(self.gap_logits(words)))
        n_true = sum(1 for _, true in gaps if true)
        best = (-1.0, 0.5, {})
        for step in range(1, 20):
            threshold = step / 20
            cut = _logit(threshold)
            found = sum(1 for logit, _ in gaps if logit >= cut)
            right = sum(1 for logit, true in gaps if true and logit >= cut)
            precision = right / found if found else 0.0
            recall = right / n_true if n_true else 0.0
            f1 = 2 * precision * recall / (precision + recall) if right else 0.0
            if f1 >= best[0]:
                scores = {"precision": round(100 * precision, 2), "recall": round(100 * recall, 2),
                          "f1": round(100 * f1, 2)}
                best = (f1, threshold, scores)
        return best[1], best[2]

    def to_dict(self) -> dict:
        return {"weights": self.weights, "bias": self.bias, "threshold": self.threshold, "scores": self.scores}

    @classmethod
    def from_dict(cls, data: dict) -> "SentenceSplitter":
        threshold = float(data["threshold"])
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be between 0 and 1, not {threshold}")
        return cls(
            weights={str(k): float(v) for k, v in data["weights"].items()}, bias=float(data["bias"]),
            threshold=threshold, scores=dict(data.get("scores", {})),
        )
