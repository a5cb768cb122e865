"""Named architectures (``nasjax.graph.zoo``): valid in every bucket that can
express them, a clear reason where one cannot, the same archs as the deep
baselines, and points of the searched space."""

from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from nasjax.baselines import DEEP_ARCHS
from nasjax.graph import KNOWN_OPS, READOUTS, SEED_NAMES, ZOO, ArchSpec, Unexpressible
from nasjax.graph import validate as validate_arch
from nasjax.graph.space import SearchSpaceConfig
from nasjax.search import seed_archs

CONF = Path(__file__).resolve().parents[2] / "conf" / "search_space"
BUCKETS = sorted(p.stem for p in CONF.glob("*.yaml"))


def conf_spec(bucket: str, n_features: int = 7, window: int = 32) -> ArchSpec:
    """The ArchSpec of ``conf/search_space/<bucket>.yaml``."""
    raw = yaml.safe_load((CONF / f"{bucket}.yaml").read_text())
    ops = raw.get("ops")
    space = SearchSpaceConfig(
        raw["max_nodes"], raw["max_width"], None if ops is None else tuple(ops)
    )
    return space.spec(n_features, window)


def used_ops(arch) -> set[str]:
    a = arch.to_numpy()
    return {arch.spec.ops[i] for i in a["ops"][1 : int(a["node_mask"].sum())]}


def test_seed_names_are_the_zoo():
    assert SEED_NAMES == (
        "linear",
        "linear_window",
        "fcn",
        "lstm",
        "transformer",
        "tcn",
    )
    assert set(ZOO) == set(SEED_NAMES)


def test_deep_baselines_are_the_zoo_constructors():
    for name, make in DEEP_ARCHS.items():
        assert make is ZOO[name]


@pytest.mark.parametrize("bucket", BUCKETS)
def test_every_seed_fits_each_conf_bucket_or_is_skipped_with_a_reason(bucket):
    spec = conf_spec(bucket)
    archs, skipped = seed_archs(spec)
    assert set(archs) | set(skipped) == set(SEED_NAMES)
    assert not set(archs) & set(skipped)
    assert list(archs) == [n for n in SEED_NAMES if n in archs]  # seeding order
    for name, arch in archs.items():
        validate_arch(arch)
        assert arch.spec == spec and not arch.batch_shape
        assert used_ops(arch) <= set(spec.ops)
        w = np.asarray(arch.width)[np.asarray(arch.node_mask)]
        assert np.all(w % spec.width_step == 0), (name, w)
    for name, reason in skipped.items():
        with pytest.raises(Unexpressible) as err:
            ZOO[name](spec)
        assert str(err.value) == reason and reason.startswith(name)
    if bucket in ("default", "large"):  # every op: every seed fits
        assert not skipped
    if bucket == "small":  # dense_gelu, conv, identity; 4 nodes
        assert set(archs) == {"linear", "linear_window", "tcn"}
        assert "lstm" in skipped["lstm"] and "attention" in skipped["transformer"]


def test_fcn_seed_is_three_normalised_convs_and_average_pooling():
    spec = conf_spec("default")
    arch = ZOO["fcn"](spec)
    a = arch.to_numpy()
    n = int(a["node_mask"].sum())
    assert [spec.ops[i] for i in a["ops"][1:n]] == ["conv", "layernorm"] * 3
    assert READOUTS[int(arch.readout)] == "mean"
    want = [min(k, spec.max_kernel) for k in (8, 5, 3)]
    assert list(a["kernel"][1:n:2]) == want


def test_linear_seeds_are_stem_identity_and_a_readout():
    spec = conf_spec("default")
    for name, readout in (("linear", "last"), ("linear_window", "window")):
        arch = ZOO[name](spec)
        assert int(arch.n_active) == 2 and used_ops(arch) == {"identity"}
        assert READOUTS[int(arch.readout)] == readout
    assert ZOO["linear"](spec).fingerprint() != ZOO["linear_window"](spec).fingerprint()


def test_deep_seeds_keep_the_paper_sizes_in_an_eight_node_bucket():
    spec = ArchSpec(n_features=7, window=32, max_nodes=8, max_width=64)
    lstm, transformer, tcn = (ZOO[n](spec) for n in ("lstm", "transformer", "tcn"))
    assert int(lstm.n_active) == 3 and set(np.asarray(lstm.width)[:3]) == {64}
    assert int(transformer.n_active) == 8
    a = tcn.to_numpy()
    assert int(tcn.n_active) == 6
    assert a["dilation"][1:5].tolist() == [1, 2, 4, 8]
    assert a["kernel"][1:5].tolist() == [3, 3, 3, 3]


buckets = st.builds(
    lambda n, w, ops, k, dil: ArchSpec(
        n_features=5,
        window=16,
        max_nodes=n,
        max_width=w,
        ops=ops,
        max_kernel=k,
        dilations=dil,
    ),
    st.sampled_from([2, 4, 8, 16]),
    st.sampled_from([8, 16, 32, 64, 128]),
    st.lists(st.sampled_from(KNOWN_OPS), min_size=1, max_size=8, unique=True).map(
        tuple
    ),
    st.integers(1, 5),
    st.lists(st.sampled_from([1, 2, 3, 4, 8, 16]), min_size=1, max_size=4, unique=True)
    .map(sorted)
    .map(tuple),
)


@settings(max_examples=60, deadline=None)
@given(buckets)
def test_any_bucket_gives_a_valid_seed_or_a_reason(spec):
    """Property: a constructor never fails with anything but Unexpressible,
    and what it returns is a valid arch of exactly that bucket."""
    for name, make in ZOO.items():
        try:
            arch = make(spec)
        except Unexpressible as err:
            assert str(err).startswith(name)
            continue
        validate_arch(arch)
        assert arch.spec == spec
        assert used_ops(arch) <= set(spec.ops)
        assert int(arch.n_active) <= spec.max_nodes
