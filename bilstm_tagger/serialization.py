"""The model directory: plain data only, checked part by part on loading.

A model directory holds::

    config.cfg         the resolved training config (confection), [model] naming the architecture
    vocab.json         word and character vocabularies with counts, every training form, and the (UPOS, XPOS)
                       and (UPOS, FEATS) pairs seen in training
    labels.json        the label list of each trained target
    model.safetensors  the weights, as the model's named arrays (:meth:`TaggerModel.to_arrays
                       <bilstm_tagger.models.base.TaggerModel.to_arrays>`)
    meta.json          versions, training files with sha256, best dev scores, date, and the sha256 of each part

and, for a model that lemmatizes (``lemma`` among its targets), two more parts::

    lemmatizer.json         its characters, UPOS labels and the training dictionary (form, UPOS) -> lemma, with
                            the (form, UPOS, FEATS) whose lemma differs (none in directories written before)
    lemmatizer.safetensors  its weights; ``[lemmatizer.model]`` in config.cfg names its architecture

and, for a model trained since it learns one, ``splitter.json``: the weights and threshold of its sentence
splitter (:class:`~bilstm_tagger.segmentation.SentenceSplitter`), for text that comes without sentence boundaries;
and, for a model trained with a lexicon, ``lexicon.npz``: its word clusters and frequencies
(:class:`~bilstm_tagger.lexicon.Lexicon`, numpy arrays read without pickle).

A directory is written whole beside the old one and swapped in (:func:`~bilstm_tagger.files.write_directory`), so
a reader or a crash sees the old model or the new one, never a mix. Loading checks every part against the checksums
in ``meta.json`` all the same (a directory copied by hand can be incomplete) and names the part that is wrong.
Nothing is ever unpickled, and nothing here needs torch: the arrays are numpy's.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np
from confection import Config
from safetensors import SafetensorError
from safetensors.numpy import load as load_arrays
from safetensors.numpy import save as save_arrays

from .errors import ModelDirError, config_error_text
from .files import sha256_file, write_directory
from .lexicon import LEXICON_FILE, Lexicon
from .models.base import TaggerModel, build_model
from .segmentation import SentenceSplitter
from .version import __version__
from .vocab import LemmaVocabularies, Vocabularies

#: The newest model format this version reads and writes. Format 2 adds ``splitter.json``, format 3
#: ``lexicon.npz``: a directory is written in the oldest format that has its parts, so that a version that reads
#: only older formats says to upgrade, and one that can read it does.
FORMAT_VERSION = 3
CONFIG_FILE = "config.cfg"
VOCAB_FILE = "vocab.json"
LABELS_FILE = "labels.json"
WEIGHTS_FILE = "model.safetensors"
META_FILE = "meta.json"
LEMMATIZER_FILE = "lemmatizer.json"
LEMMATIZER_WEIGHTS_FILE = "lemmatizer.safetensors"
SPLITTER_FILE = "splitter.json"
PARTS = (CONFIG_FILE, VOCAB_FILE, LABELS_FILE, WEIGHTS_FILE)
#: the parts of a model that lemmatizes, besides PARTS: both or neither
LEMMATIZER_PARTS = (LEMMATIZER_FILE, LEMMATIZER_WEIGHTS_FILE)
#: parts a model directory may have besides PARTS, each group whole or not at all
OPTIONAL_PARTS = (LEMMATIZER_PARTS, (SPLITTER_FILE,), (LEXICON_FILE,))
#: meta.json entries that save_model writes itself (the rest is what the caller passes)
WRITTEN_META = ("format_version", "architecture", "versions", "created", "parts")


@dataclass
class TrainedLemmatizer:
    """A trained lemmatizer: its vocabularies and dictionary, and its model
    (:class:`~bilstm_tagger.models.lemmatizer.CharLemmatizer`)."""

    vocabs: LemmaVocabularies
    model: Any


@dataclass
class TrainedModel:
    """What a model directory holds, in memory.

    Attributes:
        config: the resolved training config the model was built from.
        vocabs: vocabularies and label sets.
        model: the model of any family, with its trained weights.
        meta: the directory's ``meta.json`` (empty for a model not yet saved).
        lemmatizer: the lemmatizer, for a model that lemmatizes.
        splitter: the sentence splitter learnt from the training file (None for a directory written before).
    """

    config: Config
    vocabs: Vocabularies
    model: TaggerModel
    meta: dict = field(default_factory=dict)
    lemmatizer: Optional[TrainedLemmatizer] = None
    splitter: Optional[SentenceSplitter] = None


def library_versions() -> Dict[str, str]:
    """Versions recorded in ``meta.json`` (read from the installed packages' metadata, importing nothing)."""

    def installed(name: str) -> Optional[str]:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "bilstm_tagger": __version__,
        "torch": installed("torch"),
        "spacy": installed("spacy"),
        "python": platform.python_version(),
    }


