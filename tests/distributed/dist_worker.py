"""One process of the distributed tests (run as a script, never collected).

Usage: ``python tests/distributed/dist_worker.py MODE OUT_DIR [SEARCHER]``

The process joins a multi-process run when the ``NASJAX_*`` variables of
:func:`nasjax.distributed.local_env` are set (else it runs alone), then:

* ``mesh``: exercises the mesh helpers, the consistency check, the broadcast
  and a sharded orbax checkpoint round trip on the global mesh; prints
  ``MESH_OK``.
* ``quick``: ``mesh`` then ``train`` (one start-up for both).
* ``train``: trains a 3-member population of a tiny bucket (fewer members
  than the 4 devices of the tests); process 0 writes ``train.npz``; prints
  ``TRAIN_OK``. :func:`train_arrays` is also the in-process reference.
* ``search``: trains fixed populations (5 and 3 members, one forced into
  several chunks) and runs a 2-round ask -> ``train_population`` -> tell
  search, checking the search state is identical on every process each round
  and checkpointing it collectively; process 0 writes ``train.npz`` and
  ``results.parquet`` to ``OUT_DIR``; prints ``SEARCH_OK``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# Run as a script, this folder is on sys.path, not the repository root: put
# the root first so that ``tests.helpers`` and the checkout's ``nasjax`` import.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import jax
import numpy as np

import nasjax  # noqa: F401  (first: XLA settings)
from nasjax import distributed as dist
from tests.helpers import data_spec, fast_train_config, random_archs, tiny_dataset


def _dataset(n_folds: int = 2):
    return tiny_dataset(n_steps=900, n_folds=n_folds)


def _spec(ds, ops=("dense_gelu", "conv", "identity")):
    return data_spec(ds, max_width=8, ops=tuple(ops))


def _train_cfg():
    return fast_train_config(batch_size=8, eval_batch_size=32, warmup_steps=1)


def train_arrays(cases, ds, folds, norm, spec) -> dict[str, Any]:
    """Train fixed populations ``[(P, chunk_size), ...]``; results by name.

    Asserts the results are identical on every process.
    """
    from nasjax.data import FoldedData
    from nasjax.search.base import init_population
    from nasjax.train import TrainPlan, train_population

    cfg = _train_cfg()
    arrays: dict[str, Any] = {}
    for n, chunk in cases:
        keys = jax.random.split(jax.random.key(n), n)
        archs = random_archs(spec, n, n)
        params = init_population(keys, archs)
        res = train_population(
            jax.random.key(1),
            archs,
            params,
            FoldedData(ds, folds, norm),
            cfg,
            plan=TrainPlan(chunk_size=chunk),
        )
        assert res.fitness.shape == (n,)
        dist.check_same_everywhere(
            {"fitness": np.asarray(res.fitness), "params": res.params},
            f"result P={n}",
        )
        tag = f"p{n}_c{chunk or 0}"
        arrays[f"{tag}_fitness"] = np.asarray(res.fitness)
        arrays[f"{tag}_val_loss"] = np.asarray(res.metrics["val_loss"])
        for i, leaf in enumerate(jax.tree.leaves(res.params)):
            arrays[f"{tag}_param{i}"] = np.asarray(leaf)
    return arrays


TRAIN_CASES = ((3, None),)
"""``train`` mode: 3 members (padded to the device count)."""
SEARCH_TRAIN_CASES = ((5, None), (5, 4))
"""``search`` mode: 5 members (padded to 8), and in 2 chunks of 4."""


def tiny_setup():
    """The ``train`` mode's data and bucket (1 fold, 2 ops: a fast compile)."""
    ds, folds, norm = _dataset(n_folds=1)
    return ds, folds, norm, _spec(ds, ("dense_gelu", "identity"))


def train_mode(out: Path, info) -> None:
    """Tiny population training; process 0 writes ``train.npz``."""
    arrays = train_arrays(TRAIN_CASES, *tiny_setup())
    if dist.is_main_process():
        np.savez(out / "train.npz", **arrays)
    print("TRAIN_OK", json.dumps(info.__dict__), flush=True)


