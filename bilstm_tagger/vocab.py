"""Vocabularies (words, characters) and label sets, as plain data.

Reserved ids are defined here once: ``PAD_ID = 0`` pads batches, ``UNK_ID = 1`` stands for anything unseen.
Label sets have no reserved entries: a word without annotation gets ``IGNORE_INDEX`` in the loss instead.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from .corpus import Sentence
from .lexicon import Lexicon
from .targets import EMPTY_SET, LABELLED_TARGETS, TARGETS

PAD_ID = 0
UNK_ID = 1
PAD = "<pad>"
UNK = "<unk>"
#: Target index for words a loss must skip (torch's cross-entropy default).
IGNORE_INDEX = -100


def word_key(form: str) -> str:
    """The key a form is looked up under in the word vocabulary (lower-cased: case is left to the characters)."""
    return form.lower()


class Vocab:
    """A string-to-id map with ``PAD_ID``/``UNK_ID`` reserved and the training count of every entry.

    Args:
        tokens: the entries in id order, reserved ones first.
        counts: training frequency per entry (reserved entries count 0).
    """

    def __init__(self, tokens: Sequence[str], counts: Optional[Sequence[int]] = None) -> None:
        if list(tokens[:2]) != [PAD, UNK]:
            raise ValueError(f"a vocabulary must start with {PAD!r}, {UNK!r}")
        self.tokens: List[str] = list(tokens)
        self.counts: List[int] = list(counts) if counts is not None else [0] * len(self.tokens)
        self.index: Dict[str, int] = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def from_counts(cls, counter: Counter, *, min_freq: int = 1) -> "Vocab":
        """Entries seen at least ``min_freq`` times, most frequent first (ties alphabetically, for determinism)."""
        kept = sorted((item for item in counter.items() if item[1] >= min_freq), key=lambda kv: (-kv[1], kv[0]))
        return cls([PAD, UNK] + [k for k, _ in kept], [0, 0] + [c for _, c in kept])

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self.index

    def encode(self, tokens: Iterable[str]) -> List[int]:
        """Ids for ``tokens``, ``UNK_ID`` for unknown ones."""
        index = self.index
        return [index.get(token, UNK_ID) for token in tokens]

    def to_dict(self) -> dict:
        return {"tokens": self.tokens, "counts": self.counts}

    @classmethod
    def from_dict(cls, data: dict) -> "Vocab":
        return cls(data["tokens"], data["counts"])


@dataclass
class Vocabularies:
    """Everything a tagger maps strings with, built from the training sentences.

    Attributes:
        words: lower-cased word forms seen at least ``min_freq`` times.
        chars: characters seen in training forms.
        labels: for each trained labelled target (:data:`~bilstm_tagger.targets.LABELLED_TARGETS`), its labels in
            id order.
        train_forms: every form seen in training, exactly as written: what "unseen word" is measured against.
        tag_pairs: for each other labelled target trained beside UPOS, the ``[upos, label]`` pairs seen on one
            word in training, sorted (what :mod:`~bilstm_tagger.models.tag_pairs` chooses among; empty for a
            model directory written before they were saved).
        lexicon: word clusters and frequencies looked up per form (:mod:`~bilstm_tagger.lexicon`), or None; kept in
            its own file of the model directory, not in ``to_dict``.
    """

    words: Vocab
    chars: Vocab
    labels: Dict[str, List[str]]
    train_forms: List[str] = field(default_factory=list)
    tag_pairs: Dict[str, List[List[str]]] = field(default_factory=dict)
    lexicon: Optional[Lexicon] = field(default=None, repr=False, compare=False)

    @classmethod
    def build(
        cls, sentences: Sequence[Sentence], *, targets: Sequence[str] = LABELLED_TARGETS, min_freq: int = 1,
        lexicon: Optional[Lexicon] = None,
    ) -> "Vocabularies":
        """Build from training sentences; a target with no annotated word in them is not trained (for a target whose
        ``_`` is the empty set, such as FEATS: a column that is ``_`` throughout).

        Args:
            sentences: training data.
            targets: the targets the config asks for (those that are not labelled, lemmas, are the lemmatizer's).
            min_freq: minimum count of a word to get its own embedding.
            lexicon: the lexicon its models read (None: none).
        """
        targets = [target for target in targets if TARGETS[target].labelled]
        word_counts: Counter = Counter()
        char_counts: Counter = Counter()
        form_set = set()
        pairs: Dict[str, set] = {target: set() for target in targets if target != "upos"}
        label_counts: Dict[str, Counter] = {target: Counter() for target in targets}
        # targets whose "_" is a label: trained only when some word has something else
        annotated = {t: False for t in targets if TARGETS[t].underscore == EMPTY_SET}
        for sentence in sentences:
            for word in sentence.words:
                word_counts[word_key(word.form)] += 1
                char_counts.update(word.form)
                form_set.add(word.form)
                for target in targets:
                    value = getattr(word, target)
                    if value is not None:
                        label_counts[target][value] += 1
                if word.upos is not None and "upos" in targets:
                    for target, seen in pairs.items():
                        value = getattr(word, target)
                        if value is not None:
                            seen.add((word.upos, value))
                for target in annotated:
                    annotated[target] = annotated[target] or getattr(word, target) != "_"
        labels = {
            target: sorted(counts)
            for target, counts in label_counts.items()
            if counts and annotated.get(target, True)
        }
        return cls(
            words=Vocab.from_counts(word_counts, min_freq=min_freq),
            chars=Vocab.from_counts(char_counts),
            labels=labels,
            train_forms=sorted(form_set),
            tag_pairs={
                target: [list(pair) for pair in sorted(seen)]
                for target, seen in pairs.items()
                if seen and target in labels and "upos" in labels
            },
            lexicon=lexicon,
        )

    @property
    def targets(self) -> List[str]:
        """The labelled targets with a label set, in table order."""
        return [target for target in LABELLED_TARGETS if target in self.labels]

    def to_dict(self) -> dict:
        return {
            "words": self.words.to_dict(),
            "chars": self.chars.to_dict(),
            "labels": self.labels,
            "train_forms": self.train_forms,
            "tag_pairs": self.tag_pairs,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Vocabularies":
        return cls(
            words=Vocab.from_dict(data["words"]),
            chars=Vocab.from_dict(data["chars"]),
            labels={k: list(v) for k, v in data["labels"].items()},
            train_forms=list(data["train_forms"]),
            tag_pairs={k: [list(pair) for pair in v] for k, v in data.get("tag_pairs", {}).items()},
        )


def _most_frequent(counts: Counter) -> Dict[tuple, str]:
    """Each key's most frequent lemma (ties: the alphabetically first) from counts of (*key, lemma)."""
    best: Dict[tuple, Tuple[int, str]] = {}
    for (*key, lemma), count in sorted(counts.items()):
        if tuple(key) not in best or count > best[tuple(key)][0]:
            best[tuple(key)] = (count, lemma)
    return {key: lemma for key, (_, lemma) in best.items()}


@dataclass
class LemmaVocabularies:
    """What the lemmatizer maps strings with, built from the training words that have a UPOS and a lemma.

    Attributes:
        chars: characters of training forms and lemmas (its ids are the lemmatizer's input and output characters).
        upos: the UPOS labels, in id order.
        dictionary: (form, UPOS) -> the lemma it has most often in training (ties: the alphabetically first).
        feats_dictionary: (form, UPOS, FEATS) -> its most frequent lemma, for the triples where that is not the
            ``dictionary``'s lemma of (form, UPOS): EWT's "her" is "she" as an object, "her" as a possessive
            (``Poss=Yes``). Empty for a directory written before it existed.
        examples: every distinct (form, UPOS, lemma) of training, sorted: what the lemmatizer is trained on.
    """

    chars: Vocab
    upos: List[str]
    dictionary: Dict[Tuple[str, str], str]
    feats_dictionary: Dict[Tuple[str, str, str], str] = field(default_factory=dict)
    examples: List[Tuple[str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.upos_index = {tag: i for i, tag in enumerate(self.upos)}

    @classmethod
    def build(cls, sentences: Sequence[Sentence]) -> "LemmaVocabularies":
        counts: Counter = Counter()
        feats_counts: Counter = Counter()
        char_counts: Counter = Counter()
        for sentence in sentences:
            for word in sentence.words:
                if word.upos is not None and word.lemma is not None:
                    counts[word.form, word.upos, word.lemma] += 1
                    feats_counts[word.form, word.upos, word.feats, word.lemma] += 1
                    char_counts.update(word.form)
                    char_counts.update(word.lemma)
        dictionary = _most_frequent(counts)
        by_feats = _most_frequent(feats_counts)
        return cls(
            chars=Vocab.from_counts(char_counts),
            upos=sorted({upos for _, upos, _ in counts}),
            dictionary=dictionary,
            feats_dictionary={key: lemma for key, lemma in by_feats.items() if lemma != dictionary[key[:2]]},
            examples=sorted(counts),
        )

    def __bool__(self) -> bool:
        return bool(self.dictionary)

    def to_dict(self) -> dict:
        """JSON-ready; the training examples are not kept (the dictionary has what inference needs)."""
        return {
            "chars": self.chars.to_dict(),
            "upos": self.upos,
            "dictionary": [[form, upos, lemma] for (form, upos), lemma in sorted(self.dictionary.items())],
            "feats_dictionary": [[*key, lemma] for key, lemma in sorted(self.feats_dictionary.items())],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "LemmaVocabularies":
        return cls(
            chars=Vocab.from_dict(data["chars"]),
            upos=list(data["upos"]),
            dictionary={(form, upos): lemma for form, upos, lemma in data["dictionary"]},
            feats_dictionary={
                (form, upos, feats): lemma for form, upos, feats, lemma in data.get("feats_dictionary", [])
            },
        )
