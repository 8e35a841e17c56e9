"""The spaCy pipeline component ``bilstm_tagger``: a trained model directory as a pipe that sets UPOS, XPOS, FEATS.

Usage::

    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_tagger", config={"model": "path/to/model_dir"})
    doc = nlp("The quick brown fox jumps .")
    [(t.text, t.pos_, t.tag_, str(t.morph)) for t in doc]

``token.pos_`` gets the UPOS, ``token.tag_`` the XPOS and ``token.morph`` the UFeats (whatever the model was
trained to predict; the others are left alone). ``nlp.to_disk`` copies the model directory into the pipeline, so
``spacy.load`` needs nothing else.

**spaCy tokens and UD words.** The model tags UD *syntactic words*, and each spaCy token is passed to it as one
word. For a Doc built from a CoNLL-U file's words (``Doc(nlp.vocab, words=sentence.forms)``) that is exact. For
text run through spaCy's tokenizer it is as close as the tokenizer is to the treebank's word segmentation: English
contractions ("don't" -> "do", "n't") match EWT's multiword tokens, but where the tokenizer keeps a treebank
multiword token whole (French "du" = "de le", German "zum" = "zu dem") that token gets the tags of one word.
Whitespace tokens are not shown to the model and get spaCy's own ``SPACE`` / ``_SP``.

**Devices.** ``device = "auto"`` (the default) runs on the GPU when spaCy's ``prefer_gpu()``/``require_gpu()`` is
active and torch sees CUDA, else on the CPU; ``"cpu"`` and ``"cuda"`` force one. Predictions come back to the CPU
as Python strings, so no GPU array is ever stored on a Doc.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Union

import srsly
import torch
from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.pipeline.morphologizer import morphologizer_score
from spacy.pipeline.tagger import tagger_score
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import minibatch
from spacy.vocab import Vocab

from .errors import ModelDirError
from .serialization import PARTS, META_FILE, load_model, save_model
from .tagger import Tagger

DEFAULT_CONFIG = {"model": None, "device": "auto", "batch_size": 256}


def _torch_device(setting: str) -> torch.device:
    """The device for ``setting``, following thinc's current ops for "auto" (set by spacy.prefer_gpu())."""
    if setting == "auto":
        from thinc.api import get_current_ops

        on_gpu = type(get_current_ops()).__name__ == "CupyOps"
        return torch.device("cuda" if on_gpu and torch.cuda.is_available() else "cpu")
    from .device import resolve_device

    return resolve_device(setting)


