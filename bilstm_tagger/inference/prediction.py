"""Tagging whole files with a :class:`~bilstm_tagger.inference.tagger.Tagger`: CoNLL-U written back with only the
predicted columns changed, or pre-tokenized text written as CoNLL-U, streamed a chunk at a time, in one process or
several; or a gold file's tags scored against its own (``evaluate MODEL TEST``)."""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import io
import itertools
import multiprocessing
import re
import sys
import time
from pathlib import Path
from typing import IO, Iterator, List, Optional, Sequence, Tuple, Union

from tqdm.auto import tqdm

from ..corpus import (
    NO_SENTENCES, STDIN, Sentence, conllu_sentences, decoded_lines, is_gzip, raw_lines, read_conllu,
    text_sentences,
)
from ..errors import BilstmTaggerError, CorpusError
from ..evaluation.scoring import file_record, score
from ..files import atomic_open
from ..targets import LABELLED_TARGETS
from .options import InferenceOptions
from .tagger import Tagger, load_model, without_cycle_collection

#: Sentences read, tagged and written at a time, so a large file never sits in memory whole. Large enough that the
#: tagger sorts many sentences by length into full batches and decodes a chunk's unseen lemmas together: 1.0M words
#: of text take 22.3 s in one process against 23.8 s in chunks of 2,000 (bench/RESULTS.md, "Scale").
CHUNK_SENTENCES = 10000

#: The smallest chunk that ``--processes N`` cuts towards the end of a file (about 600 sentences of EWT text).
MIN_CHUNK_BYTES = 1 << 16

#: A chunk of input for a worker: its bytes, or where they are in the file, (offset, length).
Chunk = Union[bytes, Tuple[int, int]]

#: Chunks whose forms the parent of ``--processes N`` encodes before it forks the workers (see :func:`tag_conllu`).
AHEAD_CHUNKS = 2

#: Input formats of :func:`tag_conllu`: how numbered lines of a file are read as sentences.
INPUT_FORMATS = {"conllu": conllu_sentences, "text": text_sentences}


def input_format_of(path: Union[str, Path], requested: str = "auto") -> str:
    """The format to read ``path`` in: ``requested``, or for "auto" "text" for a ``.txt`` (or ``.txt.gz``) file,
    else "conllu"."""
    if requested != "auto":
        return requested
    path = Path(path)
    return "text" if (path.with_suffix("") if is_gzip(path) else path).suffix.lower() == ".txt" else "conllu"


def _plain_size(path: Path) -> Optional[int]:
    """The size of a regular, uncompressed file (what its chunks' bytes add up to), else None."""
    return path.stat().st_size if str(path) != STDIN and not is_gzip(path) and path.is_file() else None


def _raw_chunks(path: Path, input_format: str, size: int) -> Iterator[Tuple[int, bytes]]:
    """(number of its first line, bytes) of runs of ``size`` whole sentences of the file, undecoded: decoding,
    parsing and formatting are the workers' when there are several (in the parent they took 5.0 s of its CPU per 1M
    words of text, a ceiling of about 200k words/s for the whole pool). Several processes on a plain file get
    :func:`_byte_ranges` instead; this reads standard input and ``.gz`` files.

    A CoNLL-U sentence ends at a blank line after other lines; a text sentence is a line with a word. Lines blank
    only by Unicode (not ASCII) whitespace are not seen as blank here, which moves where chunks are cut, never what
    is read.
    """
    lines: List[bytes] = []
    first, sentences, in_sentence = 1, 0, False
    for number, raw in enumerate(raw_lines(path), start=1):
        lines.append(raw)
        blank = not raw.strip()
        if input_format == "text":
            ended = not blank
        else:
            ended, in_sentence = blank and in_sentence, not blank
        if ended:
            sentences += 1
            if sentences == size:
                yield first, b"".join(lines)
                lines, first, sentences = [], number + 1, 0
    if lines:
        yield first, b"".join(lines)


#: Where a chunk of each format may end: after a line (text), after a blank line (CoNLL-U; ASCII whitespace only).
_CHUNK_END = {"text": re.compile(rb"\n"), "conllu": re.compile(rb"\n[ \t\r\f\v]*\n")}
#: Bytes :func:`_byte_ranges` reads at a time.
RANGE_BLOCK = 1 << 20


