"""Dropout with compiled masks (bilstm_tagger.models.dropout): what ``F.dropout`` promises, drawn from torch's seed."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from bilstm_tagger.models.dropout import Dropout, dropout, keep_mask


@pytest.mark.parametrize("p", [0.2, 0.33, 0.5])
def test_masks_keep_each_value_with_probability_one_minus_p_scaled_up(p):
    torch.manual_seed(0)
    mask = keep_mask(torch.Size([1000, 1000]), p)
    assert mask.dtype == torch.float32 and mask.shape == (1000, 1000)
    assert torch.unique(mask).tolist() == [0.0, pytest.approx(1.0 / (1.0 - p))]
    assert (mask > 0).float().mean().item() == pytest.approx(1.0 - p, abs=0.002)  # 1e6 draws: sd 0.0005
    # no pattern along rows or columns: every row and column keeps about as many
    assert (mask > 0).float().mean(0).std().item() < 0.03 and (mask > 0).float().mean(1).std().item() < 0.03


def test_masks_follow_torch_seed_and_differ_between_calls():
    torch.manual_seed(7)
    first, second = keep_mask(torch.Size([64, 50]), 0.33), keep_mask(torch.Size([64, 50]), 0.33)
    torch.manual_seed(7)
    assert torch.equal(keep_mask(torch.Size([64, 50]), 0.33), first)
    assert not torch.equal(first, second)


def test_gradient_passes_where_the_value_was_kept():
    torch.manual_seed(1)
    values = torch.randn(8, 5, 12, requires_grad=True)
    out = dropout(values, 0.4, True)
    out.sum().backward()
    kept = out.detach() != 0
    assert torch.allclose(out.detach()[kept], values.detach()[kept] / 0.6)
    assert torch.allclose(values.grad, kept.float() / 0.6)


def test_identity_in_evaluation_and_at_zero_and_torchs_own_elsewhere():
    values = torch.randn(4, 6)
    layer = Dropout(0.5).eval()
    assert layer(values) is values and dropout(values, 0.0, True) is values
    assert torch.equal(dropout(values, 1.0, True), torch.zeros(4, 6))
    doubles = torch.randn(200, 200, dtype=torch.float64)
    torch.manual_seed(3)
    expected = F.dropout(doubles, 0.3, True)
    torch.manual_seed(3)
    assert torch.equal(dropout(doubles, 0.3, True), expected)  # not float32: torch's dropout, torch's draws
    with pytest.raises(ValueError, match="between 0 and 1"):
        Dropout(1.5)
