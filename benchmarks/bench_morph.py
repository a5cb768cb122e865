"""Morph and forward-pass throughput: vmapped populations vs Python loops.

Measures, in one run on whatever devices JAX sees:

1. morphs per second: ``jit(vmap(random_morph))`` over a population vs the
   same jitted single-arch morph called in a Python loop;
2. forward throughput of P *different* architectures of one bucket:
   ``jit(vmap(apply))`` (one compile; under ``vmap`` every ``lax.switch``
   executes all op branches) vs one compiled model per architecture
   (``jit(apply)`` closed over the arch, so each compiles separately and each
   switch runs only its own branch);
3. ``nn.apply_population``: per-op dispatch, each op run only on the members
   that use it (static capacities);
4. the price of the op vocabulary under ``vmap``: the same population size with
   the full vocabulary vs dense/conv-only and dense-only vocabularies.

Compile time is reported apart from steady state (median of repeats,
``block_until_ready``).

Usage: ``python benchmarks/bench_morph.py [--population 32] [--batch 256]``
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import jax

import nasjax  # noqa: F401  (sets XLA flags before jax starts)
from nasjax import graph, morph, nn


def _timed(fn, *args, repeats: int = 5) -> tuple[float, float]:
    """(first call seconds incl. compile, median steady-state seconds)."""
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times)


def _population(spec: graph.ArchSpec, p: int, seed: int = 0):
    keys = jax.random.split(jax.random.key(seed), p)
    archs = jax.vmap(graph.random_arch, in_axes=(0, None))(keys, spec)
    params = jax.vmap(nn.init)(keys, archs)
    return keys, archs, params


def bench_morphs(spec: graph.ArchSpec, p: int) -> dict:
    keys, archs, params = _population(spec, p)
    batched = jax.jit(jax.vmap(lambda k, a, w: morph.random_morph(k, a, w)[0][:2]))
    single = jax.jit(lambda k, a, w: morph.random_morph(k, a, w)[0][:2])
    members = graph.unstack(archs)
    member_params = [jax.tree.map(lambda x, i=i: x[i], params) for i in range(p)]

    def loop(keys):
        return [
            single(k, a, w)
            for k, a, w in zip(keys, members, member_params, strict=True)
        ]

    c_v, t_v = _timed(batched, keys, archs, params)
    c_l, t_l = _timed(loop, keys)
    return {
        "P": p,
        "vmapped_morphs_per_s": p / t_v,
        "loop_morphs_per_s": p / t_l,
        "speedup": t_l / t_v,
        "vmapped_compile_s": c_v - t_v,
        "loop_compile_s": c_l - t_l,
    }


def bench_forward(spec: graph.ArchSpec, p: int, batch: int) -> dict:
    _, archs, params = _population(spec, p)
    x = jax.random.normal(jax.random.key(1), (batch, spec.window, spec.n_features))
    vmapped = jax.jit(jax.vmap(nn.apply, in_axes=(0, 0, None)))
    c_v, t_v = _timed(vmapped, archs, params, x)
    caps = nn.op_capacities(archs)
    dispatched = jax.jit(nn.apply_population, static_argnums=3)
    c_d, t_d = _timed(dispatched, archs, params, x, caps)
    members = graph.unstack(archs)
    compiles, runs = [], []
    for i, arch in enumerate(members):
        w = jax.tree.map(lambda leaf, i=i: leaf[i], params)
        own = jax.jit(lambda w, x, arch=arch: nn.apply(arch, w, x))
        first, steady = _timed(own, w, x, repeats=3)
        compiles.append(first - steady)
        runs.append(steady)
    return {
        "P": p,
        "vmapped_compile_s": c_v - t_v,
        "vmapped_run_s": t_v,
        "dispatch_compile_s": c_d - t_d,
        "dispatch_run_s": t_d,
        "capacities": caps,
        "per_arch_compile_s": sum(compiles),
        "per_arch_run_s": sum(runs),
        "run_ratio_per_arch_over_vmapped": sum(runs) / t_v,
        "total_ratio": (sum(compiles) + sum(runs)) / c_v,
        "vmapped_examples_per_s": p * batch / t_v,
        "dispatch_examples_per_s": p * batch / t_d,
    }


def bench_vocab(spec: graph.ArchSpec, p: int, batch: int) -> list[dict]:
    rows = []
    vocabularies = {
        "full": spec.ops,
        "dense+conv+norm": (
            "dense_gelu",
            "dense_tanh",
            "conv",
            "layernorm",
            "identity",
        ),
        "dense only": ("dense_gelu",),
    }
    for name, ops in vocabularies.items():
        s = graph.ArchSpec(
            n_features=spec.n_features,
            window=spec.window,
            max_nodes=spec.max_nodes,
            max_width=spec.max_width,
            ops=tuple(ops),
        )
        _, archs, params = _population(s, p)
        x = jax.random.normal(jax.random.key(1), (batch, s.window, s.n_features))
        f = jax.jit(jax.vmap(nn.apply, in_axes=(0, 0, None)))
        first, steady = _timed(f, archs, params, x)
        rows.append({"vocabulary": name, "compile_s": first - steady, "run_s": steady})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=32)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--window", type=int, default=32)
    args = parser.parse_args()
    spec = graph.ArchSpec(
        n_features=args.features, window=args.window, max_nodes=8, max_width=32
    )
    print(
        f"devices={jax.devices()} cpu_count={jax.device_count()} "
        f"machine={platform.machine()} bucket N={spec.max_nodes} W={spec.max_width} "
        f"window={spec.window} F={spec.n_features} batch={args.batch}"
    )
    m = bench_morphs(spec, 64)
    print(
        f"morphs (P=64): vmapped {m['vmapped_morphs_per_s']:.0f}/s vs loop "
        f"{m['loop_morphs_per_s']:.0f}/s -> {m['speedup']:.1f}x "
        f"(compile vmapped {m['vmapped_compile_s']:.1f}s, "
        f"loop {m['loop_compile_s']:.1f}s)"
    )
    f = bench_forward(spec, args.population, args.batch)
    print(
        f"forward (P={f['P']}): vmapped compile {f['vmapped_compile_s']:.2f}s run "
        f"{f['vmapped_run_s'] * 1e3:.1f}ms | per-arch compile "
        f"{f['per_arch_compile_s']:.1f}s "
        f"run {f['per_arch_run_s'] * 1e3:.1f}ms | steady-state ratio per-arch/vmapped "
        f"{f['run_ratio_per_arch_over_vmapped']:.2f}x | first-call ratio "
        f"{f['total_ratio']:.1f}x | {f['vmapped_examples_per_s']:.0f} examples/s"
    )
    print(
        f"forward (P={f['P']}): dispatch (apply_population, capacities "
        f"{f['capacities']}) compile {f['dispatch_compile_s']:.2f}s run "
        f"{f['dispatch_run_s'] * 1e3:.1f}ms = "
        f"{f['vmapped_run_s'] / f['dispatch_run_s']:.2f}x "
        f"faster than vmapped switch, {f['dispatch_examples_per_s']:.0f} examples/s"
    )
    for row in bench_vocab(spec, args.population, args.batch):
        print(
            f"vocabulary {row['vocabulary']:>16}: compile {row['compile_s']:.2f}s, "
            f"run {row['run_s'] * 1e3:.1f}ms for P={args.population}"
        )


if __name__ == "__main__":
    main()
