"""Consistent tags: each word's UPOS chosen together with its XPOS and FEATS, among pairs seen in training.

Each head of a tagger picks its label on its own, so a word can come out ``PROPN`` + ``NN`` or ``NOUN`` +
``VerbForm=Part``, a pair no treebank has. Choosing instead the UPOS ``u`` that maximises

    log P(u) + sum over the other heads t of  max over labels l that occurred with u in training  log P_t(l)

(and with it the best label of each head that goes with ``u``) lets XPOS and FEATS evidence correct UPOS. On the dev
sets (models of bench/RESULTS.md, "Consistent tags"), UPOS went up on all four treebanks (EWT +0.07, de_gsd +0.34,
ru_gsd +0.39, fr_gsd +0.11) and AllTags by 0.2 to 0.5; FEATS moved by at most two words.

Only the words whose heads' own choices make a pair unseen in training are searched (the others' own choices are
already the best consistent ones), and among each head's ``TOP_K`` best labels: on those dev sets the result equals
the search over all labels. A word none of whose searched combinations occurred in training keeps every head's own
choice.
"""

from __future__ import annotations

from typing import Dict, Mapping, Sequence

import torch

#: Labels of each non-UPOS head searched per word.
TOP_K = 4


class TagPairs:
    """The (UPOS, label) pairs of training, per head, as lookup tables.

    Args:
        labels: each target's labels in id order (the vocabularies'; must include "upos").
        pairs: per non-UPOS target, its ``[upos, label]`` pairs seen in training (``Vocabularies.tag_pairs``).
        device: where the tables live (the model's device).
    """

    def __init__(
        self, labels: Mapping[str, Sequence[str]], pairs: Mapping[str, Sequence[Sequence[str]]], device: torch.device
    ) -> None:
        upos_ids = {label: i for i, label in enumerate(labels["upos"])}
        # allowed[t][label, upos]: the pair occurred in training
        self.allowed: Dict[str, torch.Tensor] = {}
        for target, seen in pairs.items():
            if target not in labels:
                continue
            label_ids = {label: i for i, label in enumerate(labels[target])}
            table = torch.zeros((len(label_ids), len(upos_ids)), dtype=torch.bool)
            for upos, label in seen:
                if upos in upos_ids and label in label_ids:
                    table[label_ids[label], upos_ids[upos]] = True
            self.allowed[target] = table.to(device)

    def choose(self, scores: Mapping[str, torch.Tensor], ids: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Label ids (B, T) of UPOS and of each paired head, chosen together (see the module docstring).

        Args:
            scores: (B, T, n_labels) logits per target; targets without pairs are left alone (not in the result).
            ids: (B, T) each head's own best label ids.
        """
        heads = [target for target in self.allowed if target in scores]
        if "upos" not in scores or not heads:
            return {}
        upos = ids["upos"]
        # Where every head's own best goes with the best UPOS in training, that combination is also the best
        # consistent one (each term of the sum is at its maximum): only the other words need the search.
        consistent = torch.ones_like(upos, dtype=torch.bool)
        for target in heads:
            consistent &= self.allowed[target][ids[target], upos]
        chosen = {target: ids[target] for target in ("upos", *heads)}
        if bool(consistent.all()):
            return chosen
        where = ~consistent
        total = scores["upos"][where].float().log_softmax(-1)  # (M, U) for the M words searched
        best_with: Dict[str, torch.Tensor] = {}
        for target in heads:
            log_probs = scores[target][where].float().log_softmax(-1)
            values, top = log_probs.topk(min(TOP_K, log_probs.shape[-1]), dim=-1)  # (M, K)
            masked = values.unsqueeze(-1).masked_fill(~self.allowed[target][top], float("-inf"))  # (M, K, U)
            best, which = masked.max(dim=1)  # (M, U): the best label that goes with each UPOS
            total = total + best
            best_with[target] = top.gather(1, which)  # (M, U) its id
        # a word none of whose searched combinations occurred in training keeps every head's own best
        paired = ~torch.isinf(total.max(-1).values)
        rows = where.nonzero(as_tuple=True)
        rows = tuple(index[paired] for index in rows)
        joint = total[paired].argmax(-1)  # (M',)
        chosen["upos"] = upos.index_put(rows, joint)
        for target in heads:
            chosen[target] = ids[target].index_put(rows, best_with[target][paired].gather(1, joint[:, None])[:, 0])
        return chosen
