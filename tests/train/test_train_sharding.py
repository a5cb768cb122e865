"""Sharded population training (4 fake CPU devices) equals the unsharded run."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import nasjax  # noqa: F401

SCRIPT = textwrap.dedent(
    """
    import nasjax
    import jax, numpy as np
    from nasjax.train import TrainPlan, train_population
    from tests.helpers import (data_spec, fast_train_config, random_members,
                               tiny_dataset)

    assert jax.device_count() == 4, jax.devices()
    data = tiny_dataset(n_steps=1200)
    archs, params = random_members(data_spec(data), 5, 0)
    cfg = fast_train_config(n_steps=6, eval_every=3, max_eval_samples=128,
                            warmup_steps=1)
    key = jax.random.key(1)
    a = train_population(key, archs, params, data, cfg, plan=TrainPlan(shard=True))
    b = train_population(key, archs, params, data, cfg, plan=TrainPlan(shard=False))
    assert a.fitness.shape == (5,)
    np.testing.assert_allclose(a.fitness, b.fitness, atol=1e-5)
    np.testing.assert_allclose(a.metrics["val_loss"], b.metrics["val_loss"],
                               rtol=1e-5, atol=1e-5)
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5)
    # Continuing sharded equals continuing unsharded (padding members too).
    more = fast_train_config(n_steps=3, eval_every=3, max_eval_samples=128,
                             warmup_steps=1)
    ra = train_population(key, archs, None, data, more,
                          plan=TrainPlan(shard=True), resume=a.state)
    rb = train_population(key, archs, None, data, more,
                          plan=TrainPlan(shard=False), resume=b.state)
    np.testing.assert_allclose(ra.fitness, rb.fitness, atol=1e-5)
    np.testing.assert_array_equal(ra.state.step, 9)
    # Two chunks of 4 (one member per device and chunk; each device runs the
    # op dispatch on its own block with its own capacities).
    c = train_population(key, archs, params, data, cfg,
                         plan=TrainPlan(chunk_size=4))
    np.testing.assert_allclose(c.fitness, b.fitness, atol=1e-5)
    np.testing.assert_allclose(c.metrics["val_loss"], b.metrics["val_loss"],
                               rtol=1e-5, atol=1e-5)
    print("SHARDED_OK", len(a.metrics["val_loss"].sharding.device_set)
          if hasattr(a.metrics["val_loss"], "sharding") else 0)
    """
)


@pytest.mark.slow
def test_sharded_equals_unsharded_on_4_fake_devices():
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        "--xla_force_host_platform_device_count=4 "
        "--xla_cpu_enable_concurrency_optimized_scheduler=false"
    )
    env["JAX_PLATFORMS"] = "cpu"
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "SHARDED_OK" in proc.stdout