def mesh_checks(out: Path, info) -> None:
    """Helpers on the global mesh; every assertion holds on every process."""
    n_dev = jax.device_count()
    if info.multi_process:  # a second initialize only reports
        again = dist.initialize(dist.DistributedConfig(auto=True))
        assert again.source == "existing", again
        assert (again.process_count, again.device_count) == (2, n_dev)
    mesh = dist.population_mesh()
    assert mesh.devices.size == n_dev
    host = np.arange(n_dev * 3 * 2, dtype=np.float32).reshape(n_dev * 3, 2)
    keys = jax.random.split(jax.random.key(7), n_dev * 3)
    glob = dist.shard_population({"x": host, "k": keys}, mesh)
    assert glob["x"].shape == host.shape
    assert glob["x"].sharding.spec == dist.population_sharding(mesh).spec
    mine = {d.id for d in jax.local_devices()}
    assert {s.device.id for s in glob["x"].addressable_shards} == mine
    f = jax.jit(jax.vmap(lambda k, x: x * jax.random.uniform(k)))
    got = dist.gather(f(glob["k"], glob["x"]))
    want = jax.vmap(lambda k, x: x * jax.random.uniform(k))(keys, host)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # One packed all-gather for a mixed-dtype population tree.
    mixed = {
        "f": host.reshape(-1, 1, 2),
        "i": np.arange(host.shape[0], dtype=np.int32) - 7,
        "b": np.arange(host.shape[0]) % 3 == 0,
        "u": np.arange(host.shape[0] * 3, dtype=np.uint8).reshape(-1, 3),
    }
    packed = dist.gather_population(dist.shard_population(mixed, mesh))
    for k, v in mixed.items():
        assert packed[k].dtype == v.dtype and packed[k].shape == v.shape, k
        np.testing.assert_array_equal(packed[k], v)
    rep = dist.replicate(host, mesh)
    assert float(jax.jit(lambda a: a.sum())(rep)) == float(host.sum())

    # Exact host all-gather and agreement (float64 survives 32-bit mode).
    rows = dist.allgather_host(np.asarray([jax.process_index(), 1.0 / 3.0]))
    assert rows.dtype == np.float64 and rows.shape == (jax.process_count(), 2)
    assert rows[:, 0].tolist() == list(range(jax.process_count()))
    assert np.all(rows[:, 1] == 1.0 / 3.0)
    assert dist.agree(100.0 + jax.process_index()) == 100.0
    assert dist.process_budget(2**40 + jax.process_index()) == 2**40 * (
        jax.process_count()
    )

    # Identical state passes; a diverged process is named; broadcast repairs.
    state = {"fitness": np.array([0.5, np.nan]), "fps": ("a", "b"), "r": 1}
    fp = dist.check_same_everywhere(state)
    assert fp == dist.fingerprint(state)
    local = dict(state, r=1 + jax.process_index())
    if jax.process_count() > 1:
        try:
            dist.check_same_everywhere(local, "toy state")
        except dist.StateDivergedError as e:
            assert "process(es) [1]" in str(e), e
        else:
            raise AssertionError("divergence not detected")
    fixed = dist.broadcast_from_main(local)
    assert dist.check_same_everywhere(fixed) == fp
    assert fixed["fps"] == ("a", "b") and np.isnan(fixed["fitness"][1])

    # Sharded orbax round trip: each process writes and reads its shards.
    tree = {
        "w": glob["x"],
        "b": dist.shard_population(host[:, 0].astype(np.int32), mesh),
    }
    path = out / "sharded_ckpt"
    dist.save_sharded(path, tree)
    back = dist.restore_sharded(path, dist.abstract_like(tree))
    assert back["w"].sharding == tree["w"].sharding
    for k in tree:
        np.testing.assert_array_equal(dist.gather(back[k]), dist.gather(tree[k]))
    # Restore onto a different layout (replicated) works too.
    rep_target = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(
            x.shape, x.dtype, sharding=dist.replicated_sharding(mesh)
        ),
        tree,
    )
    again = dist.restore_sharded(path, rep_target)
    np.testing.assert_array_equal(dist.gather(again["w"]), host)
    print("MESH_OK", json.dumps(info.__dict__), flush=True)


