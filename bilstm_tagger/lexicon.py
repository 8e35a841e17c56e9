"""Word clusters and word frequencies from a large corpus, looked up per form: what a treebank of 10k or 200k words
cannot teach about the words it never saw.

A :class:`Lexicon` maps a form to its Brown cluster (one of about a thousand classes of words that occur in the same
contexts) and to its log-frequency bucket, both case-sensitive, and looks up the lower-cased form too: "Bush" is
more frequent than "bush" in running text, "Opposition" much less than "opposition", which is the evidence a tagger
needs to tell a proper noun from a common noun at the start of a sentence or in a heading. The tagger embeds the
four ids (:class:`~bilstm_tagger.models.embedding.WordCharEmbedding`) beside the word and its characters.

The tables come from spaCy's lookups package (``spacy-lookups-data``, a dependency: ``{lang}_lexeme_cluster`` and
``{lang}_lexeme_prob``, clusters and frequencies for English, German and Spanish, frequencies for Greek), or from
your own form -> cluster and form -> log-probability maps (:meth:`Lexicon.from_tables`). A trained model keeps its
own copy in its directory (``lexicon.npz``: numpy arrays, no pickles), so tagging needs neither the package nor the
tables.

Forms are kept as sorted 64-bit hashes (blake2b) beside their ids: a million forms are a 13 MB file that loads in
about 10 ms. A form that is not in the lexicon reads another's ids only if their hashes collide, a chance of about
one in 10^13.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import importlib.metadata
import io
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

import numpy as np

from .errors import FileError
from .files import atomic_open

#: File of a model directory that holds its lexicon.
LEXICON_FILE = "lexicon.npz"
#: Frequency buckets: -log P(form) rounded, 1 to FREQUENCY_BUCKETS - 1 (rarer forms share the last); 0 = absent.
FREQUENCY_BUCKETS = 26
#: A UD file name's language code: ``en_ewt-ud-train.conllu`` -> "en" (what ``lexicon = "auto"`` reads).
UD_FILE_LANGUAGE = re.compile(r"^([a-z]{2,3})_[a-z0-9]+-")


def form_hashes(forms: Sequence[str]) -> np.ndarray:
    """64-bit hashes of forms, (U,) uint64, the same in every process and on every machine."""
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(f.encode("utf-8"), digest_size=8).digest(), "little") for f in forms),
        dtype=np.uint64, count=len(forms),
    )


class Lexicon:
    """Cluster and frequency ids of forms.

    Args:
        keys: (N,) sorted uint64 hashes of the forms (:func:`form_hashes`).
        clusters: (N,) each form's cluster id, 1 to ``n_clusters - 1`` (0: the form has none).
        frequencies: (N,) each form's frequency bucket, 1 to ``FREQUENCY_BUCKETS - 1`` (0: the form has none).
        n_clusters: cluster ids, 0 included (0 when the lexicon has no clusters).
        source: where the tables came from, for the model's meta.json.
    """

    def __init__(
        self, keys: np.ndarray, clusters: np.ndarray, frequencies: np.ndarray, *, n_clusters: int, source: str = ""
    ) -> None:
        self.keys, self.clusters, self.frequencies = keys, clusters, frequencies
        self.n_clusters = int(n_clusters)
        self.source = source
        self._bytes: Optional[bytes] = None  # to_bytes' result: a model is saved at every better epoch

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def from_tables(
        cls, clusters: Mapping[str, int], probabilities: Mapping[str, float], *, source: str = ""
    ) -> "Lexicon":
        """From a form -> Brown cluster map (any integers: each distinct one becomes an id) and a form -> natural
        log-probability map; either may be empty."""
        forms = sorted(set(clusters) | set(probabilities))
        names = sorted(set(clusters.values()))
        cluster_ids = {name: i for i, name in enumerate(names, start=1)}
        keys = form_hashes(forms)
        order = np.argsort(keys, kind="stable")
        cluster_column = np.array([cluster_ids.get(clusters.get(f), 0) for f in forms], dtype=np.int32)
        frequency_column = np.array(
            [_frequency_bucket(probabilities[f]) if f in probabilities else 0 for f in forms], dtype=np.int8
        )
        keys, cluster_column, frequency_column = keys[order], cluster_column[order], frequency_column[order]
        if len(keys) > 1 and bool((keys[1:] == keys[:-1]).any()):
            # two forms with one hash: keep the first of each run (the other form reads as the first's)
            first = np.concatenate([[True], keys[1:] != keys[:-1]])
            keys, cluster_column, frequency_column = keys[first], cluster_column[first], frequency_column[first]
        return cls(keys, cluster_column, frequency_column, n_clusters=len(names) + 1 if names else 0, source=source)

    @classmethod
    def from_spacy_lookups(cls, lang: str) -> Optional["Lexicon"]:
        """The tables of ``spacy-lookups-data`` for a language code; None when the package is not installed or has
        neither table for that language. Built once per version of the package and kept in the user's cache
        (``~/.cache/bilstm-tagger``, or ``$XDG_CACHE_HOME``): reading and hashing a million forms takes seconds,
        the kept arrays milliseconds."""
        try:
            import spacy_lookups_data
        except ImportError:
            return None
        source = f"spacy-lookups-data {importlib.metadata.version('spacy-lookups-data')}:{lang}"
        folder = _cache_folder()
        cached = None if folder is None else folder / (source.replace(" ", "-").replace(":", "-") + ".npz")
        if cached is not None and cached.is_file():
            try:
                return cls.load(cached)
            except (OSError, ValueError):
                pass  # a damaged cache file: built again below, and replaced
        tables = Path(spacy_lookups_data.__file__).parent / "data"
        clusters, probabilities = (
            _read_table(tables / f"{lang}_lexeme_{name}.json.gz") for name in ("cluster", "prob")
        )
        if not clusters and not probabilities:
            return None
        lexicon = cls.from_tables(clusters, probabilities, source=source)
        if cached is not None:
            with contextlib.suppress(FileError, OSError):  # no writable cache: built again next time
                cached.parent.mkdir(parents=True, exist_ok=True)
                with atomic_open(cached, "wb") as handle:
                    handle.write(lexicon.to_bytes())
        return lexicon

    def ids(self, forms: Sequence[str]) -> np.ndarray:
        """(U, 4) int64: each form's cluster id, its lower case's, its frequency bucket, its lower case's."""
        if not len(self.keys):
            return np.zeros((len(forms), 4), dtype=np.int64)
        # most forms are their own lower case: each distinct string is hashed and looked up once
        lowered = [f.lower() for f in forms]
        strings = list(dict.fromkeys([*forms, *lowered]))
        position = {string: i for i, string in enumerate(strings)}
        hashes = form_hashes(strings)
        rows = np.searchsorted(self.keys, hashes).clip(max=len(self.keys) - 1)
        found = self.keys[rows] == hashes
        clusters = np.where(found, self.clusters[rows], 0)
        frequencies = np.where(found, self.frequencies[rows], 0)
        own = np.fromiter(map(position.__getitem__, forms), dtype=np.int64, count=len(forms))
        lower = np.fromiter(map(position.__getitem__, lowered), dtype=np.int64, count=len(forms))
        return np.stack([clusters[own], clusters[lower], frequencies[own], frequencies[lower]], axis=1).astype(np.int64)

    def to_bytes(self) -> bytes:
        """The lexicon as the bytes of an ``.npz`` file (the model directory writes it atomically)."""
        if self._bytes is not None:
            return self._bytes
        buffer = io.BytesIO()
        np.savez(
            buffer, keys=self.keys, clusters=self.clusters, frequencies=self.frequencies,
            n_clusters=np.array(self.n_clusters), source=np.array(self.source),
        )
        self._bytes = buffer.getvalue()
        return self._bytes

    @classmethod
    def load(cls, path: Union[str, Path]) -> "Lexicon":
        """Read an ``.npz`` written from :meth:`to_bytes` (plain arrays: nothing is unpickled).

        Raises:
            OSError: for a file that cannot be read; ValueError: for one that is not such a lexicon.
        """
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = {"keys", "clusters", "frequencies", "n_clusters", "source"} - set(data.files)
                if missing:
                    raise ValueError(f"it has no {', '.join(sorted(missing))}")
                keys, clusters, frequencies = data["keys"], data["clusters"], data["frequencies"]
                n_clusters, source = int(data["n_clusters"]), str(data["source"])
        except (zipfile.BadZipFile, EOFError, KeyError) as exc:
            raise ValueError(f"not an .npz archive ({exc})") from None
        if not (len(keys) == len(clusters) == len(frequencies)) or keys.dtype != np.uint64:
            raise ValueError("its arrays do not match")
        if len(clusters) and (int(clusters.max()) >= max(n_clusters, 1) or int(frequencies.max()) >= FREQUENCY_BUCKETS):
            raise ValueError("ids beyond its own ranges")
        return cls(keys, clusters, frequencies, n_clusters=n_clusters, source=source)


