"""Convolution (plain and transposed) and pooling (max, average, adaptive) layer builders. Pools
accept unbatched inputs ([C, *spatial]) by adding and then removing a batch dim."""

from __future__ import annotations

from tensorforge.dynamo.conversion.impl.nn_common import expand


def convolution(ctx, x, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    """aten.convolution: weight [Cout, Cin/g, *k] (transposed: [Cin, Cout/g, *k])."""
    n = len(weight.shape) - 2
    dtype = ctx.out_dtype()
    x, weight = ctx.promote(x, weight, dtype=dtype)
    if bias is not None:
        bias = ctx.cast(bias, dtype)
    stride, padding, dilation = expand(stride, n), expand(padding, n), expand(dilation, n)
    if transposed:
        return ctx.net.add_deconvolution(x, weight, bias, stride=stride, padding=padding,
                                         output_padding=expand(output_padding, n), dilation=dilation,
                                         groups=groups, name=ctx.name())
    return ctx.net.add_convolution(x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                                   groups=groups, name=ctx.name())


def _batched(ctx, x, nd: int, build):
    """Runs `build` on x as [N, C, *spatial]: an unbatched x gets a batch dim of 1 around it."""
    shape = list(x.shape)
    if len(shape) == nd + 2:
        return build(x)
    y = build(ctx.net.add_reshape(x, [1] + shape, name=ctx.name("_batch")))
    return ctx.net.add_reshape(y, list(y.shape)[1:], name=ctx.name("_unbatch"))


def pooling(ctx, x, mode: str, nd: int, kernel, stride, padding, dilation=(), ceil_mode=False,
            count_include_pad=True, divisor_override=None):
    """max_pool/avg_pool over the last `nd` dims, with PyTorch's argument conventions."""
    kernel = expand(kernel, nd)
    stride = expand(stride, nd) or kernel
    return _batched(ctx, x, nd, lambda t: ctx.net.add_pooling(
        t, mode, kernel, stride=stride, padding=expand(padding, nd), dilation=expand(dilation, nd),
        ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad),
        divisor_override=int(divisor_override or 0), name=ctx.name()))


def adaptive_pooling(ctx, x, mode: str, output_size):
    nd = len(output_size)
    return _batched(ctx, x, nd, lambda t: ctx.net.add_adaptive_pooling(t, list(output_size), mode=mode,
                                                                       name=ctx.name()))
