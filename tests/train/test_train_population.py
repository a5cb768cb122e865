"""Population training: vmap == alone, jit == no-jit, compiles, NaN, memory,
strategies == the vmapped-switch oracle, the deprecated call form."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nasjax
from nasjax.data import FoldedData
from nasjax.graph import random_arch, stack, unstack
from nasjax.nn.schedule import (
    SCHEDULE_GROUP,
    ScheduleShape,
    round_steps,
    schedule_steps,
)
from nasjax.train import (
    Auto,
    DispatchedOps,
    ScheduledOps,
    TrainConfig,
    TrainPlan,
    TrainState,
    VmappedSwitch,
    choose_node_loop,
    compiled_trainer,
    make_train,
    make_train_data,
    member_bytes,
    plan_chunk,
    select_fold,
    train_population,
)
from nasjax.train.state import initial_state, updated_state
from tests.helpers import data_spec, fast_train_config, tiny_dataset

CFG = fast_train_config(
    n_steps=12,
    eval_every=6,
    batch_size=32,
    warmup_steps=2,
    eval_batch_size=128,
    max_eval_samples=256,
    learning_rate=3e-3,
)


@functools.lru_cache(maxsize=1)
def small_data():
    return tiny_dataset()


def fit(key, archs, params, cfg=CFG, data=None, lr_scale=None, **plan):
    """``train_population`` on the small data, unsharded, ``plan`` keywords
    of a ``TrainPlan``."""
    data = FoldedData(*small_data()) if data is None else data
    plan = TrainPlan(shard=False, **plan)
    return train_population(key, archs, params, data, cfg, plan=plan, lr_scale=lr_scale)


def population(n, seed=0):
    # Archs one by one, eagerly: the tests take four population sizes, and
    # the jitted random_members would compile random_arch once per size.
    spec = data_spec(small_data())
    keys = jax.random.split(jax.random.key(seed), n)
    archs = stack([random_arch(k, spec) for k in keys])
    return archs, jax.vmap(nasjax.nn.init)(keys, archs)


def test_vmap_population_equals_members_alone():
    folded = small_data()
    archs, params = population(3)
    key = jax.random.key(7)
    res = fit(key, archs, params)
    assert res.fitness.shape == (3,)
    assert res.metrics["val_accuracy"].shape == (3, 2, CFG.n_evals)
    data = make_train_data(folded, eval_batch_size=128, max_eval_samples=256)
    train = jax.jit(make_train(CFG))
    for i, (arch, p) in enumerate(
        zip(
            unstack(archs),
            [jax.tree.map(lambda x, i=i: x[i], params) for i in range(3)],
            strict=True,
        )
    ):
        for k in range(2):
            kk = jax.random.fold_in(jax.random.fold_in(key, i), k)
            p_alone, m = train(kk, arch, p, select_fold(data, k))
            np.testing.assert_allclose(
                m["val_loss"], res.metrics["val_loss"][i, k], rtol=1e-4, atol=1e-5
            )
            np.testing.assert_allclose(
                m["best_val_accuracy"], res.metrics["best_val_accuracy"][i, k]
            )
            got = jax.tree.map(lambda x, i=i, k=k: x[i, k], res.params)
            for a, b in zip(
                jax.tree.leaves(p_alone), jax.tree.leaves(got), strict=True
            ):
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_jit_equals_no_jit():
    folded = small_data()
    archs, params = population(1, seed=3)
    arch, p = unstack(archs)[0], jax.tree.map(lambda x: x[0], params)
    cfg = fast_train_config(n_steps=2, eval_every=1, batch_size=8)
    data = select_fold(
        make_train_data(folded, eval_batch_size=64, max_eval_samples=64), 0
    )
    train = make_train(cfg)
    key = jax.random.key(1)
    p_jit, m_jit = jax.jit(train)(key, arch, p, data)
    with jax.disable_jit():
        p_eager, m_eager = train(key, arch, p, data)
    np.testing.assert_allclose(m_jit["val_loss"], m_eager["val_loss"], rtol=1e-5)
    for a, b in zip(jax.tree.leaves(p_jit), jax.tree.leaves(p_eager), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_one_compile_per_bucket_and_population_size():
    fn = compiled_trainer(CFG, "vmap", VmappedSwitch())
    archs, params = population(3)
    fit(jax.random.key(0), archs, params, strategy=VmappedSwitch())
    before = fn._cache_size()  # pyright: ignore
    assert before >= 1
    for seed in (1, 2, 3):  # different archs, same bucket and population size
        archs, params = population(3, seed=seed)
        fit(jax.random.key(seed), archs, params, strategy=VmappedSwitch())
    assert fn._cache_size() == before  # pyright: ignore


def test_auto_node_loop_unrolls_long_runs_and_single_members():
    assert choose_node_loop(8, 1, 50) == "schedule"
    assert choose_node_loop(32, 1, 200) == "schedule"  # 6,400 member-fold steps
    assert choose_node_loop(32, 1, 300) == "unroll"
    assert choose_node_loop(8, 3, 400) == "unroll"
    assert choose_node_loop(1, 1, 10) == "unroll"


@pytest.mark.slow  # the default node loop's compile count is tested above
def test_scan_dispatch_compiles_once_per_capacity_signature():
    signatures = {}
    scan = DispatchedOps("scan")
    for seed in (4, 5):
        archs, params = population(3, seed=seed)
        caps = nasjax.nn.op_capacities(archs)
        fn = compiled_trainer(CFG, "vmap", scan, caps)
        assert fn is compiled_trainer(CFG, "vmap", DispatchedOps("scan"), list(caps))  # pyright: ignore
        fit(jax.random.key(seed), archs, params, strategy=scan)
        signatures[caps] = fn
    assert all(fn._cache_size() == 1 for fn in signatures.values())


def test_schedule_serves_different_populations_with_one_compile():
    # 3 members x 2 folds x 12 steps: "auto" runs the op schedule.
    assert choose_node_loop(3, 2, CFG.n_steps) == "schedule"
    shapes = set()
    for seed in range(6):
        archs, _ = population(3, seed=seed)
        counts = nasjax.nn.member_counts(archs)
        shapes.add(round_steps(schedule_steps(counts, SCHEDULE_GROUP)))
    # Six populations with different op mixes, few schedule lengths.
    assert len(shapes) <= 2
    n_steps = max(shapes)
    shape = ScheduleShape(SCHEDULE_GROUP, n_steps)
    fn = compiled_trainer(CFG, "vmap", ScheduledOps(), shape)
    spelled = ScheduleShape(*(np.int64(c) for c in shape))  # pyright: ignore
    assert fn is compiled_trainer(CFG, "vmap", ScheduledOps(), spelled)
    # A plain tuple is capacities (per op), not a schedule shape.
    assert fn is not compiled_trainer(CFG, "vmap", ScheduledOps(), tuple(shape))
    assert fn is not compiled_trainer(CFG, "scan", ScheduledOps(), shape)
    before = fn._cache_size()  # pyright: ignore
    ran = 0
    for seed in range(6):
        archs, params = population(3, seed=seed)
        need = round_steps(schedule_steps(nasjax.nn.member_counts(archs), 1))
        if need != n_steps:
            continue
        fit(jax.random.key(seed), archs, params)
        ran += 1
    assert ran >= 2
    assert fn._cache_size() == before + 1  # pyright: ignore


def test_min_capacities_floor_changes_shapes_not_results():
    archs, params = population(3, seed=6)
    need = nasjax.nn.op_capacities(archs)
    floor = (3,) * len(need)  # every op at full capacity (P = 3)
    key = jax.random.key(2)
    plain = fit(key, archs, params)
    # "auto" runs the op schedule here: the floor bounds its length.
    rows = np.full((archs.spec.max_nodes - 1, len(need)), 3)
    shape = ScheduleShape(SCHEDULE_GROUP, round_steps(schedule_steps(rows, 1)))
    fn = compiled_trainer(CFG, "vmap", ScheduledOps(), shape)
    before = fn._cache_size()  # pyright: ignore
    raised = fit(key, archs, params, min_capacities=floor)
    assert fn._cache_size() == before + 1  # the floor's shapes were compiled  # pyright: ignore
    np.testing.assert_allclose(plain.fitness, raised.fitness, atol=1e-5)
    np.testing.assert_allclose(
        plain.metrics["val_loss"], raised.metrics["val_loss"], rtol=1e-4, atol=1e-5
    )
    with pytest.raises(ValueError, match="min_capacities: capacities must hold"):
        fit(key, archs, params, min_capacities=(1,))


@pytest.mark.slow  # three dispatch strategies trained to early stopping
def test_early_stopping_is_per_member_and_equal_across_dispatch():
    archs, params = population(4, seed=11)
    cfg = dataclasses.replace(
        CFG, n_steps=30, eval_every=3, patience=1, learning_rate=3e-2
    )
    key = jax.random.key(5)
    ops = fit(key, archs, params, cfg)
    switch = fit(key, archs, params, cfg, strategy=VmappedSwitch())
    stopped = np.asarray(ops.metrics["stopped_step"])
    best = np.asarray(ops.metrics["best_step"])
    # Patience 1: a member stops at the first evaluation without improvement,
    # and members stop at different steps (masks, not one global stop).
    assert (stopped < cfg.n_steps).any() and len(np.unique(stopped)) > 1
    assert (best <= stopped).all() and (best % cfg.eval_every == 0).all()
    for name in ("stopped_step", "best_step"):
        np.testing.assert_array_equal(ops.metrics[name], switch.metrics[name])
    # Per-op dispatch computes what vmap over every node's switch computes.
    np.testing.assert_allclose(
        ops.metrics["val_loss"], switch.metrics["val_loss"], rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(ops.fitness, switch.fitness, atol=1e-6)
    leaves = zip(
        jax.tree.leaves(ops.params), jax.tree.leaves(switch.params), strict=True
    )
    for a, b in leaves:
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # After a member stops, its curve stays at the value it stopped with.
    va = np.asarray(ops.metrics["val_loss"])
    for i, k in zip(*np.nonzero(stopped < cfg.n_steps), strict=True):
        e = stopped[i, k] // cfg.eval_every
        np.testing.assert_allclose(va[i, k, e - 1 :], va[i, k, e - 1], rtol=1e-6)


@pytest.mark.parametrize(
    "strategy",
    [ScheduledOps(), DispatchedOps("unroll"), DispatchedOps("scan"), Auto()],
    ids=repr,
)
def test_every_strategy_agrees_with_the_vmapped_switch_oracle(strategy):
    archs, params = population(3, seed=10)
    key = jax.random.key(4)
    oracle = _oracle_run()
    got = fit(key, archs, params, strategy=strategy)
    for name in ("stopped_step", "best_step", "failed"):
        np.testing.assert_array_equal(got.metrics[name], oracle.metrics[name])
    for name in ("val_loss", "train_loss", "val_accuracy"):
        np.testing.assert_allclose(
            got.metrics[name], oracle.metrics[name], rtol=1e-4, atol=1e-5
        )
    np.testing.assert_allclose(got.fitness, oracle.fitness, atol=1e-6)
    for a, b in zip(
        jax.tree.leaves(got.params), jax.tree.leaves(oracle.params), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@functools.lru_cache(maxsize=1)
def _oracle_run():
    archs, params = population(3, seed=10)
    key = jax.random.key(4)
    return fit(key, archs, params, strategy=VmappedSwitch())


def test_one_fold_alone_equals_that_fold_of_several():
    folded = small_data()
    archs, params = population(3, seed=12)
    key = jax.random.key(8)
    both = fit(key, archs, params)
    data0 = make_train_data(
        folded, eval_batch_size=128, max_eval_samples=256, fold_ids=(0,)
    )
    first = fit(key, archs, params, data=data0)
    for name in ("val_loss", "train_loss", "best_score"):
        np.testing.assert_allclose(
            first.metrics[name][:, 0], both.metrics[name][:, 0], rtol=1e-4, atol=1e-5
        )
    assert first.metrics["val_loss"].shape[1] == 1


@pytest.mark.slow
def test_fold_scan_equals_fold_vmap():
    archs, params = population(2)
    key = jax.random.key(3)
    a = fit(key, archs, params)
    b = fit(key, archs, params, fold_axis="scan")
    np.testing.assert_allclose(a.fitness, b.fitness, atol=1e-6)
    np.testing.assert_allclose(
        a.metrics["val_loss"], b.metrics["val_loss"], rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("how", ["nan_params", "huge_lr"])
def test_nan_member_is_isolated(how):
    archs, params = population(3)
    key = jax.random.key(5)
    lr = jnp.ones(3)
    clean = fit(key, archs, params, lr_scale=lr)
    if how == "nan_params":
        bad = jax.tree.map(lambda x: x, params)
        bad["stem"]["kernel"] = bad["stem"]["kernel"].at[1].set(jnp.nan)
        res = fit(key, archs, bad, lr_scale=lr)
    else:
        res = fit(key, archs, params, lr_scale=lr.at[1].set(1e30))
    assert bool(res.failed[1]) and np.isnan(res.fitness[1])
    assert not bool(res.failed[0]) and not bool(res.failed[2])
    idx = np.array([0, 2])
    np.testing.assert_array_equal(
        np.asarray(res.fitness)[idx], np.asarray(clean.fitness)[idx]
    )
    np.testing.assert_array_equal(
        np.asarray(res.metrics["val_loss"])[idx],
        np.asarray(clean.metrics["val_loss"])[idx],
    )


def test_memory_guard_refuses_and_chunks(caplog):
    archs, params = population(3)
    spec = archs.spec
    per = member_bytes(spec, CFG)
    with pytest.raises(MemoryError, match="memory guard"):
        plan_chunk(spec, CFG, 3, 2, budget=per)
    assert plan_chunk(spec, CFG, 3, 2, budget=int(4.5 * per)) == 2
    assert plan_chunk(spec, CFG, 3, 2, budget=100 * per) == 3
    cfg = CFG.__class__(**{**CFG.__dict__, "memory_budget_bytes": int(2.5 * per)})
    key = jax.random.key(9)
    with caplog.at_level("INFO", logger="nasjax.train"):
        chunked = fit(key, archs, params, cfg)
    # The plan is logged before the work, and each chunk as it ends.
    assert "3 members x" in caplog.text and "3 chunk(s) of 1" in caplog.text
    assert "chunk 3 of 3 done" in caplog.text
    whole = fit(key, archs, params)
    np.testing.assert_allclose(chunked.fitness, whole.fitness, atol=1e-6)
    tiny = CFG.__class__(**{**CFG.__dict__, "memory_budget_bytes": per})
    with pytest.raises(MemoryError, match="batch_size"):
        fit(key, archs, params, tiny)


def test_scratch_init_differs_from_inherit_and_config_validation():
    archs, params = population(2)
    key = jax.random.key(0)
    a = fit(key, archs, params)
    b = fit(key, archs, None)
    assert not np.allclose(a.metrics["val_loss"], b.metrics["val_loss"])
    with pytest.raises(ValueError, match="multiple of eval_every"):
        TrainConfig(n_steps=10, eval_every=3)


def test_fold_k_starts_from_fold_copy_k():
    """Per-fold params: fold k's run depends on copy k only; K = 1 broadcasts."""
    archs, a = population(2, seed=7)
    _, b = population(2, seed=8)
    key = jax.random.key(3)

    def run(params):
        return fit(key, archs, params)

    def folds_of(*copies):
        return jax.tree.map(lambda *v: jnp.stack(v, axis=1), *copies)

    shared = run(a)
    same = run(folds_of(a, a))
    mixed = run(folds_of(a, b))
    np.testing.assert_allclose(same.metrics["val_loss"], shared.metrics["val_loss"])
    # Fold 0 starts from copy 0 in both runs; fold 1 from different copies.
    np.testing.assert_allclose(
        mixed.metrics["val_loss"][:, 0], shared.metrics["val_loss"][:, 0]
    )
    assert not np.allclose(
        mixed.metrics["val_loss"][:, 1], shared.metrics["val_loss"][:, 1]
    )
    three = folds_of(a, a, b)
    with pytest.raises(ValueError, match="3 fold copies, the data has 2 folds"):
        run(three)


