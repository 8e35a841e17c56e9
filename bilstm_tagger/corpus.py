"""Reading and writing CoNLL-U treebanks.

A :class:`Sentence` is its syntactic words (integer IDs) with form, lemma, UPOS, XPOS and FEATS. Multiword-token
ranges (``3-4``), empty nodes (``5.1``) and comments are kept as raw lines so that a file can be written back with
only the tag columns changed, byte for byte, but they are never tagged.

What ``_`` means in each tag column is set by :mod:`~bilstm_tagger.targets` (UD's guidelines: "not
annotated" in UPOS and XPOS, read as ``None``; the empty feature set in FEATS, kept as ``"_"``).

Files are read as a stream (:func:`iter_conllu`); :func:`read_conllu` is the eager wrapper, as in ``conllu``'s
``parse``/``parse_incr``. IDs and comments are parsed with the ``conllu`` package; the checks that give each error
its file and line are ours.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from conllu.exceptions import ParseException
from conllu.parser import parse_comment_line, parse_id_value

from .errors import CorpusError
from .files import atomic_open
from .targets import TARGETS

#: The 17 universal POS tags of UD v2.
UPOS_TAGS = frozenset(
    "ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split()
)
N_COLUMNS = 10


@dataclass
class Word:
    """One syntactic word; each target's attribute holds its column as :meth:`Target.read
    <bilstm_tagger.targets.Target.read>` reads it (``upos``/``xpos``/``lemma`` None where the column is ``_``;
    ``feats`` keeps ``_``)."""

    id: int
    form: str
    upos: Optional[str]
    xpos: Optional[str]
    feats: str
    lemma: Optional[str]


@dataclass
class Sentence:
    """A sentence: its words plus every raw line (with line terminators) needed to write it back.

    Attributes:
        words: the syntactic words, in order.
        lines: all lines of the sentence, comments, ranges and empty nodes included, terminators kept.
        word_lines: for each word, the index of its line in ``lines``.
        sent_id: the ``# sent_id`` comment's value, if any.
        path: the file it came from.
        first_line: 1-based line number of its first line in that file.
    """

    words: List[Word]
    lines: List[str] = field(default_factory=list)
    word_lines: List[int] = field(default_factory=list)
    sent_id: Optional[str] = None
    path: str = "<memory>"
    first_line: int = 1

    @property
    def forms(self) -> List[str]:
        return [word.form for word in self.words]

    def __len__(self) -> int:
        return len(self.words)

    def to_conllu(self, tags: Optional[dict] = None) -> str:
        """The sentence as CoNLL-U text, with some tag columns replaced.

        Args:
            tags: maps a target name (a key of :data:`~bilstm_tagger.targets.TARGETS`) to one string per word
                (``_`` for an empty or None value); columns not named keep their original value. Every other byte of the sentence is unchanged.
        """
        lines = list(self.lines)
        columns = []
        for column, values in (tags or {}).items():
            if len(values) != len(self.words):
                raise ValueError(f"{len(values)} {column} values for a sentence of {len(self.words)} words")
            columns.append((TARGETS[column].column, values))
        if columns:
            # each word's line split and joined once, whatever the number of columns replaced
            for k, line_index in enumerate(self.word_lines):
                line = lines[line_index]
                body = line.rstrip("\r\n")
                cells = body.split("\t")
                for index, values in columns:
                    cells[index] = values[k] or "_"
                lines[line_index] = "\t".join(cells) + line[len(body):]
        return "".join(lines)


def normalise_feats(feats: str) -> str:
    """FEATS in UD's order (features sorted by name, case-insensitively), so that one feature set is one label.

    Raises:
        ValueError: for a feature without ``=``, with an empty name or value, or given twice.
    """
    if feats == "_":
        return feats
    names = {}
    for feature in feats.split("|"):
        name, equals, value = feature.partition("=")
        if not equals:
            raise ValueError(f"FEATS {feats!r}: feature {feature!r} has no '=' (features are Name=Value, joined by |)")
        if not name or not value:
            raise ValueError(f"FEATS {feats!r}: feature {feature!r} has an empty name or value")
        if name in names:
            raise ValueError(f"FEATS {feats!r}: feature {name!r} is given twice")
        names[name] = feature
    return "|".join(names[name] for name in sorted(names, key=lambda n: (n.lower(), n)))


#: (name, column, read) of every target: how a word line's cells become a :class:`Word`'s tags.
_READERS = tuple((target.name, target.column, target.read) for target in TARGETS.values())


@functools.lru_cache(maxsize=1 << 16)
def _normalised_feats(feats: str) -> str:
    """:func:`normalise_feats`, remembered: a treebank has a few thousand distinct FEATS strings, repeated in most of
    its words."""
    return normalise_feats(feats)


#: The path that names standard input (``predict MODEL - ...``, to tag what a pipe sends).
STDIN = "-"


def is_gzip(path: Union[str, Path]) -> bool:
    """Whether ``path`` names a gzip-compressed file (by its ``.gz`` suffix), which is read decompressed."""
    return Path(path).suffix.lower() == ".gz"


def raw_lines(path: Path) -> Iterator[bytes]:
    """The file's lines as bytes, terminators kept (what ``predict`` cuts into chunks without decoding them); for
    :data:`STDIN`, standard input's; for a ``.gz`` file, its decompressed lines."""
    if str(path) == STDIN:
        yield from sys.stdin.buffer
        return
    try:
        handle = gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")
    except FileNotFoundError:
        raise CorpusError(path, None, "no such file") from None
    except IsADirectoryError:
        raise CorpusError(path, None, "is a directory, not a CoNLL-U file") from None
    except PermissionError:
        raise CorpusError(path, None, "permission denied") from None
    with handle:
        try:
            yield from handle
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:  # only a .gz file raises these
            raise CorpusError(path, None, f"cannot be decompressed ({exc})") from None


def decoded_lines(path: Path, numbered: Iterable[Tuple[int, bytes]]) -> Iterator[Tuple[int, str]]:
    """Yield (line number, line with terminator) of ``path``'s numbered raw lines, failing with the line of the
    first invalid UTF-8 byte."""
    for number, raw in numbered:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorpusError(
                path, number, f"invalid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
            ) from None
        yield number, line


def _file_lines(path: Path) -> Iterator[Tuple[int, str]]:
    """(line number, line) of a whole file, decoded (what :func:`iter_conllu` and :func:`iter_text` read)."""
    return decoded_lines(path, enumerate(raw_lines(path), start=1))


class _SentenceBuilder:
    """Collects the lines of one sentence and checks its IDs as they come."""

    def __init__(self, path: Path, first_line: int) -> None:
        self.path = path
        self.first_line = first_line
        self.lines: List[str] = []
        self.words: List[Word] = []
        self.word_lines: List[int] = []
        self.sent_id: Optional[str] = None
        self.range_end = 0  # last word ID covered by the latest multiword range

    def fail(self, number: int, problem: str) -> None:
        raise CorpusError(self.path, number, problem)

    def add_comment(self, number: int, line: str) -> None:
        if self.words:
            self.fail(number, "comment line inside a sentence (comments must come before its first word)")
        try:
            pairs = parse_comment_line(line.rstrip("\r\n"))
        except ParseException:
            pairs = []
        for key, value in pairs:
            if key == "sent_id":
                self.sent_id = value
        self.lines.append(line)

    def add_token(self, number: int, line: str) -> None:
        cells = line.rstrip("\r\n").split("\t")
        if len(cells) != N_COLUMNS:
            self.fail(number, f"expected {N_COLUMNS} tab-separated columns, found {len(cells)}")
        raw_id = cells[0]
        expected = len(self.words) + 1
        # the usual ID, the next word's number as written, skips conllu's parser (a regular expression per call)
        if raw_id != str(expected):
            self._check_other_id(number, raw_id, expected)
            self.lines.append(line)
            return
        upos = cells[3]
        if upos != "_" and upos not in UPOS_TAGS:
            self.fail(number, f"UPOS {upos!r} is not one of the 17 UD tags ({', '.join(sorted(UPOS_TAGS))})")
        if not cells[1]:
            self.fail(number, "empty FORM column")
        tags = {name: read(cells[column]) for name, column, read in _READERS}
        try:
            tags["feats"] = _normalised_feats(tags["feats"])
        except ValueError as exc:
            self.fail(number, str(exc))
        self.words.append(Word(id=expected, form=cells[1], **tags))
        self.word_lines.append(len(self.lines))
        self.lines.append(line)

    def _check_other_id(self, number: int, raw_id: str, expected: int) -> None:
        """An ID other than the next word's number must be a multiword range or an empty node, in sequence."""
        try:
            token_id = parse_id_value(raw_id)
        except ParseException:
            token_id = None
        if token_id is None:
            self.fail(number, f"ID {raw_id!r} is not a word number, a range (3-4) or an empty node (5.1)")
        if not isinstance(token_id, tuple):
            self.fail(number, f"word ID {raw_id} out of sequence: expected {expected}")
        if token_id[1] == "-":
            start, end = token_id[0], token_id[2]
            if start != expected or end < start:
                self.fail(number, f"multiword range {raw_id} out of sequence: the next word is {expected}")
            self.range_end = end
        elif token_id[0] != expected - 1:
            self.fail(number, f"empty node {raw_id} out of sequence: it must follow word {expected - 1}")

    def finish(self, number: int) -> Sentence:
        if not self.words:
            self.fail(number, "sentence without words (only comments or multiword lines)")
        if self.range_end > len(self.words):
            self.fail(number, f"multiword range reaches word {self.range_end} but the sentence has {len(self.words)}")
        return Sentence(
            words=self.words,
            lines=self.lines,
            word_lines=self.word_lines,
            sent_id=self.sent_id,
            path=str(self.path),
            first_line=self.first_line,
        )


#: What reading a whole file with no sentence says (:func:`iter_conllu`, :func:`iter_text`).
NO_SENTENCES = {"conllu": "no sentences found (the file is empty)", "text": "no words found (the file is empty or blank)"}


def iter_conllu(path: Union[str, Path]) -> Iterator[Sentence]:
    """Stream the sentences of a CoNLL-U file.

    Args:
        path: the file (UTF-8).

    Yields:
        Each sentence, with its raw lines kept for writing back.

    Raises:
        CorpusError: naming the file, the line and the problem, for a missing file, undecodable bytes, a wrong
            number of columns, a non-numeric or out-of-sequence ID, a UPOS outside the 17 UD tags, or a file with
            no sentence at all.
    """
    path = Path(path)
    return conllu_sentences(path, _file_lines(path))


def conllu_sentences(path: Path, lines: Iterable[Tuple[int, str]], *, whole_file: bool = True) -> Iterator[Sentence]:
    """The sentences of ``path``'s numbered lines (all of them, or with ``whole_file=False`` a run of whole
    sentences cut from it, which may hold none); see :func:`iter_conllu`."""
    builder: Optional[_SentenceBuilder] = None
    number = 0
    n_sentences = 0
    bom = ""  # a byte-order mark opening the file: not parsed, but written back with the first sentence

    def finish(builder: _SentenceBuilder, number: int) -> Sentence:
        nonlocal bom
        sentence = builder.finish(number)
        sentence.lines[0], bom = bom + sentence.lines[0], ""
        return sentence

    for number, line in lines:
        if number == 1 and line.startswith("\ufeff"):
            bom, line = "\ufeff", line[1:]
        body = line.rstrip("\r\n")
        if not body.strip():
            if builder is not None:
                if builder.words or not all(l.startswith("#") for l in builder.lines):
                    builder.lines.append(line)
                    yield finish(builder, number)
                    n_sentences += 1
                    builder = None
                else:
                    # Comments followed by a blank line belong to no sentence; the validator rejects them too.
                    builder.fail(builder.first_line, "comment lines followed by a blank line, with no words")
            continue
        if builder is None:
            builder = _SentenceBuilder(path, number)
        if body.startswith("#"):
            builder.add_comment(number, line)
        else:
            builder.add_token(number, line)
    if builder is not None:
        yield finish(builder, number)
        n_sentences += 1
    if n_sentences == 0 and whole_file:
        raise CorpusError(path, None, NO_SENTENCES["conllu"])


def read_conllu(path: Union[str, Path]) -> List[Sentence]:
    """Read a whole CoNLL-U file; see :func:`iter_conllu` for what is checked."""
    return list(iter_conllu(path))


#: A word's columns after ID and FORM when every one is ``_``, in field order: passed by position, 1M words of text
#: stream in 0.5 s, not 1.0.
_UNTAGGED = tuple(TARGETS[column.name].read("_") for column in dataclasses.fields(Word)[2:])


def untagged_sentence(
    words: Sequence[str], *, comments: Sequence[str] = (), sent_id: Optional[str] = None, path: str = "<memory>",
    first_line: int = 1,
) -> Sentence:
    """A sentence of plain words, every column but ID and FORM ``_``, written after ``comments`` (whole lines)."""
    lines = [*comments, *(f"{i}\t{form}\t_\t_\t_\t_\t_\t_\t_\t_\n" for i, form in enumerate(words, start=1)), "\n"]
    return Sentence(
        words=[Word(i, form, *_UNTAGGED) for i, form in enumerate(words, start=1)],
        lines=lines,
        word_lines=list(range(len(comments), len(comments) + len(words))),
        sent_id=sent_id,
        path=path,
        first_line=first_line,
    )


def sentences_from_forms(forms: Sequence[Sequence[str]]) -> List[Sentence]:
    """Untagged sentences from plain word lists (for tagging text that has no CoNLL-U source)."""
    return [untagged_sentence(words) for words in forms]


def iter_text(path: Union[str, Path]) -> Iterator[Sentence]:
    """Stream pre-tokenized text as untagged sentences: one sentence per line, words separated by whitespace
    (blank lines are skipped). Each sentence gets ``# sent_id`` (its line number) and ``# text`` comments.

    Raises:
        CorpusError: for a missing or undecodable file, or one without any word.
    """
    path = Path(path)
    return text_sentences(path, _file_lines(path))


def text_sentences(path: Path, lines: Iterable[Tuple[int, str]], *, whole_file: bool = True) -> Iterator[Sentence]:
    """The sentences of ``path``'s numbered lines of text (see :func:`iter_text` and :func:`conllu_sentences`)."""
    n_sentences = 0
    for number, line in lines:
        if number == 1 and line.startswith("\ufeff"):
            line = line[1:]
        words = line.split()
        if not words:
            continue
        comments = [f"# sent_id = {number}\n", f"# text = {' '.join(words)}\n"]
        yield untagged_sentence(words, comments=comments, sent_id=str(number), path=str(path), first_line=number)
        n_sentences += 1
    if n_sentences == 0 and whole_file:
        raise CorpusError(path, None, NO_SENTENCES["text"])


def write_conllu(path: Union[str, Path], sentences: Iterable[Sentence], tags: Optional[Iterable[dict]] = None) -> None:
    """Write sentences atomically, replacing tag columns where ``tags`` gives them.

    Args:
        path: output file; replaced only once everything is written.
        sentences: the sentences, in order.
        tags: one dict per sentence mapping a column name to per-word values (see :meth:`Sentence.to_conllu`).
    """
    tag_iter = iter(tags) if tags is not None else None
    with atomic_open(path, "w") as handle:
        for sentence in sentences:
            handle.write(sentence.to_conllu(next(tag_iter) if tag_iter is not None else None))
