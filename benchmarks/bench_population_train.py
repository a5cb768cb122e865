"""Population training: one vmapped jit vs one compiled model per architecture.

(a) nasjax: ``train_population`` over P different architectures of one
    bucket (one compile for the whole population), population-major with
    per-op dispatch; timed with the node loop unrolled, in ``lax.scan`` and
    as one scan over an op schedule (the default, ``node_loop="auto"``,
    picks unrolled or schedule by the amount of work), and as
    ``jit(vmap(train))`` with every node's ``lax.switch`` (``"switch"``).
(b) user loop: what a user writes without nasjax's population engine: one
    model per architecture, ``jax.jit`` of the same training loop around it,
    run in a Python loop (one compile per architecture). The model is
    ``nasjax.nn.apply_static`` (``--user-model static``, default): the
    architecture as straight-line code, only its active nodes, their one op
    each and their real edges, as a hand-written flax model would be.
    ``--user-model bucket`` closes the arch over ``nasjax.nn.apply`` instead
    (a node ``lax.scan`` whose ``lax.switch`` indices XLA sees as constants;
    the baseline of the first recorded runs).

Also (``--inherit``): function-preserving morph children trained from the
inherited parent params (at several learning-rate factors) vs from scratch,
at equal steps (``--steps`` for the parents and again for the children).

Usage: .venv/bin/python benchmarks/bench_population_train.py --sizes 1 8 32 64
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

import nasjax
from nasjax.data import FeatureConfig, FoldConfig, build_dataset, synthetic
from nasjax.graph import ArchSpec, random_arch, stack, unstack
from nasjax.morph import PRESERVING, random_morph
from nasjax.train import (
    DispatchedOps,
    ScheduledOps,
    TrainConfig,
    TrainPlan,
    VmappedSwitch,
    choose_node_loop,
    make_train,
    make_train_data,
    select_fold,
    train_population,
)


def setup(window: int, n_symbols: int = 4, signal: float = 0.15):
    syn = synthetic(0, n_symbols=n_symbols, n_steps=6000, signal=signal)
    fc = FeatureConfig.minimal(return_lags=(1, 3), vol_windows=(12,))
    return build_dataset(syn.frame, fc, window=window, folds=FoldConfig(n_folds=1))


def bench_spec(ds, window: int, max_nodes=8, max_width=32, ops=None) -> ArchSpec:
    """The benchmark's bucket: all known ops unless ``ops`` is given."""
    return ArchSpec(
        n_features=ds.features.shape[-1],
        window=window,
        max_nodes=max_nodes,
        max_width=max_width,
        ops=nasjax.graph.KNOWN_OPS if ops is None else ops,
    )


def bench_config(steps: int, batch: int = 64) -> TrainConfig:
    """``steps`` steps of ``batch`` samples, one validation pass of 512."""
    return TrainConfig(
        n_steps=steps,
        eval_every=steps,
        batch_size=batch,
        eval_batch_size=256,
        max_eval_samples=512,
    )


def timed(fn, *args):
    t = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - t


#: The population-training modes timed for (a).
MODES = {
    "unroll": DispatchedOps("unroll"),
    "scan": DispatchedOps("scan"),
    "schedule": ScheduledOps(),
    "switch": VmappedSwitch(),
}


