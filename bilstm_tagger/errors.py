"""Exception types the library raises for problems a user can fix.

The CLI turns every :class:`BilstmTaggerError` into a one-line message and a non-zero exit,
so anything raised with one of these types must already say what is wrong and where.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union


class BilstmTaggerError(Exception):
    """Base class of all errors meant to be shown to the user as they are."""


class CorpusError(BilstmTaggerError):
    """A CoNLL-U file that cannot be read: missing, undecodable or malformed.

    Args:
        path: the file.
        line: 1-based line number of the problem, or None for whole-file problems.
        problem: what is wrong, in words.
    """

    def __init__(self, path: Union[str, Path], line: Optional[int], problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


class ModelDirError(BilstmTaggerError):
    """A model directory with a missing, corrupt or inconsistent part."""


class ConfigError(BilstmTaggerError):
    """A training config that cannot be read or resolved."""
