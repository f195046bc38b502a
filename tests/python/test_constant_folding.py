"""The FX constant-folding pass (lowering/passes/constant_folding.py) over masks built from shapes
alone: creation ops (full, zeros, arange) count as constants for the ops that read them, so Swin's
shifted-window mask (zeros, slice assignments, differences, masked_fill) and a causal mask fold into
one constant each and the engine computes only what depends on the inputs; a folded constant the
graph returns is copied per call (never aliased between calls); a creation op that
nothing folds into stays (it is cheap in the engine), and a fold larger than 16 MB is left alone."""

import torch
from torch import nn

from backend_util import Watch, compile_model


class ShiftedWindowScores(nn.Module):
    """Swin's shifted-window attention scores with the mask torchvision builds on every call."""

    def forward(self, x):  # [B, H, W, C]
        b, h, w, c = x.shape
        ws, shift = 4, 2
        x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
        mask = x.new_zeros((h, w))
        count = 0
        for hs in ((0, -ws), (-ws, -shift), (-shift, None)):
            for wsl in ((0, -ws), (-ws, -shift), (-shift, None)):
                mask[hs[0]:hs[1], wsl[0]:wsl[1]] = count
                count += 1
        mask = mask.view(h // ws, ws, w // ws, ws).permute(0, 2, 1, 3).reshape(-1, ws * ws)
        mask = mask.unsqueeze(1) - mask.unsqueeze(2)
        mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
        xw = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, c)
        scores = (xw @ xw.transpose(1, 2)).view(b, -1, ws * ws, ws * ws) + mask.unsqueeze(0)
        return scores.softmax(-1)


def _compile(model, x):
    with Watch() as w, torch.no_grad():
        got = compile_model(model, {"min_block_size": 1})(x)
    (report,) = w.reports
    return got, report


def test_shifted_window_mask_folds():
    x = torch.randn(2, 8, 8, 16)
    model = ShiftedWindowScores().eval()
    got, report = _compile(model, x)
    torch.testing.assert_close(got, model(x), atol=1e-5, rtol=1e-5)
    ops = set(report.op_counts)
    # the mask's construction is gone: no slice assignments (slice_scatter/copy), fills or comparisons
    assert not ops & {"aten.slice_scatter.default", "aten.copy.default", "aten.masked_fill.Scalar",
                      "aten.ne.Scalar", "aten.eq.Scalar", "aten.full.default"}, sorted(ops)
    assert not report.unsupported and report.engines


def test_causal_mask_from_full_folds_and_a_lone_arange_stays():
    class Causal(nn.Module):
        def forward(self, s):  # [B, L, L]
            n = s.shape[-1]
            mask = torch.full((n, n), float("-inf")).triu(1)
            return (s + mask).softmax(-1) + torch.arange(n, dtype=s.dtype)

    s = torch.randn(2, 6, 6)
    got, report = _compile(Causal().eval(), s)
    torch.testing.assert_close(got, Causal()(s))
    # triu's comparisons and where over the full are one constant; the arange added to the output stays
    assert report.op_counts == {"aten.add.Tensor": 2, "aten._softmax.default": 1, "aten.arange.start_step": 1}, \
        report.op_counts


def test_folds_past_16_mb_stay_in_the_graph():
    class Big(nn.Module):
        def forward(self, x):  # a 64 MB mask: cheaper computed than stored
            return x + torch.zeros(4096, 4096).triu(1)[:1, :4]

    x = torch.randn(1, 4)
    got, report = _compile(Big().eval(), x)
    torch.testing.assert_close(got, Big()(x))
    assert "aten.full.default" in report.op_counts, sorted(report.op_counts)  # the zeros were not folded


def test_a_folded_output_is_a_fresh_tensor_on_every_call():
    class Outputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(3, 4), requires_grad=False)

        def forward(self, x):  # both constants fold: an identity from creation ops, a transposed weight
            return torch.eye(4) * 2, self.w.t() * 1, x + 1

    model = Outputs().eval()
    x = torch.randn(4)
    with torch.no_grad():
        compiled = compile_model(model, {"min_block_size": 1})
        eye, wt, _ = compiled(x)
        eye.add_(5)
        wt.zero_()  # a caller changing what it got must not change the next call's results
        eye2, wt2, y = compiled(x)
    torch.testing.assert_close(eye2, torch.eye(4) * 2)
    torch.testing.assert_close(wt2, model.w.t())
    torch.testing.assert_close(y, x + 1)
    assert eye2.data_ptr() != eye.data_ptr() and wt2.data_ptr() != wt.data_ptr()
