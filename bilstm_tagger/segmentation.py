"""Sentences for the tagger, from a run of words that may hold several.

The BiLSTM is trained on one sentence at a time; a spaCy Doc may hold a paragraph or a whole document. The
component tags each sentence of a Doc on its own: the Doc's own boundaries when something set them (a parser,
senter or sentencizer, or ``Doc(..., sent_starts=...)``), else those of :func:`sentence_spans`, a rule that ends a
sentence after a token made of sentence-final punctuation (and the closing quotes or brackets right after it) when
the next word does not start with a lower-case letter. Chosen on EWT dev (bench/RESULTS.md, "Scale"): without the
lower-case condition, splits inside real sentences cost 0.13 XPOS on one-sentence Docs. No torch, no spaCy here.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

#: Characters a sentence-final token is made of ("." "!" "?" "..." "?!" "…").
SENTENCE_FINAL = frozenset(".!?…")
#: Tokens that stay with the sentence they close.
CLOSING = frozenset({'"', "'", "”", "’", ")", "]", "}", "»", "''"})


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
    cuts = [i for i, flag in enumerate(starts) if flag and i > 0]
    bounds = [0, *cuts, len(starts)]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]
