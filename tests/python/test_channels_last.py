"""Channels-last ("nhwc") convolution and pooling layers on the CPU against PyTorch on the
channels-first tensors, and the layout attribute's validation."""

import pytest
import torch
import torch.nn.functional as F

import tensorforge as tf


def run(build, *inputs):
    net = tf.Network()
    xs = [net.add_input(f"in{i}", t.dtype, tuple(t.shape)) for i, t in enumerate(inputs)]
    net.mark_output(build(net, *xs), "out")
    return tf.Builder(tf.BuilderConfig(device="cpu")).build(net)(*inputs)[0]


def last(t):
    return t.permute(0, 2, 3, 1).contiguous()


@pytest.mark.parametrize("groups", [1, 2, 6])
def test_convolution(groups):
    torch.manual_seed(0)
    x, w, b = torch.randn(2, 6, 9, 8), torch.randn(12, 6 // groups, 3, 2), torch.randn(12)
    want = F.relu(F.conv2d(x, w, b, stride=(2, 1), padding=(1, 1), dilation=(1, 2), groups=groups))
    got = run(lambda net, x, w, b: net.add_convolution(x, w, b, stride=(2, 1), padding=(1, 1), dilation=(1, 2),
                                                      groups=groups, activation="relu", layout="nhwc"),
              last(x), last(w), b)
    torch.testing.assert_close(got, last(want), atol=1e-4, rtol=1e-4)


def test_pooling_and_adaptive_pooling():
    x = torch.randn(2, 5, 11, 7)
    got = run(lambda net, x: net.add_pooling(x, "max", (3, 3), stride=(2, 2), padding=(1, 1), layout="nhwc"), last(x))
    torch.testing.assert_close(got, last(F.max_pool2d(x, 3, 2, 1)))
    got = run(lambda net, x: net.add_pooling(x, "avg", (2, 3), ceil_mode=True, count_include_pad=False,
                                             layout="nhwc"), last(x))
    torch.testing.assert_close(got, last(F.avg_pool2d(x, (2, 3), ceil_mode=True, count_include_pad=False)))
    got = run(lambda net, x: net.add_adaptive_pooling(x, (3, 2), layout="nhwc"), last(x))
    torch.testing.assert_close(got, last(F.adaptive_avg_pool2d(x, (3, 2))))


def test_unknown_layout_is_an_error():
    net = tf.Network()
    x = net.add_input("x", torch.float32, (1, 2, 4, 4))
    with pytest.raises(tf.InvalidNetworkError, match="layout must be 'nchw' or 'nhwc'"):
        net.add_pooling(x, "max", (2, 2), layout="nwhc")


def test_convolution_with_a_residual_in_both_layouts():
    torch.manual_seed(1)
    x, w, b, r = torch.randn(2, 4, 6, 6), torch.randn(5, 4, 3, 3), torch.randn(5), torch.randn(2, 5, 6, 6)
    want = F.relu(F.conv2d(x, w, b, padding=1) + r)
    build = lambda layout: lambda net, x, w, b, r: net.add_convolution(  # noqa: E731
        x, w, b, padding=(1, 1), activation="relu", layout=layout, residual=r)
    torch.testing.assert_close(run(build("nchw"), x, w, b, r), want, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(run(build("nhwc"), last(x), last(w), b, last(r)), last(want), atol=1e-4, rtol=1e-4)
    net = tf.Network()
    xi = net.add_input("x", torch.float32, (2, 4, 6, 6))
    with pytest.raises(tf.InvalidNetworkError, match="residual must have the output's shape"):
        net.add_convolution(xi, net.add_constant(w), residual=net.add_input("r", torch.float32, (2, 5, 6, 5)),
                            padding=(1, 1))
