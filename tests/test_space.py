"""Search space: op shapes on odd channel counts, architecture JSON, hashing, padding at the channel edges."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from neonas.config import from_dict
from neonas.engine.space import (
    ConvOp,
    SpaceConfig,
    arch_hash,
    arch_json,
    build_model,
    canonical,
    dead_ops,
    decisions,
    decode,
    encode,
    make_op,
    merged_ops,
    op_choices,
    op_label,
    thesis_best_arch,
    validate_arch,
)
from neonas.errors import NeonasError

torch.set_num_threads(1)


@pytest.mark.parametrize("n_channels", [1, 3, 9, 19])
def test_every_op_keeps_the_shape_on_odd_channel_counts(n_channels):
    space = SpaceConfig(filters=4, time_dilations=[1, 2])
    x = torch.randn(2, 4, n_channels, 11)
    for op in op_choices(space):
        assert make_op(op, space)(x).shape == x.shape, op


@pytest.mark.parametrize("n_channels", [1, 3, 9, 19])
def test_thesis_best_builds_and_classifies(n_channels):
    space = SpaceConfig()
    arch = thesis_best_arch(space)
    assert all(layer == {"op": "conv", "span": 2, "dilation": 4, "time_kernel": 5, "skips": []}
               for layer in arch["layers"])
    validate_arch(arch, space)  # the thesis's best net is in the default space
    model = build_model(arch, space, n_channels, 1920, 4)
    assert model(torch.randn(3, n_channels, 1920)).shape == (3, 4)


@pytest.mark.parametrize("skip_bn", [False, True])
def test_skips_are_added_to_the_op_output(skip_bn):
    space = SpaceConfig(filters=4, n_layers=2, skip_bn=skip_bn)
    arch = {"layers": [{"op": "conv", "span": 1, "dilation": 1, "time_kernel": 3, "skips": []},
                       {"op": "pool", "kind": "max", "skips": [0]}]}
    model = build_model(arch, space, 3, 64, 2).train()  # batch statistics: the BN is not an identity
    x = torch.randn(8, 3, 64)
    h0 = model.layers[0](model.stem(x))
    h1 = model.layers[1](h0) + h0
    if skip_bn:  # ENAS: batch norm after the skip sum (layers 1.. only)
        assert len(model.post) == 1
        mean, var = h1.mean(dim=(0, 2, 3), keepdim=True), h1.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
        h1 = (h1 - mean) / torch.sqrt(var + 1e-5)  # fresh BN: weight 1, bias 0
    else:
        assert model.post is None
    assert torch.allclose(model(x), model.head(h1), atol=1e-5)


def test_dead_ops_are_those_that_see_only_padding_and_are_not_offered():
    space = SpaceConfig()
    labels = lambda ops: sorted(op_label(op) for op in ops)  # noqa: E731
    assert labels(dead_ops(space, 1)) == sorted(f"conv s2 d{d} t{t}" for d in (2, 4) for t in (3, 5, 7))
    assert labels(dead_ops(space, 2)) == sorted(f"conv s2 d4 t{t}" for t in (3, 5, 7))
    assert dead_ops(space, 9) == [] and dead_ops(space, 19) == []
    for n_channels in (1, 2, 3):  # each dead op really outputs the same at some row, whatever the input
        for op in dead_ops(space, n_channels):
            conv = make_op(op, SpaceConfig(filters=1)).conv
            y = conv(torch.nn.functional.pad(torch.randn(4, 1, n_channels, 16), make_op(op, space).pad))
            assert any(torch.all(y[:, 0, r] == 0) for r in range(n_channels)), op
    # the controller's choices on 2 channels leave them out; JSON, hash and decode stay as before
    ds = decisions(space, 2)
    assert "conv s2 d4 t5" not in ds[0].labels and "conv s2 d2 t5" in ds[0].labels
    arch = {"layers": [{"op": "conv", "span": 3, "dilation": 1, "time_kernel": 7, "skips": []},
                       {"op": "pool", "kind": "max", "skips": [0]},
                       {"op": "conv", "span": 2, "dilation": 1, "time_kernel": 5, "skips": [1]},
                       {"op": "conv", "span": 1, "dilation": 1, "time_kernel": 3, "skips": []}]}
    assert decode(space, encode(space, arch, 2), 2) == canonical(arch)
    assert encode(space, arch, 2) != encode(space, arch)  # other indices, same network
    with pytest.raises(NeonasError, match="sees only padding on 1 channel"):
        encode(space, thesis_best_arch(space), 1)


def test_one_channel_offers_each_distinct_function_once():
    """On one channel the 15 live convs are 3 temporal convs under 5 names each: the controller sees 3 + 2 pools."""
    space = SpaceConfig()
    ds = decisions(space, 1)
    assert list(ds[0].labels) == ["conv s1 d1 t3", "conv s1 d1 t5", "conv s1 d1 t7", "maxpool", "avgpool"]
    merged = merged_ops(space, 1)
    assert sorted(merged) == ["conv s1 d1 t3", "conv s1 d1 t5", "conv s1 d1 t7"]
    assert sorted(merged["conv s1 d1 t5"]) == sorted(["conv s2 d1 t5", "conv s3 d1 t5", "conv s3 d2 t5", "conv s3 d4 t5"])
    assert merged_ops(space, 9) == {} and len(decisions(space, 9)[0].labels) == 23  # nothing merges on 9 channels
    # an architecture of merged ops encodes to the ops offered in their place
    arch = {"layers": [{"op": "conv", "span": 3, "dilation": 2, "time_kernel": 7, "skips": []},
                       {"op": "pool", "kind": "max", "skips": [0]},
                       {"op": "conv", "span": 2, "dilation": 1, "time_kernel": 5, "skips": [1]},
                       {"op": "conv", "span": 1, "dilation": 1, "time_kernel": 3, "skips": []}]}
    back = decode(space, encode(space, arch, 1), 1)
    assert [op_label(layer) for layer in back["layers"]] == ["conv s1 d1 t7", "maxpool", "conv s1 d1 t5", "conv s1 d1 t3"]


@pytest.mark.parametrize("n_channels", [1, 2, 3, 9])
def test_merged_ops_compute_exactly_what_the_offered_op_computes(n_channels):
    """Copy the offered op's weights into a merged op's taps at the same channel offsets (its other taps get
    random weights: they only ever see padding): the outputs are equal on any input. Fails if a merged op had
    a tap that reaches a real channel the offered op does not see."""
    space = SpaceConfig(filters=2)
    offered = {op_label(op): op for op in op_choices(space, n_channels)}
    checked = 0
    for kept, others in merged_ops(space, n_channels).items():
        rep = make_op(offered[kept], space)
        rep_offsets = [j * offered[kept]["dilation"] - rep.pad[2] for j in range(offered[kept]["span"])]
        for label in others:
            op = next(o for o in op_choices(space) if op_label(o) == label)
            mod = make_op(op, space)
            with torch.no_grad():
                mod.conv.weight.normal_()
                for j in range(op["span"]):
                    offset = j * op["dilation"] - mod.pad[2]
                    if offset in rep_offsets:
                        mod.conv.weight[:, :, j] = rep.conv.weight[:, :, rep_offsets.index(offset)]
            x = torch.randn(3, 2, n_channels, 20)
            assert torch.allclose(mod(x), rep(x), atol=1e-5), (label, kept)
            checked += 1
    assert checked == {1: 12, 2: 6, 3: 3, 9: 0}[n_channels]


def test_span2_dilation4_sees_every_homologous_pair_of_the_montage():
    """Zero 'same' padding: output row r of a span-2 dilation-4 conv mixes channels r-2 and r+2."""
    op = ConvOp(1, span=2, dilation=4, time_kernel=1)
    with torch.no_grad():
        op.conv.weight.fill_(1.0)
    seen = set()
    for c in range(9):
        x = torch.zeros(1, 1, 9, 1)
        x[0, 0, c] = 1.0
        rows = op.conv(torch.nn.functional.pad(x, op.pad))[0, 0, :, 0].nonzero().flatten().tolist()
        for r in rows:
            seen.add((r, c))
    pairs = {}
    for r, c in seen:
        pairs.setdefault(r, set()).add(c)
    covered = {tuple(sorted(cs)) for cs in pairs.values() if len(cs) == 2}
    # Fp1-Fp2, C3-C4, T3-T4, O1-O2 are channels (0,4), (1,5), (2,6), (3,7)
    assert {(0, 4), (1, 5), (2, 6), (3, 7)} <= covered
    assert all(abs(a - b) == 4 for a, b in covered)


def test_arch_hash_is_sha1_of_sorted_canonical_json_and_ignores_cosmetics():
    arch = {"layers": [{"op": "conv", "span": 2, "dilation": 4, "time_kernel": 5, "skips": []},
                       {"op": "pool", "kind": "avg", "skips": [0]}]}
    text = json.dumps(arch, sort_keys=True, separators=(",", ":"))
    assert arch_hash(arch) == hashlib.sha1(text.encode()).hexdigest()[:12]
    # key order, default time_dilation, skip order and span-1 dilation do not change the network
    same = {"layers": [{"skips": [], "time_kernel": 5, "time_dilation": 1, "dilation": 4, "span": 2, "op": "conv"},
                       {"kind": "avg", "op": "pool", "skips": [0]}]}
    assert arch_hash(same) == arch_hash(arch)
    a1 = {"layers": [{"op": "conv", "span": 1, "dilation": 4, "time_kernel": 3, "skips": []}]}
    a2 = {"layers": [{"op": "conv", "span": 1, "dilation": 1, "time_kernel": 3, "skips": []}]}
    assert arch_hash(a1) == arch_hash(a2)
    other = {"layers": [arch["layers"][0], {"op": "pool", "kind": "max", "skips": [0]}]}
    assert arch_hash(other) != arch_hash(arch)
    assert json.loads(arch_json(arch)) == canonical(arch)


def test_decisions_encode_decode_round_trip():
    space = SpaceConfig(n_layers=4)
    ds = decisions(space)
    assert [d.name for d in ds][:4] == ["layer0.op", "layer0.skips", "layer1.op", "layer1.skips"]
    assert [d.size for d in ds if d.kind == "multi"] == [0, 1, 2, 3]
    arch = {"layers": [{"op": "conv", "span": 2, "dilation": 4, "time_kernel": 5, "skips": []},
                       {"op": "pool", "kind": "max", "skips": [0]},
                       {"op": "conv", "span": 3, "dilation": 2, "time_kernel": 7, "skips": [0, 1]},
                       {"op": "pool", "kind": "avg", "skips": [2]}]}
    assert decode(space, encode(space, arch)) == canonical(arch)
    no_skips = SpaceConfig(n_layers=2, skips=False)
    assert [d.kind for d in decisions(no_skips)] == ["choice", "choice"]


@pytest.mark.parametrize("arch, message", [
    ({"layers": []}, "at least one layer"),
    ({"layers": [{"op": "lstm", "skips": []}]}, "'op' must be 'conv' or 'pool'"),
    ({"layers": [{"op": "conv", "span": 0, "dilation": 1, "time_kernel": 3}]}, "'span' must be an integer >= 1"),
    ({"layers": [{"op": "pool", "kind": "min"}]}, "'max' or 'avg'"),
    ({"layers": [{"op": "pool", "kind": "max", "skips": [0]}]}, "distinct earlier layers"),
    ({"layers": [{"op": "pool", "kind": "max", "size": 3}]}, "unknown key"),
])
def test_bad_architectures_are_rejected_clearly(arch, message):
    with pytest.raises(NeonasError, match=message):
        validate_arch(arch)


def test_space_membership_and_config_validation():
    space = SpaceConfig(n_layers=1, spans=[1, 2])
    with pytest.raises(NeonasError, match="not in the search space"):
        validate_arch({"layers": [{"op": "conv", "span": 3, "dilation": 1, "time_kernel": 3, "skips": []}]}, space)
    # build_model accepts a hand-written op outside the search sets
    build_model({"layers": [{"op": "conv", "span": 5, "dilation": 1, "time_kernel": 9, "skips": []}]}, space, 9, 256, 4)
    with pytest.raises(NeonasError, match="pool_kernel must be an odd"):
        from_dict(SpaceConfig, {"pool_kernel": 4}, "space")
    with pytest.raises(NeonasError, match="unknown key"):
        from_dict(SpaceConfig, {"layers": 4}, "space")
    with pytest.raises(NeonasError, match="too short for the stem"):
        build_model(thesis_best_arch(space), space, 9, 8, 4)


def test_named_spaces_in_a_search_config(tmp_path):
    from neonas.engine.searcher import load_config
    from neonas.engine.space import NAMED_SPACES

    cfg = tmp_path / "search.yaml"
    cfg.write_text("space: thesis\n")
    assert load_config(cfg).space == SpaceConfig(**NAMED_SPACES["thesis"])
    assert load_config(cfg, ["space.n_layers=2"]).space.n_layers == 2  # keys on top of the named space
    cfg.write_text("space: thesys\n")
    with pytest.raises(NeonasError, match="search.yaml: space: unknown named space 'thesys'; named spaces are"):
        load_config(cfg)


def _study_search(name: str) -> dict:
    """The `search:` of config/<name>.yaml merged over config/config.yaml, key by key as snakemake merges them."""
    from pathlib import Path

    from neonas.config import load_yaml
    from neonas.study.plan import merge

    root = Path(__file__).parents[1] / "config"
    base = load_yaml(root / "config.yaml")
    return (merge(base, load_yaml(root / f"{name}.yaml")) if name != "config" else base)["search"]


def test_the_study_default_space_has_every_dimension_the_report_compares():
    """config/config.yaml searches the named space "eeg" (issue 22): 27,000 architectures on the neonatal montage,
    no statistic of tab_archstats fixed by construction, children scored by stand-alone training."""
    from neonas.engine.searcher import search_config
    from neonas.engine.space import NAMED_SPACES
    from neonas.study import spaceinfo

    cfg = search_config(_study_search("config"))
    space, n_ops = cfg.space, len(op_choices(cfg.space, 9))
    assert space == SpaceConfig(**NAMED_SPACES["eeg"]) and spaceinfo.space_name(space) == "eeg"
    assert n_ops == 15 and spaceinfo.n_architectures(space, n_ops) == 27_000
    assert spaceinfo.fixed(space, n_ops) == {}
    assert cfg.estimator == "standalone"
    # the studies that merge over it keep what they say they measure
    calibration = search_config(_study_search("calibration"))
    assert spaceinfo.space_name(calibration.space) == "pairs" and calibration.space.n_layers == 3
    assert calibration.estimator == "supernet"
    for name in ("thesis", "dreams"):
        assert search_config(_study_search(name)).estimator == "supernet", name
    alone = search_config(_study_search("fidelity-eeg"))
    assert alone.space == space and alone.estimator == "standalone" and alone.standalone == cfg.standalone