def bench_size(
    p,
    spec,
    cfg,
    data1,
    n_user_steady,
    user_model="static",
    modes=MODES,
):
    keys = jax.random.split(jax.random.key(p), p)
    archs = stack([random_arch(k, spec) for k in keys])
    params = jax.vmap(nasjax.nn.init)(keys, archs)
    key = jax.random.key(0)

    def timed_mode(strategy):
        plan = TrainPlan(strategy=strategy, shard=False)

        def run():
            return train_population(key, archs, params, data1, cfg, plan=plan).fitness

        _, total = timed(run)
        _, steady = timed(run)
        return total, steady

    default_loop = choose_node_loop(p, 1, cfg.n_steps)
    wanted = dict.fromkeys([default_loop, *modes])  # the default always runs
    times = {name: timed_mode(MODES[name]) for name in wanted}
    first, steady = times[default_loop]
    forward = nasjax.nn.apply_static if user_model == "static" else nasjax.nn.apply
    train = make_train(cfg, forward=forward)
    one = select_fold(data1, 0)
    user_first, user_steady = [], []
    for i, arch in enumerate(unstack(archs)):
        p_i = jax.tree.map(lambda x, i=i: x[i], params)
        f = jax.jit(lambda k, pp, d, arch=arch: train(k, arch, pp, d)[1]["best_score"])
        _, t1 = timed(f, key, p_i, one)
        user_first.append(t1)
        if i < n_user_steady:
            _, t2 = timed(f, key, p_i, one)
            user_steady.append(t2)
    u_steady = float(np.mean(user_steady)) * p
    u_total = float(np.sum(user_first))
    examples = p * cfg.n_steps * cfg.batch_size
    per_mode = {}
    for name, (total, st) in times.items():
        per_mode[f"{name}_compile_s"] = total - st
        per_mode[f"{name}_steady_s"] = st
        per_mode[f"{name}_total_s"] = total
    return {
        "P": p,
        "user_model": user_model,
        "default_node_loop": default_loop,
        "ours_compile_s": first - steady,
        "ours_steady_s": steady,
        "ours_total_s": first,
        **per_mode,
        **(
            {"ratio_steady_switch_over_ops": times["switch"][1] / steady}
            if "switch" in times
            else {}
        ),
        "user_compile_s": u_total - u_steady,
        "user_steady_s": u_steady,
        "user_total_s": u_total,
        "ratio_total": u_total / first,
        **{
            f"ratio_total_{name}": u_total / total
            for name, (total, _) in times.items()
            if name != "switch"
        },
        "ratio_steady": u_steady / steady,
        "ours_examples_per_s": examples / steady,
        "user_examples_per_s": examples / u_steady,
    }


def bench_inherit(spec, folded, cfg, p=16, lr_scales=(1.0, 0.3)):
    """Weight inheritance vs training from scratch, at equal steps.

    ``p`` random parents are trained ``cfg.n_steps``; each gets one random
    function-preserving morph; the children are trained ``cfg.n_steps`` more
    (a) from the morphed parent params at each learning-rate factor of
    ``lr_scales`` (the optimiser restarts: warmup + schedule) and (b) from a
    fresh initialisation, with the same keys. Reported per start: the mean
    validation-accuracy curve, the mean best, how many children reach their
    parent's score and after how many steps, and the paired difference of
    the best to scratch (mean and 95% t interval over the children).
    """
    from scipy import stats

    keys = jax.random.split(jax.random.key(123), p)
    archs = stack([random_arch(k, spec) for k in keys])
    unsharded = TrainPlan(shard=False)
    parents = train_population(
        jax.random.key(1), archs, None, folded, cfg, plan=unsharded
    )
    parent_params = jax.tree.map(lambda x: x[:, 0], parents.params)
    morph = jax.jit(
        jax.vmap(lambda k, a, pp: random_morph(k, a, pp, tuple(sorted(PRESERVING)))[0])
    )
    out = morph(jax.random.split(jax.random.key(2), p), archs, parent_params)
    parent_score = np.asarray(parents.fitness)[:, None]
    starts = [(f"inherit lr x{s:g}", "inherit", s) for s in lr_scales]
    starts.append(("scratch", "scratch", 1.0))
    res: dict = {}
    best: dict = {}
    for label, mode, scale in starts:
        r = train_population(
            jax.random.key(3),
            out.arch,
            None if mode == "scratch" else out.params,
            folded,
            cfg,
            plan=unsharded,
            lr_scale=jnp.full((p,), scale, jnp.float32),
        )
        curve = np.asarray(r.metrics["val_accuracy"][:, 0])  # [P, n_evals]
        reached = curve >= parent_score
        steps = np.where(
            reached.any(1), (reached.argmax(1) + 1) * cfg.eval_every, np.nan
        )
        best[label] = np.asarray(r.fitness, np.float64)
        res[label] = {
            "mean_val_acc_curve": curve.mean(0).round(4).tolist(),
            "mean_best_val_acc": float(np.nanmean(best[label])),
            "n_reaching_parent": int(reached.any(1).sum()),
            "median_steps_to_parent": float(np.nanmedian(steps))
            if np.isfinite(steps).any()
            else None,
        }
    for label in res:
        if label == "scratch":
            continue
        d = best[label] - best["scratch"]
        d = d[np.isfinite(d)]
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
        res[label]["best_minus_scratch"] = {
            "mean": float(d.mean()),
            "ci95": [float(d.mean() - half), float(d.mean() + half)],
        }
    res["parent_mean_val_acc"] = float(np.nanmean(parents.fitness))
    res["n_children"] = p
    res["applied"] = int(np.asarray(out.applied).sum())
    res["eval_every"] = cfg.eval_every
    return res


