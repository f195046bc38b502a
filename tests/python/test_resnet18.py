"""End to end on the CPU engine: a ResNet-18-sized network built through the Python API with random
weights matches torch eager (float32, and float16 input/output casts around a float32 body)."""

import torch

import tensorforge as tf
from tensorforge.testing.resnet import random_resnet18, resnet18_network


def test_resnet18_matches_eager():
    model = random_resnet18(seed=1)
    x = torch.randn(2, 3, 64, 64)
    net = resnet18_network(model, x.shape)
    assert net.nb_layers > 60
    engine = tf.Builder().build(net)
    with torch.no_grad():
        expected = model(x)
    (logits,) = engine(x)
    # float32 throughout; BLAS and eager sum in different orders over K up to 4608.
    torch.testing.assert_close(logits, expected, atol=2e-4, rtol=2e-4)
    (again,) = tf.Engine.deserialize(engine.serialize())(x)
    assert torch.equal(again, logits)


def test_resnet18_half_io():
    model = random_resnet18(seed=2, width=16, num_classes=10)
    x = torch.randn(1, 3, 32, 32)
    engine = tf.Builder().build(resnet18_network(model, x.shape, dtype=torch.float16))
    (logits,) = engine(x.half())
    assert logits.dtype == torch.float16
    with torch.no_grad():
        expected = model(x.half().float())
    torch.testing.assert_close(logits.float(), expected, atol=2e-3, rtol=2e-3)
