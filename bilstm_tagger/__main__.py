"""``python -m bilstm_tagger``: the same as the ``bilstm-tagger`` command."""

from .cli import run

run()