def _rounded(v):
    return round(v, 3) if isinstance(v, float) else v


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 32, 64])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--max-nodes", type=int, default=8)
    ap.add_argument("--max-width", type=int, default=32)
    ap.add_argument("--ops", default="all", help="comma list or 'all'")
    ap.add_argument("--user-steady", type=int, default=3)
    ap.add_argument(
        "--user-model",
        choices=("static", "bucket"),
        default="static",
        help="per-arch model of the user loop (see the module docstring)",
    )
    ap.add_argument(
        "--modes",
        nargs="+",
        choices=list(MODES),
        default=list(MODES),
        help="modes of (a) to time (the default node loop always runs)",
    )
    ap.add_argument("--inherit", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--json", default=None)
    ap.add_argument("--symbols", type=int, default=4, help="synthetic coins")
    ap.add_argument("--signal", type=float, default=0.15, help="Bayes acc - 0.5")
    ap.add_argument("--lr", type=float, default=None, help="peak learning rate")
    ap.add_argument("--inherit-members", type=int, default=16)
    ap.add_argument("--lr-scales", type=float, nargs="+", default=[1.0, 0.3])
    args = ap.parse_args()
    folded = setup(args.window, args.symbols, args.signal)
    ops = nasjax.graph.KNOWN_OPS if args.ops == "all" else tuple(args.ops.split(","))
    spec = bench_spec(folded.dataset, args.window, args.max_nodes, args.max_width, ops)
    cfg = bench_config(args.steps, args.batch)
    data1 = make_train_data(
        folded,
        eval_batch_size=cfg.eval_batch_size,
        max_eval_samples=cfg.max_eval_samples,
    )
    print(
        f"# {platform.platform()} cpus={os.cpu_count()} jax={jax.__version__} "
        f"devices={jax.devices()} spec=N{spec.max_nodes}/W{spec.max_width}/"
        f"T{spec.window} ops={len(ops)} steps={args.steps} batch={args.batch}"
    )
    rows = []
    if not args.skip_speed:
        for p in args.sizes:
            row = bench_size(
                p,
                spec,
                cfg,
                data1,
                args.user_steady,
                args.user_model,
                args.modes,
            )
            rows.append(row)
            print(json.dumps({k: _rounded(v) for k, v in row.items()}), flush=True)
    result: dict[str, object] = {"speed": rows}
    if args.inherit:
        icfg = TrainConfig(
            n_steps=args.steps,
            eval_every=next(
                d for d in range(max(1, args.steps // 8), 0, -1) if args.steps % d == 0
            ),
            batch_size=args.batch,
            eval_batch_size=256,
            max_eval_samples=1024,
        )
        if args.lr is not None:
            icfg = dataclasses.replace(icfg, learning_rate=args.lr)
        result["inherit"] = bench_inherit(
            spec, folded, icfg, args.inherit_members, tuple(args.lr_scales)
        )
        print(json.dumps(result["inherit"]), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