def test_deprecated_call_form_warns_and_equals_the_new_one():
    folded = small_data()
    ds, folds, norm = folded
    archs, params = population(2)
    key = jax.random.key(0)
    data0 = make_train_data(
        folded, eval_batch_size=128, max_eval_samples=256, fold_ids=(0,)
    )
    new = fit(key, archs, None, data=data0, strategy=ScheduledOps())
    with pytest.warns(DeprecationWarning, match="deprecated"):
        old = train_population(
            key,
            archs,
            params,
            ds,  # pyright: ignore
            folds,  # pyright: ignore
            norm,
            CFG,
            shard=False,
            init_from="scratch",
            node_loop="schedule",
            data=data0,
        )
    for x, y in zip(jax.tree.leaves(new), jax.tree.leaves(old), strict=True):
        np.testing.assert_array_equal(x, y)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="init_from"):
        train_population(key, archs, params, ds, folds, norm, CFG, init_from="x")  # pyright: ignore
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="dispatch"):
        train_population(key, archs, params, ds, folds, norm, CFG, dispatch="x")  # pyright: ignore
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="not both"):
        train_population(
            key,
            archs,
            params,
            ds,  # pyright: ignore
            folds,  # pyright: ignore
            norm,
            CFG,
            plan=TrainPlan(),
            shard=False,
        )


