"""A k-th order hidden Markov model tagger in the style of TnT (Brants 2000), in numpy only.

* Transitions: P(t_i | t_{i-k} .. t_{i-1}) interpolated linearly from the orders 0..k, with weights estimated by
  deleted interpolation (each training n-gram votes for the order whose estimate, leaving that n-gram out, is
  best). Sentence starts are padded with a start tag; the end of the sentence is an extra transition.
* Emissions: relative frequencies P(w | t) for training forms; for an unknown form, TnT's suffix model: P(t | the
  form's last m characters) by successive abstraction over suffix lengths m..0, built from rare training words,
  with separate models for capitalised and other forms, turned into P(w | t) by Bayes' rule.
* Decoding: Viterbi in log space over states of the last k tags, exact but for one pruning: an unknown word's
  tags whose suffix-model score is more than ``unknown_beam`` nats below its best are not considered (TnT prunes
  with a beam too). At 10 nats EWT dev is unchanged to the hundredth and tagging is about 1.8x faster, since runs
  of unknown words no longer make blocks of 100 x 100 x 100 tag triples.

:class:`HMMTagger` tags several targets either with one HMM per target or (``joint``, the default) with one HMM
whose tags are the combinations of the targets' labels seen in training, such as ``AUX|VBZ``: the finer tags make
the transitions sharper (an ``AUX`` is followed by ``VERB|VBN`` or ``VERB|VBG``, a ``VERB`` rarely is).
Log-probabilities are float32: the tables are the model's size, and Viterbi needs no more precision.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from typing import ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..registry import registry
from .base import CountingTagger, architecture_builder

#: Words at most this frequent train the suffix model (TnT's choice: rare words resemble unknown ones).
RARE_MAX_COUNT = 10

#: Largest transition table fit() builds ((n_labels + 1) ** (order + 1) float32 entries: 80 MB).
MAX_TRANSITION_ENTRIES = 20_000_000


def _is_capitalised(form: str) -> bool:
    return form[:1].isupper()


class HMM:
    """k-th order HMM over one target's tags, with TnT-style smoothing and unknown-word model.

    Args:
        n_labels: the number of tags (ids 0..n_labels-1).
        order: k, the number of previous tags a transition conditions on (1 = bigram, 2 = trigram).
        suffix_length: m, the longest suffix the unknown-word model uses.
        unknown_beam: an unknown word only considers tags scoring at most this many nats below its best (0: all).
    """

    def __init__(self, *, n_labels: int, order: int = 2, suffix_length: int = 4, unknown_beam: float = 10.0) -> None:
        if order < 1:
            raise ValueError(f"order must be at least 1, not {order}")
        self.n_labels = n_labels
        self.order = order
        self.suffix_length = suffix_length
        self.unknown_beam = unknown_beam
        n = n_labels
        self.start = n  # the padding tag before a sentence
        self.lambdas = np.zeros(order + 1)
        # log P(next | last k tags) for every state; filled by fit()
        self.log_transition = np.zeros((0, n + 1))
        self.log_emission: Dict[str, np.ndarray] = {}
        self.suffix_log_emission: Dict[Tuple[bool, str], np.ndarray] = {}
        self.tag_log_prior = np.zeros(n)
        self._allowed: Dict[str, Tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # allowed_tags() memo

    # -- training ------------------------------------------------------------------------------------------------

    def fit(self, sentences: Sequence[Sequence[Tuple[str, Optional[int]]]]) -> "HMM":
        """Estimate the model from sentences of (form, tag id) pairs (tag None: not annotated).

        Raises ValueError when the transition table would be unreasonably large (too many tags for the order).
        """
        n, k = self.n_labels, self.order
        if (n + 1) ** (k + 1) > MAX_TRANSITION_ENTRIES:
            raise ValueError(
                f"an order-{k} HMM over {n} tags needs a transition table of {(n + 1) ** (k + 1):,} entries; "
                f"lower the order, or tag fewer targets jointly (model.joint = false)"
            )
        end = n  # in transitions the "next tag" after the last word is the end; it shares the id of start
        ngrams = [Counter() for _ in range(k + 1)]  # ngrams[j][(history of j tags, next)]
        word_tag: Dict[str, Counter] = defaultdict(Counter)
        tag_counts = Counter()
        for sentence in sentences:
            tags = [self.start] * k
            for form, tag in sentence:
                if tag is None:
                    # an unannotated word breaks the chain: restart the history, as at a sentence start
                    tags = [self.start] * k
                    continue
                word_tag[form][tag] += 1
                tag_counts[tag] += 1
                for j in range(k + 1):
                    ngrams[j][(tuple(tags[len(tags) - j:]) if j else (), tag)] += 1
                tags.append(tag)
            for j in range(k + 1):
                ngrams[j][(tuple(tags[len(tags) - j:]) if j else (), end)] += 1
        self.lambdas = self._deleted_interpolation(ngrams)
        history_counts = [Counter() for _ in range(k + 1)]
        for j in range(k + 1):
            for (history, _), c in ngrams[j].items():
                history_counts[j][history] += c
        # dense table over all k-tag histories (start tag included): (n + 1) ** k rows, n + 1 columns
        states = list(itertools.product(range(n + 1), repeat=k))
        table = np.zeros((len(states), n + 1))
        for row, history in enumerate(states):
            for j in range(k + 1):
                h = history[k - j:] if j else ()
                total = history_counts[j].get(h, 0)
                if total == 0:
                    continue
                probs = np.zeros(n + 1)
                for nxt in range(n + 1):
                    c = ngrams[j].get((h, nxt), 0)
                    if c:
                        probs[nxt] = c / total
                table[row] += self.lambdas[j] * probs
        with np.errstate(divide="ignore"):
            self.log_transition = np.log(table).astype(np.float32)
        total_tags = sum(tag_counts.values())
        prior = np.array([tag_counts.get(t, 0) / total_tags for t in range(n)])
        with np.errstate(divide="ignore"):
            self.tag_log_prior = np.log(prior).astype(np.float32)
        self.log_emission = {}
        self._allowed = {}
        for form, counts in word_tag.items():
            row = np.full(n, -np.inf, dtype=np.float32)
            for tag, c in counts.items():
                row[tag] = math.log(c / tag_counts[tag])
            self.log_emission[form] = row
        self._fit_suffixes(word_tag, prior)
        return self

    def _deleted_interpolation(self, ngrams: List[Counter]) -> np.ndarray:
        """Weights of orders 0..k: each n-gram's count goes to the order with the best leave-one-out estimate."""
        k = self.order
        weights = np.zeros(k + 1)
        history_counts = [Counter() for _ in range(k + 1)]
        for j in range(k + 1):
            for (history, _), c in ngrams[j].items():
                history_counts[j][history] += c
        for (history, nxt), count in ngrams[k].items():
            scores = []
            for j in range(k + 1):
                h = history[k - j:] if j else ()
                numerator = ngrams[j].get((h, nxt), 0) - 1
                denominator = history_counts[j].get(h, 0) - 1
                scores.append(numerator / denominator if denominator > 0 else 0.0)
            weights[int(np.argmax(scores))] += count
        if weights.sum() == 0:
            weights[:] = 1.0
        return weights / weights.sum()

    def _fit_suffixes(self, word_tag: Dict[str, Counter], prior: np.ndarray) -> None:
        n = self.n_labels
        theta = float(np.std(prior)) if n > 1 else 1.0
        suffix_counts: Dict[Tuple[bool, str], np.ndarray] = {}
        for form, counts in word_tag.items():
            if sum(counts.values()) > RARE_MAX_COUNT:
                continue
            cap = _is_capitalised(form)
            for length in range(min(self.suffix_length, len(form)) + 1):
                key = (cap, form[len(form) - length:] if length else "")
                row = suffix_counts.setdefault(key, np.zeros(n))
                for tag, c in counts.items():
                    row[tag] += c
        self.suffix_log_emission = {}
        with np.errstate(divide="ignore"):
            log_prior = np.log(np.maximum(prior, 1e-12))
        # successive abstraction: P(t | l_m..) = (P^(t | suffix) + theta * P(t | shorter suffix)) / (1 + theta)
        for cap in (False, True):
            keys = sorted((key for key in suffix_counts if key[0] == cap), key=lambda key: len(key[1]))
            smoothed: Dict[str, np.ndarray] = {}
            for _, suffix in keys:
                row = suffix_counts[(cap, suffix)]
                relative = row / row.sum()
                shorter = smoothed.get(suffix[1:], prior) if suffix else prior
                smoothed[suffix] = (relative + theta * shorter) / (1.0 + theta)
            for suffix, probs in smoothed.items():
                with np.errstate(divide="ignore"):
                    self.suffix_log_emission[(cap, suffix)] = (np.log(probs) - log_prior).astype(np.float32)

    # -- decoding ------------------------------------------------------------------------------------------------

    def _known_emission(self, form: str) -> Optional[np.ndarray]:
        known = self.log_emission.get(form)
        if known is None and form[:1].isupper():
            # a capitalised form unseen as such ("Kindly" opening a sentence) is usually its lower-case word
            known = self.log_emission.get(form.lower())
        return known

    def _is_known(self, form: str) -> bool:
        return self._known_emission(form) is not None

    def emission_scores(self, form: str) -> np.ndarray:
        """log P(form | t) up to a per-word constant, for every tag: (n_labels,)."""
        known = self._known_emission(form)
        if known is not None:
            return known
        cap = _is_capitalised(form)
        for length in range(min(self.suffix_length, len(form)), -1, -1):
            row = self.suffix_log_emission.get((cap, form[len(form) - length:] if length else ""))
            if row is not None:
                return row
        # no statistics at all for this kind of word: let transitions decide
        return np.zeros(self.n_labels, dtype=np.float32)

    def allowed_tags(self, form: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The tags ``form`` can have (finite emission score), their scores, and the tags times (n + 1) (their
        contribution to a transition-table row number): three (n_allowed,) arrays.

        Memoised per form (the memo is emptied at 200,000 forms), so a known form costs one dict lookup.
        """
        cached = self._allowed.get(form)
        if cached is None:
            emission = self.emission_scores(form)
            if self.unknown_beam > 0 and not self._is_known(form):
                allowed = np.flatnonzero(emission >= emission.max() - self.unknown_beam)
            else:
                allowed = np.flatnonzero(np.isfinite(emission))
            cached = (allowed, emission[allowed], allowed * (self.n_labels + 1))
            if len(self._allowed) >= 200_000:
                self._allowed.clear()
            self._allowed[form] = cached
        return cached

    def viterbi(self, forms: Sequence[str]) -> List[int]:
        """The most probable tag ids for one sentence (empty for an empty sentence).

        Exact (up to ``unknown_beam``, see the module docstring), and cheap because a tag whose emission
        probability for a word is zero cannot be on the best path: each position only considers the tags its word allows (one to three for most known words), so the
        score of the last k positions is a dense block over those tags rather than over all (n + 1) ** k states.
        Each block cell also knows its row of the flat transition table (the base-(n + 1) number of its k tags).
        """
        if not forms:
            return []
        k, width = self.order, self.n_labels + 1
        transition = self.log_transition  # (width ** k, width)
        shift = width ** (k - 1)
        start_row = sum(self.start * width**j for j in range(k))
        rows = np.full((1,) * k, start_row, dtype=np.int64)  # transition row of each cell of the score block
        score = np.zeros((1,) * k, dtype=transition.dtype)  # over the tags allowed at the last k positions
        history = []  # per word: its allowed tags, and back-pointers into the tags allowed k words before it
        scaled = None  # the previous word's allowed tags times width
        for form in forms:
            allowed, emission, next_scaled = self.allowed_tags(form)
            candidates = transition[rows[..., None], allowed]  # (|A_{i-k}|, ..., |A_{i-1}|, |A_i|)
            candidates += score[..., None]
            back = candidates.argmax(axis=0)
            score = candidates.max(axis=0)
            score += emission
            # the new cells' rows: drop the oldest tag from the row number, append the new one (for a trigram
            # what remains is the previous word's tag)
            if k == 1:
                rows = allowed
            else:
                rest = scaled if k == 2 and scaled is not None else (rows[0] % shift) * width
                rows = np.add.outer(rest, allowed)
            scaled = next_scaled
            history.append((allowed, back))
        final = score + transition[rows, self.start]
        state = list(np.unravel_index(int(np.argmax(final)), final.shape))  # indices into the last k allowed sets
        tags = []
        for allowed, back in reversed(history):
            tags.append(int(allowed[state[-1]]))
            state = [int(back[tuple(state)])] + state[:-1]
        return tags[::-1]

    # -- plain-data state ----------------------------------------------------------------------------------------

    def to_arrays(self) -> Dict[str, np.ndarray]:
        """Every estimate as numeric arrays (strings as code points), ready for safetensors."""
        forms = sorted(self.log_emission)
        suffixes = sorted(self.suffix_log_emission)
        n = self.n_labels
        form_codes, form_offsets = encode_strings(forms)
        suffix_codes, suffix_offsets = encode_strings([suffix for _, suffix in suffixes])
        return {
            "lambdas": self.lambdas,
            "log_transition": self.log_transition,
            "tag_log_prior": self.tag_log_prior,
            "form_codes": form_codes,
            "form_offsets": form_offsets,
            "log_emission": np.stack([self.log_emission[f] for f in forms]) if forms else np.zeros((0, n), np.float32),
            "suffix_codes": suffix_codes,
            "suffix_offsets": suffix_offsets,
            "suffix_capitalised": np.array([cap for cap, _ in suffixes], dtype=np.uint8),
            "suffix_log_emission": (
                np.stack([self.suffix_log_emission[key] for key in suffixes])
                if suffixes
                else np.zeros((0, n), np.float32)
            ),
        }

    def load_arrays(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore :meth:`to_arrays`' arrays; raises ValueError when they do not fit this model's sizes."""
        width = self.n_labels + 1
        if state["log_transition"].shape != (width ** self.order, width) or state["lambdas"].shape != (self.order + 1,):
            raise ValueError(
                f"transition table {tuple(state['log_transition'].shape)} does not fit order {self.order} "
                f"with {self.n_labels} tags"
            )
        self.lambdas = state["lambdas"]
        self.log_transition = state["log_transition"]
        self.tag_log_prior = state["tag_log_prior"]
        forms = decode_strings(state["form_codes"], state["form_offsets"])
        self.log_emission = dict(zip(forms, state["log_emission"]))
        self._allowed = {}
        suffixes = decode_strings(state["suffix_codes"], state["suffix_offsets"])
        capitalised = [bool(c) for c in state["suffix_capitalised"]]
        self.suffix_log_emission = dict(zip(zip(capitalised, suffixes), state["suffix_log_emission"]))


def encode_strings(strings: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
    """Strings as (all code points concatenated, int32) and (start offsets plus the end, int64)."""
    offsets = np.zeros(len(strings) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(s) for s in strings])
    codes = np.array([ord(c) for s in strings for c in s], dtype=np.int32)
    return codes, offsets


def decode_strings(codes: np.ndarray, offsets: np.ndarray) -> List[str]:
    """Inverse of :func:`encode_strings`."""
    text = "".join(map(chr, codes.tolist()))
    bounds = offsets.tolist()
    return [text[bounds[i]:bounds[i + 1]] for i in range(len(bounds) - 1)]


class HMMTagger(CountingTagger):
    """The HMM family (``bilstm_tagger.HMM.v1``; defaults: ``configs/hmm.cfg``): trained by counting, runs on numpy
    alone.

    Args:
        n_labels: number of labels per trained target.
        order: k, the number of previous tags a transition conditions on (1 = bigram, 2 = trigram).
        suffix_length: m, the longest suffix the unknown-word model uses.
        unknown_beam: an unknown word only considers tags scoring at most this many nats below its best (0: all).
        joint: one HMM over the combinations of all targets' labels (a word's targets are then predicted
            together and consistently) instead of one HMM per target.
    """

    family: ClassVar[str] = "HMM"
    data_sizes: ClassVar[Tuple[str, ...]] = ("n_labels",)

    def __init__(
        self,
        *,
        n_labels: Dict[str, int],
        order: int = 2,
        suffix_length: int = 4,
        unknown_beam: float = 10.0,
        joint: bool = True,
    ) -> None:
        self.n_labels = dict(n_labels)
        self.order = order
        self.suffix_length = suffix_length
        self.unknown_beam = unknown_beam
        self.joint = joint
        # joint: row i holds each target's label id for joint tag i; made by fit() or load_state_dict()
        self.combinations = np.zeros((0, len(n_labels)), dtype=np.int32)
        self.hmms: Dict[str, HMM] = {} if joint else {target: self._hmm(n) for target, n in n_labels.items()}

    def _hmm(self, n_labels: int) -> HMM:
        return HMM(
            n_labels=n_labels, order=self.order, suffix_length=self.suffix_length, unknown_beam=self.unknown_beam
        )

    def fit(self, sentences: Sequence, labels: Mapping[str, Sequence[str]]) -> "HMMTagger":
        """Count the training sentences (corpus.Sentence objects); ``labels`` gives each target's label order.

        In joint mode a word with any target unannotated counts as unannotated.
        """
        indexes = {target: {label: i for i, label in enumerate(labels[target])} for target in self.n_labels}
        forms = [[w.form for w in sentence.words] for sentence in sentences]
        ids = [
            [tuple(indexes[target].get(getattr(w, target)) for target in self.n_labels) for w in sentence.words]
            for sentence in sentences
        ]
        if self.joint:
            seen = sorted({combination for sentence in ids for combination in sentence if None not in combination})
            self.combinations = np.array(seen, dtype=np.int32).reshape(len(seen), len(self.n_labels))
            joint_id = {combination: i for i, combination in enumerate(seen)}
            self.hmms = {"joint": self._hmm(len(seen))}
            self.hmms["joint"].fit([[(f, joint_id.get(c)) for f, c in zip(*pair)] for pair in zip(forms, ids)])
        else:
            for column, hmm in enumerate(self.hmms.values()):
                hmm.fit([[(f, c[column]) for f, c in zip(*pair)] for pair in zip(forms, ids)])
        return self

    def tag_ids(self, sentences: Sequence[Sequence[str]]) -> List[Dict[str, List[int]]]:
        """Best tag ids per sentence and target, by Viterbi (sentences must be non-empty)."""
        if not self.joint:
            return [{target: hmm.viterbi(forms) for target, hmm in self.hmms.items()} for forms in sentences]
        results = []
        for forms in sentences:
            rows = self.combinations[self.hmms["joint"].viterbi(forms)]  # (n_words, n_targets)
            results.append({target: rows[:, column].tolist() for column, target in enumerate(self.n_labels)})
        return results

    def to_arrays(self) -> Dict[str, np.ndarray]:
        state = {f"{name}.{key}": array for name, hmm in self.hmms.items() for key, array in hmm.to_arrays().items()}
        if self.joint:
            state["combinations"] = self.combinations
        return state

    def load_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        state = dict(arrays)
        combinations = state.pop("combinations", None)
        names = {key.split(".", 1)[0] for key in state}
        expected = {"joint"} if self.joint else set(self.n_labels)
        if names != expected or (combinations is None) == self.joint:
            found = sorted(names) + (["combinations"] if combinations is not None else [])
            raise ValueError(f"state holds {found}, the model expects {sorted(expected)}")
        if self.joint:
            if combinations.ndim != 2 or combinations.shape[1] != len(self.n_labels):
                raise ValueError(f"joint tags of shape {combinations.shape} do not fit {len(self.n_labels)} targets")
            self.combinations = combinations.astype(np.int32)
            self.hmms = {"joint": self._hmm(len(combinations))}
        for name, hmm in self.hmms.items():
            prefix = f"{name}."
            hmm.load_arrays({key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)})


build_hmm_tagger = registry.architectures("bilstm_tagger.HMM.v1")(architecture_builder(HMMTagger))