def _cache_folder() -> Optional[Path]:
    """Where built lexicons are kept; None when the user has no home directory to find."""
    try:
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bilstm-tagger"
    except (RuntimeError, KeyError):
        return None


def _frequency_bucket(log_probability: float) -> int:
    return int(min(max(round(-log_probability), 1), FREQUENCY_BUCKETS - 1))


def _read_table(path: Path) -> dict:
    if not path.is_file():
        return {}
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def language_of(path: Union[str, Path]) -> Optional[str]:
    """The language code of a UD-named CoNLL-U file (``de_gsd-ud-dev.conllu`` -> "de"), else None."""
    match = UD_FILE_LANGUAGE.match(Path(path).name)
    return match.group(1) if match else None


#: ``[training] lexicon`` values besides a language code.
AUTO = "auto"


def training_lexicon(setting: Optional[str], train_file: Union[str, Path]) -> Optional[Lexicon]:
    """The lexicon a training run reads, from ``[training] lexicon``: None for null; for "auto", spaCy's lookups
    tables for the language of a UD-named training file when ``spacy-lookups-data`` is installed and has them
    (else None); for a language code, those tables; for a path ending in ``.npz``, a lexicon written from
    :meth:`Lexicon.to_bytes` (your own clusters: :meth:`Lexicon.from_tables`).

    Raises:
        ValueError: for a language code whose tables cannot be found, or a file that is not a lexicon (named in
            the message).
    """
    if setting is None:
        return None
    if setting == AUTO:
        lang = language_of(train_file)
        return None if lang is None else Lexicon.from_spacy_lookups(lang)
    if setting.endswith(".npz"):
        try:
            return Lexicon.load(setting)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{setting}: cannot be read as a lexicon ({exc})") from None
    lexicon = Lexicon.from_spacy_lookups(setting)
    if lexicon is None:
        raise ValueError(
            f"no lexicon for language {setting!r}: spaCy's lookups tables (spacy-lookups-data) have neither "
            f"{setting}_lexeme_cluster nor {setting}_lexeme_prob (use \"auto\", a lexicon .npz file, or null)"
        )
    return lexicon