def test_plan_validation_errors_are_clear():
    with pytest.raises(ValueError, match="strategy must be one of Auto"):
        TrainPlan(strategy="ops")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fold_axis must be one of"):
        TrainPlan(fold_axis="x")
    with pytest.raises(ValueError, match="chunk_size must be a positive int"):
        TrainPlan(chunk_size=0)
    with pytest.raises(ValueError, match="min_capacities applies to op strategies"):
        TrainPlan(strategy=VmappedSwitch(), min_capacities=(1, 1, 1))
    with pytest.raises(ValueError, match="ScheduledOps"):
        DispatchedOps("schedule")
    archs, params = population(2)
    with pytest.raises(TypeError, match="FoldedData"):
        train_population(jax.random.key(0), archs, params, small_data()[0:2], CFG)  # pyright: ignore
    with pytest.raises(TypeError, match="plan must be a TrainPlan"):
        train_population(
            jax.random.key(0),
            archs,
            params,
            FoldedData(*small_data()),
            CFG,
            plan=1,  # pyright: ignore
        )
    with pytest.raises(TypeError, match="unexpected keyword"):
        train_population(
            jax.random.key(0), archs, params, FoldedData(*small_data()), CFG, x=1
        )


def test_train_state_is_a_pytree_under_jit_and_vmap():
    p = {"w": jnp.arange(6.0).reshape(3, 2)}
    score = jnp.array([0.5, jnp.nan, 0.2])

    def start(p, s):
        return initial_state(p, p, -s, s, s, 12)

    state = jax.jit(jax.vmap(start))(p, score)
    assert isinstance(state, TrainState)
    assert state.best_score.shape == (3,)
    np.testing.assert_array_equal(state.failed, [False, True, False])
    state = state._replace(since=jnp.array([0, 0, 2], jnp.int32))

    def step(st, p):
        better = st.best_score + 0.1
        bad = jnp.zeros((), bool)
        return updated_state(st, p, p, -better, better, better, bad, 6, 3)

    batched = jax.jit(jax.vmap(step))(state, p)
    for i in range(3):
        one = step(jax.tree.map(lambda x, i=i: x[i], state), {"w": p["w"][i]})
        assert int(one.best_step) == int(batched.best_step[i])
    # Member 1 failed at the start and stays frozen; member 2 improves.
    np.testing.assert_array_equal(batched.best_step, [6, 0, 6])
    np.testing.assert_array_equal(batched.since, [0, 1, 0])
    assert jax.tree.structure(batched) == jax.tree.structure(state)
