"""Lemmatizing tagged words: the training dictionary first (by (form, UPOS, FEATS) where FEATS changes the lemma,
else by (form, UPOS)), the character-level lemmatizer for the rest, each (form, UPOS) computed once.

A (form, UPOS) pair seen in training gets the lemma it had there most often (:class:`~bilstm_tagger.vocab.
LemmaVocabularies`' dictionary): on EWT test that answers most words, and more accurately than any model could
(irregular forms, lemmas that depend on the treebank's conventions). The other pairs are decoded by
:class:`~bilstm_tagger.models.lemmatizer.CharLemmatizer` in batches of similar length, and kept in a cache, so a
corpus's frequent unseen words (names, numbers, new terms) are decoded once.

On the CPU the model decodes step by step with its products in int8 on one fixed scale (``int8_steps``, as the
tagger's step loops: :meth:`~bilstm_tagger.models.lemmatizer.CharLemmatizer.predict_lemmas`), so a word's lemma
does not depend on which other words were decoded with it: with a cache per process, ``predict --processes 2``
decodes its words in other groups than one process does, and must write the same lemmas. ``precision="int8"`` (the
tagger's LSTM and linear layers quantized by ``torch.ao``, :func:`~bilstm_tagger.inference.runtime.quantized`)
quantizes activations per batch instead, so there a rare lemma can depend on the batch; without int8 the model
decodes in float32.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch

from ..models.batching import length_batches
from ..models.int8 import available as int8_products_available
from ..models.lemmatizer import apply_edit, make_lemma_batch
from .runtime import quantized
from ..serialization import TrainedLemmatizer
from ..threads import ThreadGovernor, running
from ..vocab import PAD_ID, UNK_ID

#: Padded characters per decoding batch (the beam multiplies it by beam_size). Batches group forms of similar length:
#: one 473-character token (a URL in EWT test) in a batch of 256 short words made it run 187 decoder steps for all
#: of them, 5.3 s of the 6.3 s that EWT test's 2,037 unseen pairs took.
DECODE_CHARS = 4096
#: (form, UPOS) pairs kept before the cache starts again from empty.
CACHE_CAPACITY = 200_000


class Lemmatization:
    """Lemmas for (form, UPOS) pairs with one trained lemmatizer.

    Args:
        lemmatizer: the trained lemmatizer (its model is moved to ``device`` and put in eval mode; it keeps its
            float32 weights).
        device: where the model runs.
        beam_size: hypotheses kept while decoding (None: the model's own).
        int8: decode with a ``torch.ao`` int8 copy (CPU only; see the module docstring).
        int8_steps: decode step by step with int8 products on one fixed scale (see the module docstring); None:
            on the CPU where torch has int8 products, unless ``int8``.
    """

    def __init__(
        self, lemmatizer: TrainedLemmatizer, device: torch.device, *, beam_size: Optional[int] = None,
        int8: bool = False, int8_steps: Optional[bool] = None,
    ) -> None:
        self.vocabs = lemmatizer.vocabs
        model = lemmatizer.model.to(device).eval()
        self.model = quantized(model) if int8 and device.type == "cpu" else model
        if int8_steps is None:
            int8_steps = device.type == "cpu" and int8_products_available()
        self.int8_steps = bool(int8_steps) and self.model is model
        self.device = device
        self.beam_size = beam_size
        self.cache: Dict[Tuple[str, Optional[str]], str] = {}
        self.feats_forms = frozenset(form for form, _, _ in self.vocabs.feats_dictionary)
        self.threads: Optional[ThreadGovernor] = None  # set by the Tagger (InferenceOptions.adapt_threads)

    def lemmatize(
        self, forms: Sequence[str], upos: Sequence[Optional[str]], feats: Optional[Sequence[Optional[str]]] = None
    ) -> List[str]:
        """One lemma per word, given its form and (predicted or gold) UPOS, and its FEATS when known (a (form,
        UPOS, FEATS) of the training file whose lemma is not its (form, UPOS)'s answers first)."""
        dictionary, cache = self.vocabs.dictionary, self.cache
        keys = list(zip(forms, upos))
        missing = [key for key in dict.fromkeys(keys) if key not in dictionary and key not in cache]
        if missing:
            if len(cache) + len(missing) > CACHE_CAPACITY:
                cache.clear()
            cache.update(zip(missing, self._decode(missing)))
        lemmas = [dictionary.get(key) or cache[key] for key in keys]
        if feats is not None and self.feats_forms:
            by_feats, feats_forms = self.vocabs.feats_dictionary, self.feats_forms
            # few forms (EWT train: 109), so most words are passed over in one comprehension
            for i in [i for i, form in enumerate(forms) if form in feats_forms]:
                lemmas[i] = by_feats.get((forms[i], upos[i], feats[i]), lemmas[i])
        return lemmas

    def _decode(self, keys: List[Tuple[str, Optional[str]]]) -> List[str]:
        """Lemmas of (form, UPOS) pairs from the model, forms of similar length together: the edit classifier's
        shortcuts where it has one, the decoder for the rest."""
        lemmas: List[str] = [""] * len(keys)
        tokens, vocabs = self.vocabs.chars.tokens, self.vocabs
        with torch.inference_mode():
            for chosen in length_batches([max(len(form), 1) for form, _ in keys], batch_words=DECODE_CHARS):
                forms = [keys[i][0] for i in chosen]
                batch = make_lemma_batch(forms, [keys[i][1] for i in chosen], vocabs).to(self.device)
                with running(self.threads):
                    edits, sequences = self.model.predict_lemmas(
                        batch, beam_size=self.beam_size, int8_steps=self.int8_steps
                    )
                for i, form, edit, ids in zip(chosen, forms, edits, sequences):
                    lemma = apply_edit(edit, form)
                    if lemma is None:
                        # a character the model cannot spell (unseen in training) or an empty lemma: the form
                        # itself, the most frequent lemma of an unseen word
                        bad = not ids or UNK_ID in ids or PAD_ID in ids
                        lemma = form if bad else "".join(tokens[c] for c in ids)
                    lemmas[i] = lemma
        return lemmas
