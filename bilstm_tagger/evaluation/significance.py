"""How sure a figure is: bootstrap confidence intervals over sentences, and McNemar's test between two systems.

Both work on per-word outcomes (1 right, 0 wrong, -1 not scored) as :class:`~bilstm_tagger.evaluation.scoring.WordOutcomes`
holds them. Sentences, not words, are resampled: errors cluster within sentences, and resampling words would
make intervals too narrow.
"""

from __future__ import annotations

from typing import List, Optional

import numpy as np

#: Bootstrap resamples, and the seed that makes the intervals reproducible.
BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 0
#: A pairwise difference is called significant below this p-value.
ALPHA = 0.05


def bootstrap_interval(outcomes: np.ndarray, sentence: np.ndarray, n_sentences: int) -> Optional[List[float]]:
    """95% percentile bootstrap interval of an accuracy (percent), resampling whole sentences.

    Args:
        outcomes: (n_words,) 1 right, 0 wrong, -1 not scored.
        sentence: (n_words,) each word's sentence index, in 0..n_sentences-1.
        n_sentences: number of sentences.

    Returns:
        [low, high], or None when no word is scored.
    """
    scored = outcomes >= 0
    if n_sentences == 0 or not scored.any():
        return None
    correct = np.bincount(sentence, weights=outcomes == 1, minlength=n_sentences)
    total = np.bincount(sentence, weights=scored, minlength=n_sentences)
    draws = np.random.default_rng(BOOTSTRAP_SEED).integers(0, n_sentences, size=(BOOTSTRAP_SAMPLES, n_sentences))
    totals = total[draws].sum(axis=1)
    kept = totals > 0  # a resample of only unscored sentences has no accuracy
    accuracy = 100.0 * correct[draws].sum(axis=1)[kept] / totals[kept]
    low, high = np.percentile(accuracy, [2.5, 97.5])
    return [round(float(low), 4), round(float(high), 4)]


def mcnemar(a: np.ndarray, b: np.ndarray) -> dict:
    """Exact McNemar test of two systems' outcomes on the same words, each (n_words,): 1 right, 0 wrong, -1 not scored.

    Only the words exactly one system gets right count; under the null hypothesis each of them is equally likely
    to favour either system, so the p-value is a two-sided binomial test with p = 0.5.
    """
    from scipy.stats import binomtest  # here: scipy.stats takes 0.4 s to import, which the CLI's --help need not pay

    if a.shape != b.shape:
        raise ValueError(f"outcomes of different lengths: {a.shape} and {b.shape}")
    both = (a >= 0) & (b >= 0)
    only_a = int((both & (a == 1) & (b == 0)).sum())
    only_b = int((both & (a == 0) & (b == 1)).sum())
    discordant = only_a + only_b
    p_value = 1.0 if discordant == 0 else float(binomtest(min(only_a, only_b), discordant, 0.5).pvalue)
    return {"only_a_right": only_a, "only_b_right": only_b, "p_value": p_value, "significant": p_value < ALPHA}
