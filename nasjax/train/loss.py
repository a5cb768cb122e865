"""Cross-entropy with class weights and label smoothing; accuracy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def class_weights(
    labels: jax.Array, mask: jax.Array, n_classes: int, balanced: bool
) -> jax.Array:
    """``float32[C]`` per-class loss weights.

    Args:
        labels: ``int32[n]`` training labels.
        mask: ``bool[n]`` valid entries.
        n_classes: C.
        balanced: Inverse-frequency weights ``n / (C * count_c)`` (absent
            classes get 0); otherwise all ones.
    """
    if not balanced:
        return jnp.ones((n_classes,), jnp.float32)
    onehot = jax.nn.one_hot(labels, n_classes) * mask[:, None]
    counts = jnp.sum(onehot, axis=0)
    total = jnp.sum(counts)
    return jnp.where(counts > 0, total / (n_classes * jnp.maximum(counts, 1.0)), 0.0)


def cross_entropy(
    logits: jax.Array,
    labels: jax.Array,
    *,
    weights: jax.Array | None = None,
    mask: jax.Array | None = None,
    label_smoothing: float = 0.0,
) -> jax.Array:
    """Weighted mean softmax cross-entropy, ``float32[]``.

    Args:
        logits: ``float32[B, C]``.
        labels: ``int32[B]``.
        weights: ``float32[C]`` class weights (default ones).
        mask: ``bool[B]`` examples to count (default all).
        label_smoothing: Mass spread uniformly over the C classes.
    """
    n_classes = logits.shape[-1]
    target = jax.nn.one_hot(labels, n_classes)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + label_smoothing / n_classes
    ce = optax.softmax_cross_entropy(logits, target)
    w = jnp.ones_like(ce) if weights is None else weights[labels]
    if mask is not None:
        w = w * mask
    return jnp.sum(w * ce) / jnp.maximum(jnp.sum(w), 1e-12)


def correct(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """``float32[B]``: 1 where the arg-max class equals the label."""
    return (jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32)
