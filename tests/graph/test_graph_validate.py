import jax.numpy as jnp
import pytest

from nasjax.graph import chain, pad_to, stack, validate


@pytest.fixture
def arch(spec):
    return chain(spec, ["conv", "lstm", "dense_gelu"], [8, 8, 8])


def test_valid_arch_passes(arch):
    assert validate(arch) is arch


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda a: a.replace(adj=a.adj.at[2, 1].set(True)), "cycle"),
        (lambda a: a.replace(adj=a.adj.at[2, 2].set(True)), "cycle: self-loop"),
        (lambda a: a.replace(adj=a.adj.at[1, 5].set(True)), "inactive node 5"),
        (lambda a: a.replace(width=a.width.at[2].set(17)), "width 17"),
        (lambda a: a.replace(width=a.width.at[2].set(0)), "width 0"),
        (lambda a: a.replace(ops=a.ops.at[2].set(99)), "unknown op id 99"),
        (lambda a: a.replace(node_mask=a.node_mask.at[6].set(True)), "prefix"),
        (
            lambda a: a.replace(adj=a.adj.at[1, 2].set(False).at[0, 2].set(True)),
            "node 1 feeds no other node",
        ),
        (lambda a: a.replace(kernel=a.kernel.at[1].set(9)), "conv kernel 9"),
        (lambda a: a.replace(dilation=a.dilation.at[1].set(3)), "dilation 3"),
        (lambda a: a.replace(readout=jnp.int32(7)), "readout"),
    ],
)
def test_invalid_archs_raise_clear_errors(arch, mutate, match):
    with pytest.raises(ValueError, match=match):
        validate(mutate(arch))


def test_node_without_input_is_rejected(spec):
    arch = chain(spec, ["conv", "lstm"], [8, 8], skips=[(0, 2)])
    broken = arch.replace(adj=arch.adj.at[1, 2].set(False).at[0, 1].set(False))
    with pytest.raises(ValueError, match="node 1 has no input"):
        validate(broken)


def test_population_error_names_member(arch):
    bad = arch.replace(ops=arch.ops.at[1].set(42))
    with pytest.raises(ValueError, match="population member 1"):
        validate(stack([arch, bad]))


def test_pad_to_refuses_smaller_bucket(spec, arch):
    with pytest.raises(ValueError, match="smaller"):
        pad_to(arch, spec.grown(max_nodes=4))
