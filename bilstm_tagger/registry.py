"""The function registry that ``.cfg`` files refer to with ``@architectures = "bilstm_tagger.<Thing>.v<N>"``.

Built on confection like thinc's and spaCy's. Architectures are found through the ``bilstm_tagger_architectures``
entry point group, ours included (setup.cfg), so that a config imports only its own family's module (an HMM needs
no torch) and another package can add a model family without editing this one; each family's module also
registers itself when imported. A released name is never changed:
a new version is registered beside it (``.v2``).
"""

from __future__ import annotations

import catalogue
import confection


class registry(confection.registry):
    architectures = catalogue.create("bilstm_tagger", "architectures", entry_points=True)


__all__ = ["registry"]