def search_checks(out: Path, searcher_name: str, info) -> None:
    """Fixed-population training and a 2-round search; process 0 writes."""
    import polars as pl

    from nasjax.app.checkpoint import CheckpointConfig, SearchCheckpointer
    from nasjax.data import FoldedData
    from nasjax.graph import unstack
    from nasjax.search import SEARCHERS
    from nasjax.train import train_population

    ds, folds, norm = _dataset()
    spec, cfg = _spec(ds), _train_cfg()
    arrays = train_arrays(SEARCH_TRAIN_CASES, ds, folds, norm, spec)

    options = {
        "random": {},
        # Morphs that always apply in this small bucket, so round 1 holds
        # children that inherit their parents' weights.
        "evolution": {
            "population_size": 4,
            "sample_size": 2,
            "morphs": ("deepen", "swap_op"),
        },
        "bayes_morph": {
            "n_init": 3,
            "n_candidates": 32,
            "top_k": 2,
            "gp_restarts": 2,
            "gp_steps": 20,
        },
    }[searcher_name]
    searcher = SEARCHERS[searcher_name](spec, **options)
    root = jax.random.key(0)
    k_init, k_search = jax.random.split(root)
    state = searcher.init(k_init, None)
    rows = []
    with SearchCheckpointer(out / "checkpoints", CheckpointConfig()) as ckpt:
        for r in range(2):
            k_ask, k_train, k_tell = jax.random.split(
                jax.random.fold_in(k_search, r), 3
            )
            proposal, state = searcher.ask(k_ask, state, 3)
            res = train_population(
                k_train,
                proposal.archs,
                proposal.params,
                FoldedData(ds, folds, norm),
                cfg,
            )
            fitness = np.asarray(res.fitness, np.float64)
            trained = jax.tree.map(lambda x: x[:, -1], res.params)
            state, _ = searcher.tell(
                k_tell, state, proposal.archs, fitness, params=trained
            )
            fp = dist.check_same_everywhere(state, f"search state after round {r}")
            acc = np.asarray(res.metrics["best_val_accuracy"], np.float64)
            for i, arch in enumerate(unstack(proposal.archs)):
                rows.append(
                    {
                        "round": r,
                        "arch_json": arch.to_json(),
                        "fingerprint": proposal.fingerprints[i],
                        "parent_fingerprint": proposal.parent_fingerprints[i],
                        "fitness": float(fitness[i]),
                        **{
                            f"val_accuracy_fold{k}": float(acc[i, k])
                            for k in range(acc.shape[1])
                        },
                        "state_fingerprint": fp,
                    }
                )
            # Every process takes part in the save; orbax writes once.
            ckpt.save(r + 1, {"state": state, "root": root}, {"round": r + 1})
        ckpt.wait()
        restored = ckpt.restore()
    assert dist.fingerprint(restored["state"]) == dist.fingerprint(state)
    if dist.is_main_process():
        np.savez(out / "train.npz", **arrays)
        pl.DataFrame(rows).write_parquet(out / "results.parquet")
        (out / "info.json").write_text(json.dumps(info.__dict__))
    print("SEARCH_OK", json.dumps(info.__dict__), flush=True)


def main(argv: list[str]) -> None:
    """Join the run (``NASJAX_*`` variables, else alone) and run a mode."""
    info = dist.initialize(dist.DistributedConfig(auto=True))
    mode, out_dir = argv[0], Path(argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    if mode == "quick":
        mesh_checks(out_dir, info)
        train_mode(out_dir, info)
    elif mode == "mesh":
        mesh_checks(out_dir, info)
    elif mode == "train":
        train_mode(out_dir, info)
    elif mode == "search":
        search_checks(out_dir, argv[2] if len(argv) > 2 else "evolution", info)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    dist.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