def _byte_ranges(path: Path, input_format: str, size: int, *, processes: int) -> Iterator[Tuple[int, int, int]]:
    """(number of its first line, offset, length) of chunks of a plain file, for workers that read their chunk
    themselves (:func:`_tag_in_worker`): the parent of ``--processes N`` then neither loops over the file's
    lines nor sends their bytes, which on CoNLL-U took 0.3 s of its CPU per 1M words, from cores the workers need.

    Chunks hold about ``size`` sentences (their bytes estimated from the file's first block), and fewer towards the
    end (guided scheduling: a ``2 * processes``-th of the bytes not yet cut, at least :data:`MIN_CHUNK_BYTES`), so
    that the workers finish together instead of one tagging a last full chunk while the others wait. Each ends
    after a line (text) or a blank line (CoNLL-U), found by a regular expression; the last at the end of the file.
    """
    total = path.stat().st_size
    with open(path, "rb") as handle:
        end_of = _CHUNK_END[input_format]
        block = handle.read(RANGE_BLOCK)
        # sentences counted by the ends chunks are cut at (CRLF and blank lines of spaces included)
        per_sentence = len(block) / max(1, sum(1 for _ in end_of.finditer(block)))
        target = max(MIN_CHUNK_BYTES, int(per_sentence * size))
        start, first = 0, 1
        while start < total:
            want = start + min(target, max(MIN_CHUNK_BYTES, (total - start) // (2 * processes)))
            end = total
            position = max(start, want - 1)  # a chunk ends at the first end at or after ``want``
            while position < total:
                handle.seek(position)
                data = handle.read(RANGE_BLOCK + 64)
                found = end_of.search(data)
                if found is not None:
                    end = position + found.end()
                    break
                position += RANGE_BLOCK  # the 64 bytes of overlap keep an end that straddles two reads
            handle.seek(start)
            lines = handle.read(end - start).count(b"\n")
            yield first, start, end - start
            start, first = end, first + lines


def _chunk_bytes(path: Path, chunk: Chunk) -> bytes:
    """A chunk's bytes: as they are, or read from the file for a byte range (offset, length)."""
    if isinstance(chunk, bytes):
        return chunk
    offset, length = chunk
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read(length)


#: A CoNLL-U word line's FORM (not a multiword token's, whose ID is a range, nor an empty node's, a decimal), after
#: the newline before it (twice as fast as ``^`` with re.MULTILINE, which is tried at every byte).
_CONLLU_FORM = re.compile(rb"\n\d+\t([^\t\n]*)\t")


def _frequent_forms(input_format: str, chunks: Sequence[Tuple[int, bytes]]) -> List[str]:
    """The word forms of chunks (first line, bytes), most frequent first, found by a quick scan rather than by
    parsing: a form missed is encoded when a sentence meets it, and a malformed line is the workers' to report."""
    counts: collections.Counter = collections.Counter()
    for _, data in chunks:
        counts.update(data.split() if input_format == "text" else _CONLLU_FORM.findall(b"\n" + data))
    return [form.decode("utf-8", errors="replace") for form, _ in counts.most_common()]


def _tag_chunk(tagger: Tagger, path: Path, input_format: str, first: int, data: bytes) -> Tuple[List[str], int]:
    """A chunk of whole sentences (:func:`_raw_chunks`, :func:`_byte_ranges`) tagged: (each sentence's CoNLL-U text,
    number of words). One string per sentence, written one at a time: one large write into a pipe whose reader has
    gone (``predict ... | head``) can end without an error, and the output would be cut short in silence.

    Every predicted target's column is replaced; a tag column (UPOS, XPOS, FEATS) the model does not predict is
    written as ``_`` so that no gold tag leaks into the output; LEMMA is left as it is unless the model lemmatizes.
    Every other byte is copied unchanged.
    """
    numbered = decoded_lines(path, enumerate(io.BytesIO(data), start=first))
    # a chunk's sentences make no reference cycles, and the full collections that allocating their objects starts
    # took a third of the time reading CoNLL-U (bench/RESULTS.md, "Scale")
    with without_cycle_collection():
        sentences = list(INPUT_FORMATS[input_format](path, numbered, whole_file=False))
        if not sentences:
            return [], 0
        written = [*LABELLED_TARGETS, *(t for t in tagger.targets if t not in LABELLED_TARGETS)]
        texts = []
        for sentence, tags in zip(sentences, tagger.tag([s.forms for s in sentences])):
            columns = {target: [label or "_" for label in tags.get(target, [None] * len(sentence))] for target in written}
            texts.append(sentence.to_conllu(columns))
    return texts, sum(len(sentence) for sentence in sentences)


#: The tagger a worker process of :func:`tag_conllu` tags with (inherited from the parent when it forks).
_WORKER_TAGGER: Optional[Tagger] = None


def _tag_in_worker(path: Path, input_format: str, first: int, chunk: Chunk) -> Tuple[List[str], int]:
    """:func:`_tag_chunk` in a worker, which reads a chunk given as a byte range itself."""
    return _tag_chunk(_WORKER_TAGGER, path, input_format, first, _chunk_bytes(path, chunk))


class _Done:
    """A chunk tagged in this process (what a worker's ``Future`` is for a chunk tagged in another)."""

    def __init__(self, result: Tuple[List[str], int]) -> None:
        self._result = result

    def result(self) -> Tuple[List[str], int]:
        return self._result


@contextlib.contextmanager
def _chunk_tagger(tagger: Tagger, processes: int):
    """(submit, lookahead): ``submit(path, input_format, first, chunk)`` starts tagging a chunk and returns
    something whose ``result()`` gives :func:`_tag_chunk`'s result; at most ``lookahead`` chunks should be in
    flight. One process tags with ``tagger`` itself; more fork a pool whose workers tag with their copy of it, one
    torch thread each. A worker that dies (killed, out of memory) makes ``result()`` raise ``BrokenProcessPool``
    instead of waiting for ever, as ``multiprocessing.Pool`` does; so does every chunk submitted after that."""
    global _WORKER_TAGGER
    if processes <= 1:
        yield (lambda *chunk: _Done(_tag_chunk(tagger, *chunk))), 0
        return
    _WORKER_TAGGER = tagger
    # forked children inherit the loaded model (no reloading, pages shared) and start with one torch thread
    # (bilstm_tagger.threads), which is what several processes on the same cores want
    pool = concurrent.futures.ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"))

    def submit(*chunk) -> concurrent.futures.Future:
        try:
            return pool.submit(_tag_in_worker, *chunk)
        except concurrent.futures.BrokenExecutor as error:
            # a worker died before this chunk was handed out: the caller learns it from the chunks in input order,
            # the first of them whose result was lost, as it does for the chunks in flight
            lost: concurrent.futures.Future = concurrent.futures.Future()
            lost.set_exception(error)
            return lost

    try:
        yield submit, 2 * processes
    except BaseException:
        # an error, ^C or a closed output: stop the workers now rather than after the chunks they hold
        _terminate_workers(pool)
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        _WORKER_TAGGER = None


def _terminate_workers(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Terminate a process pool's workers (``terminate_workers`` from Python 3.14; before, its processes)."""
    terminate = getattr(pool, "terminate_workers", None)
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


class _Progress:
    """:func:`tag_conllu`'s progress bar: the input's bytes against its size (a percentage and the time left) for a
    regular file, its words for standard input, a pipe or a ``.gz`` file, and beside them the words tagged and
    words/s. ``file`` (standard error) must be a terminal: tqdm turns the bar off otherwise."""

    def __init__(self, path: Path, *, enabled: bool, file: Optional[IO[str]] = None) -> None:
        size = _plain_size(path) or 0
        self.by_bytes = size > 0
        self.words, self.start = 0, time.perf_counter()
        self.bar = tqdm(
            total=size or None, unit="B" if self.by_bytes else "w", unit_scale=True, desc="tagging",
            file=file or sys.stderr,  # standard error as it is now (tests replace it)
            disable=None if enabled else True,  # None: off when the file is not a terminal
        )

    def update(self, n_bytes: int, n_words: int) -> None:
        """Count a chunk written: ``n_bytes`` of input, ``n_words`` words."""
        self.words += n_words
        if not self.by_bytes:
            self.bar.update(n_words)
            return
        rate = self.words / max(time.perf_counter() - self.start, 1e-6)
        words, per_second = tqdm.format_sizeof(self.words), tqdm.format_sizeof(rate)
        self.bar.set_postfix_str(f"{words} words, {per_second} words/s", refresh=False)
        self.bar.update(n_bytes)

    def close(self) -> None:
        self.bar.close()


def tag_conllu(
    tagger: Tagger, input_path: Union[str, Path], handle: IO[str], *, input_format: str = "conllu",
    progress: bool = False, processes: int = 1,
) -> int:
    """Tag ``input_path`` and write it to ``handle`` as CoNLL-U, a chunk of sentences at a time (memory does not grow
    with the input); returns the number of words tagged.

    ``input_format`` is "conllu" or "text" (pre-tokenized: one sentence per line, words separated by spaces, written
    out as CoNLL-U with ``# sent_id`` and ``# text``). ``progress`` shows a bar on standard error (only when it is a
    terminal): the share of the file read and the time left, words and words/s (:class:`_Progress`). With
    ``processes`` > 1 (a tagger on the CPU), chunks are read, tagged and formatted by that many forked worker
    processes (POSIX), one torch thread each; the output is the same, in the same order. What is written is
    described at :func:`_tag_chunk`.
    """
    if processes < 1:
        raise ValueError(f"processes must be at least 1, not {processes}")
    if processes > 1 and tagger.device.type != "cpu":
        # a process that has started CUDA cannot fork workers that use it
        raise ValueError(f"processes > 1 forks CPU workers; this tagger runs on {tagger.device}")
    path = Path(input_path)
    words = 0
    bar = _Progress(path, enabled=progress)

    def write(first: int, n_bytes: int, result) -> int:
        try:
            texts, n_words = result.result()
        except concurrent.futures.BrokenExecutor:
            raise BilstmTaggerError(
                f"{path}: a worker process ended abruptly while tagging the chunk from line {first} (killed, or out "
                "of memory?), and tagging stopped there; try fewer --processes"
            ) from None
        for text in texts:
            handle.write(text)
        bar.update(n_bytes, n_words)
        return n_words

    chunks: Iterator[Tuple[int, int, Chunk]]  # (first line, bytes, the chunk)
    if processes > 1 and _plain_size(path) is not None:  # the workers read their chunks
        ranges = _byte_ranges(path, input_format, CHUNK_SENTENCES, processes=processes)
        chunks = ((first, length, (offset, length)) for first, offset, length in ranges)
    else:
        chunks = ((first, len(data), data) for first, data in _raw_chunks(path, input_format, CHUNK_SENTENCES))
    if processes > 1:
        # Each worker would encode the corpus's frequent forms itself, most of them in its first chunk: encoded
        # once here, with this process's threads, the forked workers inherit them (bench/RESULTS.md, "Scale").
        head = list(itertools.islice(chunks, AHEAD_CHUNKS))
        texts = [(first, _chunk_bytes(path, chunk)) for first, _, chunk in head]
        tagger.encode_ahead(_frequent_forms(input_format, texts))
        chunks = itertools.chain(head, chunks)
    with _chunk_tagger(tagger, processes) as (submit, lookahead):
        # a bounded number of chunks in flight, written in input order: memory does not grow with the input
        pending: collections.deque = collections.deque()
        for first, n_bytes, chunk in chunks:
            pending.append((first, n_bytes, submit(path, input_format, first, chunk)))
            while len(pending) > lookahead:
                words += write(*pending.popleft())
        while pending:
            words += write(*pending.popleft())
    bar.close()
    if words == 0:  # every sentence has a word
        raise CorpusError(path, None, NO_SENTENCES[input_format])
    return words


def predict_file(
    tagger: Tagger,
    *,
    input_path: Union[str, Path],
    output_path: Optional[Union[str, Path]] = None,
    input_format: str = "auto",
    progress: bool = False,
    processes: int = 1,
) -> int:
    """Tag a CoNLL-U or pre-tokenized text file (see :func:`tag_conllu`; "auto": by the file's suffix) into
    ``output_path`` (written atomically) or, without one, to standard output.

    Returns:
        The number of words tagged.
    """
    options = {"input_format": input_format_of(input_path, input_format), "progress": progress, "processes": processes}
    if output_path is None:
        return tag_conllu(tagger, input_path, sys.stdout, **options)
    with atomic_open(output_path, "w") as handle:
        return tag_conllu(tagger, input_path, handle, **options)


def evaluate_model(tagger: Tagger, test_path: Union[str, Path], *, tag_tables=("upos",)) -> dict:
    """Tag a gold CoNLL-U file's words with ``tagger`` and score the result (see
    :func:`~bilstm_tagger.evaluation.scoring.score`).

    The report also records the test file (name and sha256), the tokenization (gold) and the model's
    architecture and training files, so a figure can be traced to what produced it.
    """
    gold = read_conllu(test_path)
    predicted = tagger.tag([sentence.forms for sentence in gold])
    report = score(gold, predicted, train_forms=tagger.vocabs.train_forms, tag_tables=tag_tables)
    report["test_file"] = file_record(test_path)
    report["tokenization"] = "gold"
    report["system"] = {
        "architecture": tagger.meta.get("architecture"),
        "train_files": tagger.meta.get("train_files"),
        "targets": tagger.targets,
    }
    return report


def tag_gold(
    model_dir: Path, gold: Sequence[Sentence], *, options: Optional[InferenceOptions] = None
) -> Tuple[list, List[str], dict]:
    """A model directory as a system of a comparison (:data:`~bilstm_tagger.evaluation.comparison.ModelTagger`):
    its tags for ``gold``'s words, its training forms, and where it came from."""
    tagger = load_model(model_dir, options)
    predicted = tagger.tag([sentence.forms for sentence in gold])
    return predicted, tagger.vocabs.train_forms, {"model": str(model_dir), "architecture": tagger.meta.get("architecture")}
