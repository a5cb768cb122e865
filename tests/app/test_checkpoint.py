"""Checkpoints: exact encode/restore, config checks, and a real ``kill -9`` resume."""

import dataclasses
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl
import pytest

import nasjax  # noqa: F401  (must precede jax initialisation)
from nasjax.app.checkpoint import (
    CheckpointConfig,
    CheckpointMismatchError,
    SearchCheckpointer,
    committed_steps,
    config_diff,
)
from nasjax.app.config import (
    RESUMABLE_KEYS,
    override,
)
from nasjax.app.run import identity, run_search
from nasjax.data import FeatureConfig
from nasjax.graph import chain, stack
from nasjax.search import Archive, Proposal, SearchState
from nasjax.serialize import decode, encode
from tests.helpers import fast_train_config, small_spec, tiny_app_config, tiny_dataset

ROOT = Path(__file__).resolve().parents[2]
TIMING = ("train_seconds", "elapsed_s")

FEATURES = FeatureConfig.minimal()
# One op, so every round reuses one compiled trainer; 3 + 3 + 2 evaluations
# (max_evaluations cuts the third round and ends the search before round 4).
KILL_CFG = tiny_app_config(
    {
        "search.population": 3,
        "search.rounds": 4,
        "search.max_evaluations": 8,
        "search_space.ops": ("dense_gelu",),
        "data.window": 4,
        "data.synthetic_symbols": 2,
        "data.synthetic_steps": 800,
        "train": fast_train_config(
            n_steps=10,
            eval_every=5,
            warmup_steps=2,
            eval_batch_size=128,
            max_eval_samples=128,
        ),
        "evaluation.n_boot": 20,
    }
)


# --------------------------------------------------------------------------
# Exact round trip


