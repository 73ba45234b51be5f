"""Supernet: weights shared across children, only the sampled path runs, same function as the child."""

from __future__ import annotations

import pytest
import torch

from neonas.engine.controller import UniformSampler
from neonas.engine.space import SpaceConfig, decisions, decode, op_key
from neonas.engine.supernet import Supernet

torch.set_num_threads(1)

SPACE = SpaceConfig(n_layers=3, filters=4, spans=[1, 2], dilations=[1, 4], time_kernels=[3, 5])


@pytest.mark.parametrize("n_channels", [1, 3, 9, 19])
def test_supernet_equals_the_standalone_child_with_its_weights(n_channels):
    torch.manual_seed(0)
    net = Supernet(SPACE, n_channels, 128, 4).eval()
    sampler = UniformSampler(decisions(SPACE))
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(5, n_channels, 128)
    for _ in range(5):
        arch = decode(SPACE, sampler.sample(gen).choices)
        child = net.child(arch).eval()
        out = net(x, arch)
        assert out.shape == (5, 4)
        assert torch.allclose(out, child(x), atol=1e-6)


def test_only_the_sampled_path_gets_gradients_and_weights_are_shared():
    torch.manual_seed(0)
    net = Supernet(SPACE, 9, 128, 4)
    arch = {"layers": [{"op": "conv", "span": 2, "dilation": 4, "time_kernel": 5, "skips": []},
                       {"op": "pool", "kind": "max", "skips": [0]},
                       {"op": "conv", "span": 1, "dilation": 1, "time_kernel": 3, "skips": [1]}]}
    net(torch.randn(4, 9, 128), arch).sum().backward()
    used = {(0, op_key(arch["layers"][0])), (2, op_key(arch["layers"][2]))}
    for i, ops in enumerate(net.layers):
        for key, op in ops.items():
            grads = [p.grad for p in op.parameters()]
            if (i, key) in used:
                assert all(g is not None for g in grads), (i, key)
            else:
                assert all(g is None for g in grads), (i, key)
    # a second child with the same layer-0 op runs the very same module; no other layer-0 op runs
    other = {"layers": [arch["layers"][0], {"op": "pool", "kind": "avg", "skips": []},
                        {"op": "conv", "span": 2, "dilation": 1, "time_kernel": 3, "skips": []}]}
    calls = []
    for key, op in net.layers[0].items():
        op.register_forward_hook(lambda m, inp, out, key=key: calls.append(key))
    with torch.no_grad():
        net(torch.randn(2, 9, 128), arch)
        net(torch.randn(2, 9, 128), other)
    assert calls == [op_key(arch["layers"][0])] * 2
