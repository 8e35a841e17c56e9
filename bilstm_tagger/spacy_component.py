"""The spaCy pipeline component ``bilstm_tagger``: a trained model directory as a pipe that sets UPOS, XPOS, FEATS
and lemmas.

Usage::

    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_tagger", config={"model": "path/to/model_dir"})
    doc = nlp("The quick brown fox jumps .")
    [(t.text, t.pos_, t.tag_, str(t.morph), t.lemma_) for t in doc]

``token.pos_`` gets the UPOS, ``token.tag_`` the XPOS, ``token.morph`` the UFeats and ``token.lemma_`` the lemma
(whatever the model was trained to predict; the others are left alone). ``nlp.to_disk`` copies the model directory into the pipeline, so
``spacy.load`` needs nothing else.

**Documents.** Each sentence of a Doc is tagged on its own (:mod:`~bilstm_tagger.segmentation`): the Doc's
sentences when something set them, else those of the sentence splitter the model learnt from its training file
(a punctuation rule for a model directory written before it had one), run over each paragraph of the text on its
own: a blank line ends a sentence, a single line break does not.

**spaCy tokens and UD words.** The model tags UD *syntactic words*, and each spaCy token is passed to it as one
word. For a Doc built from a CoNLL-U file's words (``Doc(nlp.vocab, words=sentence.forms)``) that is exact. For
text run through spaCy's tokenizer it is as close as the tokenizer is to the treebank's word segmentation: English
contractions ("don't" -> "do", "n't") match EWT's multiword tokens, but where the tokenizer keeps a treebank
multiword token whole (French "du" = "de le", German "zum" = "zu dem") that token gets the tags of one word.
Whitespace tokens are not shown to the model and get spaCy's own ``SPACE`` / ``_SP``.

**Settings** are :class:`~bilstm_tagger.inference.options.InferenceOptions`, checked when the component is made
and against the model's family when it is loaded. ``device = "auto"`` (the default) runs on the GPU when spaCy's
``prefer_gpu()``/``require_gpu()`` is active and torch sees CUDA, else on the CPU; ``"cpu"`` and ``"cuda"`` force
one. ``precision = "int8"`` tags on the CPU with a dynamically quantized copy of the network; ``"bf16"`` or
``"fp16"`` under autocast (for GPUs; bf16 also on CPUs with bf16 matrix units, such as Intel's AMX).
``beam_size`` and ``constrain_length`` change a seq2seq model's decoding (null: the model's own).
The component takes strings from the Docs and gives label ids back to the CPU before writing them with
``Doc.from_array``, so no cupy or torch GPU array ever reaches a Doc.

**Speed.** Each form's character encoding (and the BiLSTM's first-layer input projection) is computed once and
kept (:class:`~bilstm_tagger.inference.form_cache.FormCache`), sentences are sorted by length into batches inside
:meth:`pipe` (which takes Docs ``batch_size`` at a time, more while they hold fewer than 50,000 words), and labels are
written as arrays of precomputed hashes, not token by token.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Union

import numpy as np
import srsly
from spacy.attrs import IDS as ATTRIBUTE_IDS
from spacy.attrs import IS_SPACE, LEMMA
from spacy.language import Language
from spacy.parts_of_speech import IDS as POS_IDS
from spacy.pipeline import Pipe
from spacy.pipeline.morphologizer import morphologizer_score
from spacy.pipeline.lemmatizer import lemmatizer_score
from spacy.pipeline.tagger import tagger_score
from spacy.tokens import Doc
from spacy.training import Example
from spacy.vocab import Vocab

from .errors import ModelDirError
from .inference.options import InferenceOptions
from .inference.tagger import Tagger
from .segmentation import sentence_spans, spans_from_starts, spans_within_paragraphs
from .serialization import LABELS_FILE, META_FILE, TrainedModel, read_labels, read_meta, read_model, save_model
from .targets import TARGETS
from .threads import one_torch_thread_in_forked_children

DEFAULT_CONFIG = {
    "model": None,
    "device": "auto",
    "batch_size": 256,
    "precision": "fp32",
    "beam_size": None,
    "constrain_length": None,
    "consistent_tags": None,
    "lemmatize": True,
    "adapt_threads": True,
    "int8_steps": None,
}
#: Doc attribute written for each target
ATTRIBUTES = {name: ATTRIBUTE_IDS[target.spacy_attribute] for name, target in TARGETS.items()}
SPACE_POS = POS_IDS["SPACE"]


#: Words the component tags together in :meth:`BiLSTMTaggerComponent.pipe` at least (when the stream has them, and
#: up to 8 times ``batch_size`` Docs): sentences are sorted by length across all of them, so one-sentence Docs make
#: fuller, less padded batches. EWT train tagged once, 1 thread: 47.8k words/s tagging 1,000 sentences at a time,
#: 53.2k 4,000 at a time (bench/RESULTS.md).
MIN_PIPE_WORDS = 50_000


def _doc_batches(stream: Iterable[Doc], batch_size: int) -> Iterator[List[Doc]]:
    """Docs in batches of ``batch_size``, grown up to 8 times that while they hold fewer than MIN_PIPE_WORDS words."""
    batch: List[Doc] = []
    words = 0
    for doc in stream:
        batch.append(doc)
        words += len(doc)
        if len(batch) >= batch_size and (words >= MIN_PIPE_WORDS or len(batch) >= 8 * batch_size):
            yield batch
            batch, words = [], 0
    if batch:
        yield batch


def _paragraph_starts(doc: Doc) -> List[int]:
    """Indices among a Doc's non-whitespace tokens of the words that start a paragraph (0 left out): those after
    whitespace tokens holding two line breaks or more, a blank line. spaCy's tokenizer keeps a word's trailing
    whitespace to one space, so every line break is in a whitespace token. A single line break is not counted:
    hard-wrapped text has one inside sentences (EWT dev as text wrapped at 80 columns: UPOS 94.41 split at blank
    lines, 93.83 at every line break; bench/RESULTS.md, "Scale")."""
    starts: List[int] = []
    words = line_breaks = 0
    for token in doc:
        if token.is_space:
            line_breaks += token.text.count("\n")
            continue
        if words and line_breaks >= 2:
            starts.append(words)
        words += 1
        line_breaks = 0
    return starts


def _spacy_uses_gpu() -> bool:
    """Whether spaCy was asked for the GPU (``spacy.prefer_gpu()``/``require_gpu()`` set thinc's ops)."""
    from thinc.api import get_current_ops

    return type(get_current_ops()).__name__ == "CupyOps"


class BiLSTMTaggerComponent(Pipe):
    """A spaCy pipe around a trained :class:`~bilstm_tagger.inference.tagger.Tagger`.

    Args:
        vocab: the pipeline's vocabulary.
        name: the component's name in the pipeline.
        model: path of a model directory written by ``bilstm-tagger train``. May be None (or no longer exist)
            when the pipeline is loaded with ``spacy.load``, which restores the model from the pipeline's own copy.
        device: "auto", "cpu", "cuda" or "cuda:N".
        batch_size: documents per batch in :meth:`pipe`.
        precision: "fp32", "int8", "bf16" or "fp16" (see the module docstring).
        beam_size: seq2seq models: beam width (None: the model's own).
        constrain_length: seq2seq models: exactly one tag per word (None: the model's own).
        consistent_tags: BiLSTM/RNN models: UPOS chosen together with XPOS and FEATS among the pairs seen in
            training (None: where the model records them; False: each head on its own).
        lemmatize: set ``token.lemma_`` when the model lemmatizes (False: leave lemmas alone, faster).
        adapt_threads: on the CPU, drop to one torch thread while another process takes a core (see
            ``InferenceOptions.adapt_threads``; False: always torch's thread count).
        int8_steps: BiLSTM models on the CPU: the step-by-step recurrences (and the lemmatizer's) multiply their
            states in int8 on a fixed scale (None: where it applies; False: float32; see
            ``InferenceOptions.int8_steps``).

    Raises:
        OptionError: for an option with a wrong value.

    The model is read when first needed, so ``spacy.load``, which restores it from the pipeline's own copy,
    reads it once.
    """

    def __init__(
        self,
        vocab: Vocab,
        name: str = "bilstm_tagger",
        *,
        model: Optional[str],
        device: str,
        batch_size: int,
        precision: str = "fp32",
        beam_size: Optional[int] = None,
        constrain_length: Optional[bool] = None,
        consistent_tags: Optional[bool] = None,
        lemmatize: bool = True,
        adapt_threads: bool = True,
        int8_steps: Optional[bool] = None,
    ) -> None:
        self.vocab = vocab
        self.name = name
        self.model_path = model
        self.batch_size = batch_size
        self.options = InferenceOptions(
            device=device, precision=precision, beam_size=beam_size, constrain_length=constrain_length,
            consistent_tags=consistent_tags, lemmatize=lemmatize, adapt_threads=adapt_threads,
            int8_steps=int8_steps,
        )
        self._tagger: Optional[Tagger] = None
        self._hashes: Dict[str, np.ndarray] = {}
        # nlp.pipe(n_process=N) forks its workers, usually before the model is loaded (on first use): each worker
        # loads its own and must tag with one torch thread, not torch's default of one per core
        one_torch_thread_in_forked_children()

    @property
    def tagger(self) -> Optional[Tagger]:
        """The model, read from ``model`` on first use; None when there is none."""
        if self._tagger is None and self.model_path is not None and Path(self.model_path).exists():
            self._set_model(read_model(self.model_path))
        return self._tagger

    def _set_model(self, trained: TrainedModel) -> None:
        self._tagger = Tagger(trained, self.options, use_gpu=_spacy_uses_gpu())
        # hashes of every label as stored on a token; filled at the first set_annotations
        self._hashes = {}

    @property
    def labels(self) -> tuple:
        """The UPOS labels (spaCy reads this while loading, so it is empty rather than an error without a model)."""
        return tuple(self.label_data.get("upos", ()))

    @property
    def label_data(self) -> Dict[str, List[str]]:
        """Every target's labels (read from the model directory's labels.json until the model is loaded, since
        spaCy asks for them while ``spacy.load`` is still restoring the pipeline's own copy)."""
        if self._tagger is not None:
            return dict(self._tagger.vocabs.labels)
        if self.model_path is not None and (Path(self.model_path) / LABELS_FILE).is_file():
            return read_labels(self.model_path)
        return {}

    def _require_tagger(self) -> Tagger:
        if self.tagger is None:
            where = f"the model directory {self.model_path!r} does not exist" if self.model_path else "no model was given"
            raise ModelDirError(
                f"bilstm_tagger component {self.name!r} has no model: {where}. "
                'Use nlp.add_pipe("bilstm_tagger", config={"model": "MODEL_DIR"}) with a directory written by '
                "`bilstm-tagger train`, or spacy.load() a pipeline saved with nlp.to_disk()."
            )
        use_gpu = _spacy_uses_gpu()
        if self._tagger.use_gpu != use_gpu:  # spacy.prefer_gpu() was called since: follow it on "auto"
            self._tagger = Tagger(self._tagger.trained, self.options, use_gpu=use_gpu)
        return self._tagger

    def __call__(self, doc: Doc) -> Doc:
        """Tag one Doc in place."""
        self.set_annotations([doc], self.predict([doc]))
        return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: Optional[int] = None) -> Iterator[Doc]:
        """Tag a stream of Docs, at least ``batch_size`` at a time (more while they hold fewer than
        :data:`MIN_PIPE_WORDS` words); same tags as one-by-one calls."""
        error_handler = self.get_error_handler()
        for docs in _doc_batches(stream, batch_size or self.batch_size):
            try:
                self.set_annotations(docs, self.predict(docs))
            except Exception as exc:
                error_handler(self.name, self, docs, exc)
            yield from docs

    def predict(self, docs: List[Doc]) -> List[Dict[str, list]]:
        """Label ids for the non-whitespace tokens of each Doc: target -> one id per such token (-1: untagged);
        for a model that lemmatizes, ``lemma`` -> one lemma string per such token.

        Each sentence of a Doc is tagged on its own, as the model was trained: the Doc's sentences when something
        set them (a parser, senter or sentencizer), else those of the model's sentence splitter, else (a model
        directory without one) those of the punctuation rule (:mod:`~bilstm_tagger.segmentation`), run over each
        paragraph of the text on its own (a blank line ends a paragraph).
        """
        tagger = self._require_tagger()
        split = tagger.trained.splitter.spans if tagger.trained.splitter is not None else sentence_spans
        sentences: List[List[str]] = []
        per_doc: List[int] = []
        for doc in docs:
            tokens = [t for t in doc if not t.is_space]
            words = [t.text for t in tokens]
            if doc.has_annotation("SENT_START"):
                spans = spans_from_starts([t.is_sent_start for t in tokens])
            elif len(tokens) < len(doc):  # whitespace tokens: a blank line among them ends a paragraph
                spans = spans_within_paragraphs(split, words, _paragraph_starts(doc))
            else:
                spans = split(words)
            sentences.extend(words[start:end] for start, end in spans)
            per_doc.append(len(spans))
        tagged = tagger.tag_ids(sentences)
        if tagger.lemmatization is not None:
            for ids, lemmas in zip(tagged, tagger.lemmatize_tagged(sentences, tagged)):
                ids["lemma"] = lemmas
        results, first = [], 0
        for count in per_doc:
            parts = tagged[first : first + count]
            results.append({key: [value for part in parts for value in part[key]] for key in tagger.targets})
            first += count
        return results

    def _label_hashes(self) -> Dict[str, np.ndarray]:
        """Per target, the value a token stores for each label id (POS enum, TAG and MORPH string hashes); labels
        a factored FEATS head composed since the last call are added."""
        stored = {
            "POS": lambda label: POS_IDS.get(label, 0),
            "TAG": self.vocab.strings.add,
            "MORPH": lambda label: self.vocab.morphology.add("" if label == "_" else label),
        }
        for target, labels in self.tagger.labels.items():
            known = self._hashes.get(target, np.zeros(0, dtype=np.uint64))
            if len(known) < len(labels):
                value = stored[TARGETS[target].spacy_attribute]
                added = np.array([value(label) for label in labels[len(known):]], dtype=np.uint64)
                self._hashes[target] = np.concatenate([known, added])
        return self._hashes

    def set_annotations(self, docs: List[Doc], tag_ids: List[Dict[str, list]]) -> None:
        """Write predicted UPOS to ``pos``, XPOS to ``tag``, FEATS to ``morph`` and lemmas to ``lemma``
        (whitespace tokens get spaCy's ``SPACE`` / ``_SP`` and keep their lemma; a word left untagged keeps what it
        had)."""
        if tag_ids and "lemma" in tag_ids[0]:
            self._set_lemmas(docs, [ids["lemma"] for ids in tag_ids])
        hashes = self._label_hashes()
        targets = [target for target in ATTRIBUTES if target in hashes]
        if not targets or not docs:
            return
        attrs = [ATTRIBUTES[target] for target in targets]
        # every Doc's labels at once: (words in the batch, targets) ids, then token values by table lookup
        ids = np.array([[k for d in tag_ids for k in d[target]] for target in targets], dtype=np.int64).T
        values = np.stack([hashes[t][ids[:, j]] for j, t in enumerate(targets)], axis=1).reshape(-1, len(targets))
        untagged = bool((ids < 0).any())
        start = 0
        for doc, doc_ids in zip(docs, tag_ids):
            n = len(doc_ids[targets[0]])
            if n == len(doc) and not untagged:  # no whitespace token, every word tagged: write the rows as they are
                if n:
                    doc.from_array(attrs, values[start : start + n])
            elif len(doc):
                self._set_with_spaces(doc, attrs, targets, ids[start : start + n], values[start : start + n])
            start += n

    def _set_lemmas(self, docs: List[Doc], lemmas: List[List[str]]) -> None:
        add = self.vocab.strings.add
        for doc, doc_lemmas in zip(docs, lemmas):
            words = [token for token in doc if not token.is_space]
            if len(words) == len(doc):
                doc.from_array([LEMMA], np.array([add(lemma) for lemma in doc_lemmas], dtype=np.uint64))
            else:
                for token, lemma in zip(words, doc_lemmas):
                    token.lemma_ = lemma

    def _set_with_spaces(self, doc: Doc, attrs, targets, ids: np.ndarray, values: np.ndarray) -> None:
        """set_annotations for a Doc with whitespace tokens or untagged words: keep what those tokens have."""
        space_values = {"POS": SPACE_POS, "TAG": self.vocab.strings.add("_SP")}
        space = {t: space_values[TARGETS[t].spacy_attribute] for t in targets if TARGETS[t].spacy_attribute in space_values}
        current = doc.to_array(attrs).reshape(len(doc), len(attrs))
        words = doc.to_array([IS_SPACE]).reshape(len(doc)) == 0
        word_values = current[words]
        tagged = ids >= 0
        word_values[tagged] = values[tagged]
        current[words] = word_values
        for column, target in enumerate(targets):
            if target in space:
                current[~words, column] = space[target]
        doc.from_array(attrs, current)

    def score(self, examples: Iterable[Example], **kwargs) -> Dict[str, float]:
        """spaCy-style scores: ``pos_acc``, ``tag_acc``, ``morph_acc``, per-feature morph scores and ``lemma_acc``."""
        examples = list(examples)
        return {
            **tagger_score(examples, **kwargs), **morphologizer_score(examples, **kwargs),
            **lemmatizer_score(examples, **kwargs),
        }

    def initialize(self, get_examples: Optional[Callable] = None, *, nlp: Optional[Language] = None) -> None:
        """Nothing to learn inside spaCy: check that a model is there."""
        self._require_tagger()

    # -- serialization: the pipe's folder is a complete model directory -------------------------------------------

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> None:
        tagger = self._require_tagger()
        save_model(
            path, config=tagger.config, vocabs=tagger.vocabs, model=tagger.model, meta=tagger.meta,
            lemmatizer=tagger.trained.lemmatizer, splitter=tagger.trained.splitter,
        )

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> "BiLSTMTaggerComponent":
        self._set_model(read_model(path))
        return self

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            self.to_disk(tmp)
            names = (*read_meta(tmp)["parts"], META_FILE)
            return srsly.msgpack_dumps({name: (Path(tmp) / name).read_bytes() for name in names})

    def from_bytes(self, data: bytes, *, exclude: Iterable[str] = tuple()) -> "BiLSTMTaggerComponent":
        files = srsly.msgpack_loads(data)
        with tempfile.TemporaryDirectory() as tmp:
            for name, content in files.items():
                (Path(tmp) / Path(name).name).write_bytes(content)
            return self.from_disk(tmp)


@Language.factory(
    "bilstm_tagger",
    default_config=DEFAULT_CONFIG,
    assigns=[f"token.{target.spacy_attribute.lower()}" for target in TARGETS.values()],
    default_score_weights={"pos_acc": 0.4, "tag_acc": 0.3, "morph_acc": 0.3},
)
def make_bilstm_tagger(
    nlp: Language,
    name: str,
    model: Optional[str],
    device: str,
    batch_size: int,
    precision: str,
    beam_size: Optional[int],
    constrain_length: Optional[bool],
    consistent_tags: Optional[bool],
    lemmatize: bool,
    adapt_threads: bool,
    int8_steps: Optional[bool],
) -> BiLSTMTaggerComponent:
    """spaCy factory for the ``bilstm_tagger`` component (see :class:`BiLSTMTaggerComponent`)."""
    return BiLSTMTaggerComponent(
        nlp.vocab,
        name,
        model=str(model) if model is not None else None,
        device=device,
        batch_size=batch_size,
        precision=precision,
        beam_size=beam_size,
        constrain_length=constrain_length,
        consistent_tags=consistent_tags,
        lemmatize=lemmatize,
        adapt_threads=adapt_threads,
        int8_steps=int8_steps,
    )