class BiLSTMTaggerComponent(Pipe):
    """A spaCy pipe around a trained :class:`~bilstm_tagger.tagger.Tagger`.

    Args:
        vocab: the pipeline's vocabulary.
        name: the component's name in the pipeline.
        model: path of a model directory written by ``bilstm-tagger train``. May be None (or no longer exist)
            when the pipeline is loaded with ``spacy.load``, which restores the model from the pipeline's own copy.
        device: "auto", "cpu", "cuda" or "cuda:N".
        batch_size: documents per batch in :meth:`pipe`.
    """

    def __init__(
        self, vocab: Vocab, name: str = "bilstm_tagger", *, model: Optional[str], device: str, batch_size: int
    ) -> None:
        self.vocab = vocab
        self.name = name
        self.model_path = model
        self.device_setting = device
        self.batch_size = batch_size
        self.tagger: Optional[Tagger] = None
        if model is not None and Path(model).exists():
            self.tagger = load_model(model, device="cpu")

    @property
    def labels(self) -> tuple:
        """The UPOS labels (spaCy reads this while loading, so it is empty rather than an error without a model)."""
        if self.tagger is None:
            return ()
        return tuple(self.tagger.vocabs.labels.get("upos", ()))

    @property
    def label_data(self) -> Dict[str, List[str]]:
        """Every target's labels."""
        return {} if self.tagger is None else dict(self.tagger.vocabs.labels)

    def _require_tagger(self) -> Tagger:
        if self.tagger is None:
            where = f"the model directory {self.model_path!r} does not exist" if self.model_path else "no model was given"
            raise ModelDirError(
                f"bilstm_tagger component {self.name!r} has no model: {where}. "
                'Use nlp.add_pipe("bilstm_tagger", config={"model": "MODEL_DIR"}) with a directory written by '
                "`bilstm-tagger train`, or spacy.load() a pipeline saved with nlp.to_disk()."
            )
        device = _torch_device(self.device_setting)
        if self.tagger.device != device:
            self.tagger.to(device)
        return self.tagger

    def __call__(self, doc: Doc) -> Doc:
        """Tag one Doc in place."""
        self.set_annotations([doc], self.predict([doc]))
        return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: Optional[int] = None) -> Iterator[Doc]:
        """Tag a stream of Docs, ``batch_size`` at a time through the network; same tags as one-by-one calls."""
        error_handler = self.get_error_handler()
        for docs in minibatch(stream, size=batch_size or self.batch_size):
            try:
                self.set_annotations(docs, self.predict(docs))
            except Exception as exc:
                error_handler(self.name, self, docs, exc)
            yield from docs

    def predict(self, docs: List[Doc]) -> List[Dict[str, List[str]]]:
        """Tags for the non-whitespace tokens of each Doc: target -> one label per such token."""
        tagger = self._require_tagger()
        sentences = [[t.text for t in doc if not t.is_space] for doc in docs]
        return tagger.tag(sentences)

    def set_annotations(self, docs: List[Doc], tags: List[Dict[str, List[str]]]) -> None:
        """Write predicted UPOS to ``pos_``, XPOS to ``tag_`` and FEATS to ``morph``."""
        for doc, doc_tags in zip(docs, tags):
            upos = doc_tags.get("upos")
            xpos = doc_tags.get("xpos")
            feats = doc_tags.get("feats")
            i = 0
            for token in doc:
                if token.is_space:
                    token.pos_ = "SPACE"
                    token.tag_ = "_SP"
                    continue
                # None: a word the model left untagged (unconstrained seq2seq decoding); leave it unset
                if upos is not None and upos[i] is not None:
                    token.pos_ = upos[i]
                if xpos is not None and xpos[i] is not None:
                    token.tag_ = xpos[i]
                if feats is not None and feats[i] is not None:
                    token.set_morph(None if feats[i] == "_" else feats[i])
                i += 1

    def score(self, examples: Iterable[Example], **kwargs) -> Dict[str, float]:
        """spaCy-style scores: ``pos_acc``, ``tag_acc``, ``morph_acc`` and per-feature morph scores."""
        examples = list(examples)
        return {**tagger_score(examples, **kwargs), **morphologizer_score(examples, **kwargs)}

    def initialize(self, get_examples: Optional[Callable] = None, *, nlp: Optional[Language] = None) -> None:
        """Nothing to learn inside spaCy: check that a model is there."""
        self._require_tagger()

    # -- serialization: the pipe's folder is a complete model directory -------------------------------------------

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> None:
        tagger = self._require_tagger()
        meta = {k: v for k, v in tagger.meta.items() if k not in ("parts", "versions", "created", "format_version", "architecture")}
        save_model(path, config=tagger.config, vocabs=tagger.vocabs, network=tagger.network, meta=meta)

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> "BiLSTMTaggerComponent":
        self.tagger = load_model(path, device="cpu")
        return self

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            self.to_disk(tmp)
            return srsly.msgpack_dumps({name: (Path(tmp) / name).read_bytes() for name in (*PARTS, META_FILE)})

    def from_bytes(self, data: bytes, *, exclude: Iterable[str] = tuple()) -> "BiLSTMTaggerComponent":
        files = srsly.msgpack_loads(data)
        with tempfile.TemporaryDirectory() as tmp:
            for name, content in files.items():
                (Path(tmp) / Path(name).name).write_bytes(content)
            return self.from_disk(tmp)


@Language.factory(
    "bilstm_tagger",
    default_config=DEFAULT_CONFIG,
    assigns=["token.pos", "token.tag", "token.morph"],
    default_score_weights={"pos_acc": 0.4, "tag_acc": 0.3, "morph_acc": 0.3},
)
def make_bilstm_tagger(
    nlp: Language, name: str, model: Optional[str], device: str, batch_size: int
) -> BiLSTMTaggerComponent:
    """spaCy factory for the ``bilstm_tagger`` component (see :class:`BiLSTMTaggerComponent`)."""
    return BiLSTMTaggerComponent(
        nlp.vocab, name, model=str(model) if model is not None else None, device=device, batch_size=batch_size
    )
