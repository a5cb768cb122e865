import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nasjax.nn as nnx
from nasjax.graph import chain, random_arch, unstack, validate
from nasjax.morph import MORPHS, PRESERVING, MorphStep, extend, morph_chain, record
from tests.helpers import random_members

seeds = st.integers(0, 2**31 - 1)
STRUCTURAL = sorted(set(MORPHS) - PRESERVING)
apply_jit = jax.jit(nnx.apply)
init_jit = jax.jit(nnx.init)
morph_jit = {name: jax.jit(m.apply) for name, m in MORPHS.items()}
chain_jit = jax.jit(morph_chain, static_argnums=(3, 4))


def test_registry_contract():
    assert {"widen", "deepen", "add_skip", "add_branch"} == PRESERVING
    assert {"swap_op", "remove_node", "change_kernel", "change_dilation"} <= set(MORPHS)
    for name, m in MORPHS.items():
        assert m.name == name
        assert m.preserving == (name in PRESERVING)


def _parent(spec, seed):
    k_arch, k_init = jax.random.split(jax.random.key(seed))
    arch = random_arch(k_arch, spec)
    return arch, init_jit(k_init, arch)


@pytest.mark.parametrize("name", sorted(PRESERVING))
@settings(max_examples=12, deadline=None)
@given(seed=seeds)
def test_preserving_morphs_preserve_logits(spec, x, name, seed):
    arch, params = _parent(spec, seed)
    out = morph_jit[name](jax.random.key(seed + 1), arch, params)
    validate(out.arch)
    np.testing.assert_allclose(
        apply_jit(arch, params, x), apply_jit(out.arch, out.params, x), atol=1e-5
    )


@pytest.mark.parametrize("name", sorted(MORPHS))
@settings(max_examples=10, deadline=None)
@given(seed=seeds)
def test_every_morph_keeps_arch_valid(spec, name, seed):
    arch, params = _parent(spec, seed)
    out = morph_jit[name](jax.random.key(seed + 2), arch, params)
    validate(out.arch)
    if not bool(out.applied):
        assert out.arch.to_json() == arch.to_json()


@pytest.mark.parametrize("name", sorted(PRESERVING))
def test_preserving_morphs_change_the_architecture(spec, name):
    arch = chain(spec, ["conv", "lstm"], [8, 8])
    params = init_jit(jax.random.key(0), arch)
    out = morph_jit[name](jax.random.key(1), arch, params)
    assert bool(out.applied)
    assert out.arch.to_json() != arch.to_json()


@pytest.mark.parametrize("name", STRUCTURAL)
def test_structural_morphs_change_the_function(spec, x, name):
    arch = chain(spec, ["conv", "lstm", "gru"], [8, 8, 8])
    params = init_jit(jax.random.key(0), arch)
    out = morph_jit[name](jax.random.key(1), arch, params)
    assert bool(out.applied)
    assert not np.allclose(
        apply_jit(arch, params, x), apply_jit(out.arch, out.params, x)
    )


@settings(max_examples=10, deadline=None)
@given(seed=seeds)
def test_random_morph_chains_stay_valid(spec, seed):
    arch, params = _parent(spec, seed)
    child, _, ids, applied = chain_jit(jax.random.key(seed), arch, params, 12)
    validate(child)
    assert ids.shape == applied.shape == (12,)


@settings(max_examples=8, deadline=None)
@given(seed=seeds)
def test_preserving_chains_preserve_logits(spec, x, seed):
    arch, params = _parent(spec, seed)
    child, child_params, _, _ = chain_jit(
        jax.random.key(seed), arch, params, 6, tuple(sorted(PRESERVING))
    )
    np.testing.assert_allclose(
        apply_jit(arch, params, x), apply_jit(child, child_params, x), atol=1e-5
    )


def test_full_bucket_asks_to_grow(spec):
    ops = ["dense_gelu"] * (spec.max_nodes - 1)
    full = chain(spec, ops, [spec.max_width] * len(ops), input_width=spec.max_width)
    params = init_jit(jax.random.key(0), full)
    for name in ("deepen", "add_branch", "widen"):
        out = morph_jit[name](jax.random.key(1), full, params)
        assert not bool(out.applied), name
        assert bool(out.grow), name
        assert out.arch.to_json() == full.to_json()


def test_inapplicable_morph_returns_parent(spec):
    arch = chain(spec, ["lstm"], [8])  # no conv node, no removable node
    params = init_jit(jax.random.key(0), arch)
    for name in ("change_kernel", "change_dilation", "remove_node"):
        out = morph_jit[name](jax.random.key(1), arch, params)
        assert not bool(out.applied)
        assert not bool(out.grow)
        for a, b in zip(
            jax.tree.leaves(out.params), jax.tree.leaves(params), strict=True
        ):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "name", [pytest.param("widen", marks=pytest.mark.slow), "deepen", "swap_op"]
)
def test_vmapped_morph_equals_loop(spec, name):
    keys = jax.random.split(jax.random.key(3), 4)
    pop, params = random_members(spec, 4, 3)
    batched = jax.jit(jax.vmap(MORPHS[name].apply))(keys, pop, params)
    for i, member in enumerate(unstack(pop)):
        p_i = jax.tree.map(lambda leaf, i=i: leaf[i], params)
        single = morph_jit[name](keys[i], member, p_i)
        got = jax.tree.map(lambda leaf, i=i: leaf[i], batched.arch)
        assert got.to_json() == single.arch.to_json()
        assert bool(batched.applied[i]) == bool(single.applied)


def test_widened_units_learn(spec, x):
    """New units start silent (zero incoming weights) but get gradient."""
    arch = chain(spec, ["dense_gelu", "dense_tanh"], [8, 8])
    params = init_jit(jax.random.key(0), arch)
    out = morph_jit["widen"](jax.random.key(4), arch, params)
    node, old_w, new_w = (int(v) for v in out.args)
    assert new_w > old_w

    def loss(p):
        return jnp.sum(nnx.apply(out.arch, p, x) ** 2)

    grads = jax.grad(loss)(out.params)
    if node == 0:
        g_new = grads["stem"]["kernel"][:, old_w:new_w]
    else:
        op = spec.ops[int(out.arch.ops[node])]
        g_new = grads["nodes"][op]["kernel"][node][:, old_w:new_w]
    assert float(jnp.abs(g_new).sum()) > 0


def test_lineage_records_applied_morphs(spec):
    arch = chain(spec, ["conv", "lstm"], [8, 8])
    params = init_jit(jax.random.key(0), arch)
    out = morph_jit["deepen"](jax.random.key(1), arch, params)
    step = record("deepen", out)
    assert step is not None and step.name == "deepen"
    assert MorphStep.from_dict(step.to_dict()) == step
    lineage = extend((), step)
    assert extend(lineage, None) == lineage
    not_applied = morph_jit["change_kernel"](
        jax.random.key(1),
        chain(spec, ["lstm"], [8]),
        init_jit(jax.random.key(0), chain(spec, ["lstm"], [8])),
    )
    assert record("change_kernel", not_applied) is None