def assert_tree_identical(a, b, path="state"):
    """Same container types, same array kinds, dtypes, shapes and values."""
    assert type(a) is type(b), f"{path}: {type(a)} vs {type(b)}"
    if isinstance(a, np.ndarray | jax.Array):
        if isinstance(a, jax.Array) and jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
            assert jax.random.key_impl(a) == jax.random.key_impl(b), path
            a, b = jax.random.key_data(a), jax.random.key_data(b)
        assert a.dtype == b.dtype and a.shape == b.shape, path
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=path)
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype, path
        np.testing.assert_array_equal(a, b, err_msg=path)
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            assert_tree_identical(a[k], b[k], f"{path}[{k!r}]")
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            x, y = getattr(a, f.name), getattr(b, f.name)
            assert_tree_identical(x, y, f"{path}.{f.name}")
    elif isinstance(a, tuple | list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_tree_identical(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), path
    else:
        assert a == b, path


def _state() -> dict:
    """A search-like payload with every kind of leaf the driver stores."""
    spec = small_spec(window=4, max_nodes=4)
    a1 = chain(spec, ["dense_gelu"], [8])
    a2 = chain(spec, ["dense_gelu", "conv"], [8, 16])
    archs = stack([a1, a2])
    params = {
        "node": {"kernel": np.arange(12, dtype=np.float32).reshape(3, 4)},
        "head": {"bias": np.array([0.5, -1.0], np.float32)},
    }
    prop = Proposal(
        archs=archs,
        params={"w": jnp.ones((2, 3), jnp.float32)},
        parent_fingerprints=("", "abc"),
        morph_names=((), ("widen", "deepen")),
        fingerprints=("f1", "f2"),
    )
    archive = Archive(
        archs=archs,
        fitness=np.array([0.51, np.nan]),
        fingerprints=("f1", "f2"),
        params={"f1": params},
    )
    with jax.enable_x64(True):
        gp_data = jnp.asarray([1.0, 2.5], jnp.float64)
    return {
        "searcher": SearchState(archive, prop, 3),
        "empty": SearchState(Archive(), None, 0),
        "rows": ({"round": 0, "fitness": float("nan"), "failed": True, "x": None},),
        "progress": (None, 0.5, float("inf")),
        "key": jax.random.key(7),
        "gp": gp_data,
        "scalar": np.float32(0.25),
        "nothing": np.zeros((0, 4), np.int32),
        "list": [1, "two", [3.0]],
    }


def test_encode_decode_is_exact():
    state = _state()
    skeleton, arrays = encode(state)
    assert all(isinstance(v, np.ndarray) and v.size for v in arrays.values())
    assert_tree_identical(state, decode(skeleton, arrays))


def test_encode_names_the_unsupported_leaf():
    with pytest.raises(TypeError, match=r"state\['bad'\]\[1\].*object"):
        encode({"bad": [1, object()]})
    with pytest.raises(TypeError, match="dict keys must be str"):
        encode({"bad": {1: 2}})


def test_orbax_save_restore_is_exact_and_keeps_max_to_keep(tmp_path):
    state = _state()
    cfg = CheckpointConfig(max_to_keep=2, async_save=True)
    with SearchCheckpointer(tmp_path / "ck", cfg) as ckpt:
        assert ckpt.latest_step() is None and ckpt.restore() is None
        for step in (1, 2, 3):
            ckpt.save(step, state, info={"step": step})
    assert committed_steps(tmp_path / "ck") == [2, 3]
    with SearchCheckpointer(tmp_path / "ck", cfg) as fresh:
        assert fresh.latest_step() == 3
        assert fresh.restore_info() == {"step": 3}
        assert_tree_identical(state, fresh.restore())
    with SearchCheckpointer(
        tmp_path / "ck", dataclasses.replace(cfg, force_new=True)
    ) as new:
        assert new.latest_step() is None


def _damage(step_dir: Path) -> None:
    """Cut every file of a committed step in half (a torn write on disk)."""
    for path in step_dir.rglob("*"):
        if path.is_file() and path.stat().st_size > 1:
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_a_damaged_latest_step_falls_back_to_the_previous(tmp_path, caplog):
    state = _state()
    cfg = CheckpointConfig(max_to_keep=3, async_save=False)
    with SearchCheckpointer(tmp_path / "ck", cfg) as ckpt:
        for step in (1, 2, 3):
            ckpt.save(step, state, info={"step": step})
    _damage(tmp_path / "ck" / "3")
    with SearchCheckpointer(tmp_path / "ck", cfg) as fresh:
        with caplog.at_level("WARNING", logger="nasjax.checkpoint"):
            assert fresh.restore_info() == {"step": 2}
        assert "step 3" in caplog.text and str(tmp_path / "ck") in caplog.text
        assert_tree_identical(state, fresh.restore())
        assert (tmp_path / "ck.corrupt" / "3").is_dir()
        fresh.save(3, state, info={"step": 3})  # the step can be saved again
    assert committed_steps(tmp_path / "ck") == [1, 2, 3]


def test_config_diff_names_keys_and_skips_budgets():
    a = identity(KILL_CFG)
    b = identity(
        override(
            KILL_CFG,
            {
                "seed": 1,
                "search.rounds": 9,
                "search.max_evaluations": None,
                "search.time_budget_s": 5.0,
                "train.n_steps": 20,
                "checkpoint": CheckpointConfig(force_new=True),
                "progress.bar": False,  # not part of a search's identity
                "tracker.name": "mlflow",
            },
        )
    )
    diff = config_diff(a, b, ignore=RESUMABLE_KEYS)
    assert [k for k, _, _ in diff] == ["seed", "train.n_steps"]
    assert diff[0][1:] == (0, 1)


# --------------------------------------------------------------------------
# kill -9 and resume (real subprocesses)

CHILD = textwrap.dedent(
    """
    import pickle, sys, time
    import nasjax  # noqa: F401  (first: XLA settings)
    from nasjax.app.checkpoint import committed_steps
    from nasjax.app.run import run_search

    cfg_path, out, pause = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(cfg_path, "rb") as f:
        cfg = pickle.load(f)

    def on_round(info):
        print(f"ROUND {info['round']}", flush=True)
        if info["round"] == pause:
            while pause not in committed_steps(info["checkpoint_dir"]):
                time.sleep(0.01)
            print("READY", flush=True)
            time.sleep(600)

    run_search(cfg, out, progress=False, on_round=on_round)
    print("DONE", flush=True)
    """
)


def _child(tmp: Path, out: Path, pause: int = 0) -> subprocess.Popen:
    env = dict(os.environ)
    # A shared persistent compilation cache: later processes load what the
    # first compiled instead of compiling again (same executables).
    env["JAX_COMPILATION_CACHE_DIR"] = str(tmp / "jax_cache")
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    script, cfg = str(tmp / "child.py"), str(tmp / "cfg.pkl")
    return subprocess.Popen(
        [sys.executable, "-W", "error", script, cfg, str(out), str(pause)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen, timeout: float = 600) -> list[str]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-4000:]
    return out.split()


@pytest.fixture(scope="module")
def kill_runs(tmp_path_factory):
    """An uninterrupted run, and one killed after round 1 then resumed."""
    tmp = tmp_path_factory.mktemp("kill")
    (tmp / "child.py").write_text(CHILD)
    (tmp / "cfg.pkl").write_bytes(pickle.dumps(KILL_CFG))
    ref, run = tmp / "ref", tmp / "run"
    _finish(_child(tmp, ref))

    proc = _child(tmp, run, pause=1)
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = proc.stdout.readline().strip()
        lines.append(line)
        if line in ("READY", ""):
            break
    assert lines[-1] == "READY", (lines, proc.stderr.read() if proc.stderr else "")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    killed = {
        "steps": committed_steps(run / "checkpoints"),
        "results": pl.read_parquet(run / "results.parquet"),
        "summary": (run / "summary.json").exists(),
    }
    resumed = _finish(_child(tmp, run))
    return ref, run, killed, resumed


def test_killed_run_resumes_to_the_uninterrupted_result(kill_runs):
    ref, run, killed, resumed = kill_runs
    # Killed after round 1 was committed, before the end.
    assert killed["steps"] == [1] and not killed["summary"]
    assert killed["results"]["round"].unique().to_list() == [0]
    # The resumed process ran rounds 2 and 3 only.
    assert resumed == ["ROUND", "2", "ROUND", "3", "DONE"]
    a = pl.read_parquet(ref / "results.parquet")
    b = pl.read_parquet(run / "results.parquet")
    assert a.height == b.height == KILL_CFG.search.max_evaluations
    assert a.columns == b.columns
    cols = [c for c in a.columns if c not in TIMING]
    assert a.select(cols).equals(b.select(cols))
    # Round 1 was restored, not recomputed: even its timings are the killed run's.
    first = b.filter(pl.col("round") == 0)
    assert first.equals(killed["results"])


def test_resumed_summary_matches(kill_runs):
    import json

    ref, run, _, _ = kill_runs
    a = json.loads((ref / "summary.json").read_text())
    b = json.loads((run / "summary.json").read_text())
    assert a["best"]["fingerprint"] == b["best"]["fingerprint"]
    assert a["best"]["test"] == b["best"]["test"]
    assert a["best"]["validation"] == b["best"]["validation"]
    assert a["progress"] == b["progress"]
    assert b["budget"]["stopped_by"] == "max_evaluations"
    assert b["n_evaluations"] == KILL_CFG.search.max_evaluations


def test_other_config_is_refused_naming_the_keys(kill_runs):
    _, run, _, _ = kill_runs
    other = override(KILL_CFG, {"seed": 3, "train.n_steps": 20})
    with pytest.raises(CheckpointMismatchError, match="force_new") as err:
        run_search(other, run, progress=False)
    message = str(err.value)
    assert "seed: checkpoint 0, now 3" in message
    assert "train.n_steps: checkpoint 10, now 20" in message
    assert "data.synthetic_steps" not in message


def test_other_data_is_refused(kill_runs):
    _, run, _, _ = kill_runs
    data = tiny_dataset(5, n_symbols=2, n_steps=800, features=FEATURES, n_folds=None)
    with pytest.raises(CheckpointMismatchError, match=r"data \(content hash\)"):
        run_search(KILL_CFG, run, dataset=data, progress=False)


@pytest.mark.slow  # three whole runs; the killed-run resume stays fast
def test_a_damaged_checkpoint_resumes_to_the_uninterrupted_result(
    kill_runs, tmp_path, caplog
):
    """The finished run's newest step damaged: the run falls back to the step
    before, recomputes the last round and ends as the uninterrupted run."""
    import shutil

    ref, run, _, _ = kill_runs
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    steps = committed_steps(copy / "checkpoints")
    _damage(copy / "checkpoints" / str(steps[-1]))
    with caplog.at_level("WARNING", logger="nasjax.checkpoint"):
        run_search(KILL_CFG, copy, progress=False)
    assert f"checkpoint step {steps[-1]}" in caplog.text
    a = pl.read_parquet(ref / "results.parquet")
    b = pl.read_parquet(copy / "results.parquet")
    cols = [c for c in a.columns if c not in TIMING]
    assert a.select(cols).equals(b.select(cols))


@pytest.mark.slow
def test_kill_at_an_arbitrary_moment(tmp_path):
    """Kill as soon as round 1 is committed, wherever the process is then."""
    (tmp_path / "child.py").write_text(CHILD)
    (tmp_path / "cfg.pkl").write_bytes(pickle.dumps(KILL_CFG))
    ref, run = tmp_path / "ref", tmp_path / "run"
    _finish(_child(tmp_path, ref))
    proc = _child(tmp_path, run)
    while not committed_steps(run / "checkpoints") and proc.poll() is None:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    _finish(_child(tmp_path, run))
    a = pl.read_parquet(ref / "results.parquet").drop(TIMING)
    b = pl.read_parquet(run / "results.parquet").drop(TIMING)
    assert a.equals(b)