def model_files(
    *,
    config: Config,
    vocabs: Vocabularies,
    model: TaggerModel,
    meta: Optional[dict] = None,
    lemmatizer: Optional[TrainedLemmatizer] = None,
    splitter: Optional[SentenceSplitter] = None,
) -> Dict[str, bytes]:
    """The files of a model directory (its parts, then ``meta.json``) as bytes; see :func:`save_model`."""
    vocab_data = vocabs.to_dict()
    labels = vocab_data.pop("labels")
    files = {
        CONFIG_FILE: config.to_str().encode("utf-8"),
        VOCAB_FILE: json.dumps(vocab_data, ensure_ascii=False).encode("utf-8"),
        LABELS_FILE: json.dumps(labels, ensure_ascii=False, indent=1).encode("utf-8"),
        WEIGHTS_FILE: _weights_bytes(model),
    }
    if lemmatizer is not None:
        files[LEMMATIZER_FILE] = json.dumps(lemmatizer.vocabs.to_dict(), ensure_ascii=False).encode("utf-8")
        files[LEMMATIZER_WEIGHTS_FILE] = _weights_bytes(lemmatizer.model)
    if splitter is not None:
        files[SPLITTER_FILE] = json.dumps(splitter.to_dict(), ensure_ascii=False).encode("utf-8")
    if vocabs.lexicon is not None:
        files[LEXICON_FILE] = vocabs.lexicon.to_bytes()
    full_meta = {
        "format_version": 3 if vocabs.lexicon is not None else 2 if splitter is not None else 1,
        "architecture": config["model"].get("@architectures"),
        "versions": library_versions(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **{key: value for key, value in (meta or {}).items() if key not in WRITTEN_META},
        "parts": {name: hashlib.sha256(content).hexdigest() for name, content in files.items()},
    }
    files[META_FILE] = meta_bytes(full_meta)
    return files


def meta_bytes(meta: dict) -> bytes:
    """``meta.json``'s content: readable JSON, one key a line."""
    return (json.dumps(meta, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _weights_bytes(model) -> bytes:
    return save_arrays({name: np.ascontiguousarray(array) for name, array in model.to_arrays().items()})


def save_model(
    directory: Union[str, Path],
    *,
    config: Config,
    vocabs: Vocabularies,
    model: TaggerModel,
    meta: Optional[dict] = None,
    lemmatizer: Optional[TrainedLemmatizer] = None,
    splitter: Optional[SentenceSplitter] = None,
) -> Path:
    """Write a model directory, replacing whatever was there as a whole; see the module docstring for its files.

    Args:
        directory: where to write.
        config: the resolved training config.
        vocabs: vocabularies and labels.
        model: the trained model (torch weights may be on any device).
        meta: extra entries for ``meta.json`` (training files, dev scores, ...); entries this function writes
            itself (:data:`WRITTEN_META`) are replaced.
        lemmatizer: the lemmatizer, for a model that lemmatizes.
        splitter: the sentence splitter, for a model that has one.

    Raises:
        FileError: for an operating-system error (see :func:`~bilstm_tagger.files.write_directory`).
    """
    files = model_files(
        config=config, vocabs=vocabs, model=model, meta=meta, lemmatizer=lemmatizer, splitter=splitter
    )
    return write_directory(directory, files)


def _read_json(directory: Path, name: str):
    try:
        return json.loads((directory / name).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelDirError(f"{directory / name}: corrupt JSON ({exc})") from None
    except OSError as exc:
        raise ModelDirError(f"{directory / name}: cannot be read ({exc.strerror or exc})") from None


def read_labels(directory: Union[str, Path]) -> Dict[str, list]:
    """The label lists of a model directory (``labels.json``), without loading the model."""
    return _read_json(Path(directory), LABELS_FILE)


def read_meta(directory: Union[str, Path]) -> dict:
    """The ``meta.json`` of a model directory, after checking that every part is present and intact."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelDirError(f"{directory}: no such model directory")
    missing = [name for name in (*PARTS, META_FILE) if not (directory / name).is_file()]
    if missing:
        raise ModelDirError(
            f"{directory}: not a complete model directory, missing {', '.join(missing)}"
            " (train one with `bilstm-tagger train`)"
        )
    meta = _read_json(directory, META_FILE)
    where = directory / META_FILE
    if not isinstance(meta, dict):
        raise ModelDirError(f"{where}: not a JSON object, as meta.json must be (the directory is damaged)")
    version = meta.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise ModelDirError(
            f"{where}: written in model format {version} by a newer bilstm-tagger; this version reads format "
            f"{FORMAT_VERSION}: upgrade bilstm-tagger to load it"
        )
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        raise ModelDirError(f"{where}: format_version {version!r}, this version reads 1 to {FORMAT_VERSION}")
    parts = meta.get("parts")
    if not isinstance(parts, dict) or not _known_parts(set(parts)):
        raise ModelDirError(
            f"{where}: 'parts' must give the sha256 of each of {', '.join(PARTS)} (and of "
            f"{' and '.join(LEMMATIZER_PARTS)} for a model that lemmatizes, of {SPLITTER_FILE} for one with a "
            f"sentence splitter, of {LEXICON_FILE} for one with a lexicon); without them the directory cannot be "
            "checked (damaged or edited by hand: train or save it again)"
        )
    missing = [name for name in parts if not (directory / name).is_file()]
    if missing:
        raise ModelDirError(f"{directory}: not a complete model directory, missing {', '.join(missing)}")
    for name in parts:
        expected = parts[name]
        if sha256_file(directory / name) != expected:
            raise ModelDirError(
                f"{directory / name}: does not match the checksum in meta.json (corrupt or partly written)"
            )
    return meta


def _known_parts(names: set) -> bool:
    """Whether ``names`` are PARTS plus whole groups of OPTIONAL_PARTS."""
    if not names >= set(PARTS):
        return False
    rest = names - set(PARTS)
    for group in OPTIONAL_PARTS:
        if rest & set(group):
            if not rest >= set(group):
                return False
            rest -= set(group)
    return not rest


def read_model(directory: Union[str, Path]) -> TrainedModel:
    """Read a model directory written by :func:`save_model` (weights on the CPU).

    Raises:
        ModelDirError: naming the missing, corrupt or inconsistent part.
    """
    directory = Path(directory)
    meta = read_meta(directory)
    try:
        config = Config().from_disk(directory / CONFIG_FILE, interpolate=False)
    except Exception as exc:  # confection raises several types for a malformed file
        raise ModelDirError(f"{directory / CONFIG_FILE}: cannot be read as a config ({config_error_text(exc)})") from None
    vocab_data = _read_json(directory, VOCAB_FILE)
    vocab_data["labels"] = _read_json(directory, LABELS_FILE)
    try:
        vocabs = Vocabularies.from_dict(vocab_data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelDirError(f"{directory / VOCAB_FILE}: unexpected content ({exc!r})") from None
    if LEXICON_FILE in meta["parts"]:
        try:
            vocabs.lexicon = Lexicon.load(directory / LEXICON_FILE)
        except (OSError, ValueError) as exc:
            raise ModelDirError(f"{directory / LEXICON_FILE}: not a lexicon ({exc})") from None
    try:
        model = build_model(config["model"], vocabs)
    except Exception as exc:  # confection's validation, or the family's own checks
        raise ModelDirError(f"{directory / CONFIG_FILE}: [model] cannot be built ({config_error_text(exc)})") from None
    _load_weights(directory / WEIGHTS_FILE, model)
    lemmatizer = None
    if LEMMATIZER_FILE in meta["parts"]:
        lemmatizer = read_lemmatizer(directory, config)
    splitter = None
    if SPLITTER_FILE in meta["parts"]:
        try:
            splitter = SentenceSplitter.from_dict(_read_json(directory, SPLITTER_FILE))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelDirError(f"{directory / SPLITTER_FILE}: unexpected content ({exc!r})") from None
    return TrainedModel(
        config=config, vocabs=vocabs, model=model, meta=meta, lemmatizer=lemmatizer, splitter=splitter
    )


def _load_weights(path: Path, model) -> None:
    """Load a ``.safetensors`` file into a model (any family, or the lemmatizer)."""
    try:
        arrays = load_arrays(path.read_bytes())
    except SafetensorError as exc:
        raise ModelDirError(f"{path}: corrupt weights ({exc})") from None
    try:
        model.load_arrays(arrays)
    except (ValueError, KeyError) as exc:
        raise ModelDirError(
            f"{path}: weights do not fit the model described by config.cfg and the "
            f"vocabularies ({str(exc).splitlines()[0] if str(exc) else repr(exc)})"
        ) from None


def read_lemmatizer(directory: Union[str, Path], config: Config) -> TrainedLemmatizer:
    """The lemmatizer of a model directory that has one (``[lemmatizer.model]`` of ``config`` names it).

    Raises:
        ModelDirError: naming the part that is wrong.
    """
    directory = Path(directory)
    try:
        vocabs = LemmaVocabularies.from_dict(_read_json(directory, LEMMATIZER_FILE))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelDirError(f"{directory / LEMMATIZER_FILE}: unexpected content ({exc!r})") from None
    try:
        model = build_model(config["lemmatizer"]["model"], vocabs)
    except Exception as exc:  # confection's validation
        raise ModelDirError(
            f"{directory / CONFIG_FILE}: [lemmatizer.model] cannot be built ({config_error_text(exc)})"
        ) from None
    _load_weights(directory / LEMMATIZER_WEIGHTS_FILE, model)
    return TrainedLemmatizer(vocabs=vocabs, model=model)
