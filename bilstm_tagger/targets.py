"""The table of targets: what a tagger can predict, and everything each layer needs to know about it.

One row per target. Reading and writing CoNLL-U take its column and what ``_`` means there, the vocabularies its
label set, evaluation its metric, the spaCy component the token attribute it writes. Adding a target is one row
here plus a head in each model family.

Two kinds of target:

* **labelled** (UPOS, XPOS, FEATS): one label of a closed set learnt from training; the tagger's heads predict
  them, ``labels.json`` lists the set.
* **written** (LEMMA): an open-ended string, written character by character by the lemmatizer
  (:mod:`~bilstm_tagger.lemmatizer`) from the word's form and predicted UPOS; it has no label set.

What ``_`` means follows the UD guidelines:

* ``UNANNOTATED`` (UPOS, XPOS, LEMMA): "not annotated"; the word is left out of that target's loss and metric, and is
  read as ``None``.
* ``EMPTY_SET`` (FEATS): the empty feature set, a real annotation (punctuation, most prepositions), kept as the
  string ``"_"`` and learnt like any label; only a training file whose column is ``_`` throughout trains no head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

#: ``Target.underscore`` values.
UNANNOTATED = "unannotated"
EMPTY_SET = "empty set"


@dataclass(frozen=True)
class Target:
    """One predictable CoNLL-U column.

    Attributes:
        name: the target's name everywhere: ``[training] targets``, ``labels.json``, the :class:`~bilstm_tagger.
            corpus.Word` attribute, the keys of a tagger's output.
        column: 0-based CoNLL-U column index.
        metric: the evaluation metric that scores it (the CoNLL 2018 evaluator's name, lower-cased).
        spacy_attribute: the spaCy token attribute the component writes (a name in ``spacy.attrs``).
        underscore: what ``_`` in the column means: :data:`UNANNOTATED` or :data:`EMPTY_SET`.
        labelled: True for a closed label set learnt by the tagger's heads, False for a string the lemmatizer
            writes.
    """

    name: str
    column: int
    metric: str
    spacy_attribute: str
    underscore: str
    labelled: bool = True

    def read(self, cell: str) -> Optional[str]:
        """The value of a CoNLL-U cell of this column (``None`` for an unannotated word)."""
        if self.underscore == UNANNOTATED:
            return None if cell == "_" else cell
        return cell or "_"


#: Every target, in the order models, reports and outputs list them.
TARGETS: Dict[str, Target] = {
    target.name: target
    for target in (
        Target("upos", column=3, metric="upos", spacy_attribute="POS", underscore=UNANNOTATED),
        Target("xpos", column=4, metric="xpos", spacy_attribute="TAG", underscore=UNANNOTATED),
        Target("feats", column=5, metric="ufeats", spacy_attribute="MORPH", underscore=EMPTY_SET),
        Target("lemma", column=2, metric="lemma", spacy_attribute="LEMMA", underscore=UNANNOTATED, labelled=False),
    )
}
#: The target names, in table order.
TARGET_NAMES: Tuple[str, ...] = tuple(TARGETS)
#: The targets the tagger's heads predict (and AllTags scores), in table order.
LABELLED_TARGETS: Tuple[str, ...] = tuple(name for name, target in TARGETS.items() if target.labelled)
