"""Tagging whole CoNLL-U files: read in chunks, tag, write back with only the tag columns changed."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import IO, Iterator, List, Optional, Union

from .atomic_write import atomic_open
from .corpus import Sentence, iter_conllu
from .tagger import Tagger

#: Sentences read, tagged and written at a time, so a large file never sits in memory whole.
CHUNK_SENTENCES = 2000


def _chunks(sentences: Iterator[Sentence], size: int) -> Iterator[List[Sentence]]:
    while True:
        chunk = list(itertools.islice(sentences, size))
        if not chunk:
            return
        yield chunk


def tag_conllu(tagger: Tagger, input_path: Union[str, Path], handle: IO[str]) -> int:
    """Tag ``input_path`` and write it to ``handle``; returns the number of words tagged.

    Every trained target's column is replaced; a column the model does not predict is written as ``_`` so that
    no gold annotation leaks into the output. Every other byte is copied unchanged.
    """
    words = 0
    for chunk in _chunks(iter_conllu(input_path), CHUNK_SENTENCES):
        predicted = tagger.tag([s.forms for s in chunk])
        for sentence, tags in zip(chunk, predicted):
            columns = {
                target: [label or "_" for label in tags.get(target, [None] * len(sentence))]
                for target in ("upos", "xpos", "feats")
            }
            handle.write(sentence.to_conllu(columns))
            words += len(sentence)
    return words


def predict_file(tagger: Tagger, *, input_path: Union[str, Path], output_path: Optional[Union[str, Path]] = None) -> int:
    """Tag a CoNLL-U file into ``output_path`` (written atomically) or, without one, to standard output.

    Returns:
        The number of words tagged.
    """
    if output_path is None:
        return tag_conllu(tagger, input_path, sys.stdout)
    with atomic_open(output_path, "w") as handle:
        return tag_conllu(tagger, input_path, handle)
