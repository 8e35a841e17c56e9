"""``python -m bilstm_tagger``: the same as the ``bilstm-tagger`` command."""

import sys

from .cli import main

sys.exit(main())
