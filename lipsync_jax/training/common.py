"""Helpers shared by the trainers."""

import jax
import jax.numpy as jnp
import optax

from lipsync_jax.models import labels as labels_lib


def to_float(images):
  """uint8 images -> float32 in [-1, 1]."""
  return images.astype(jnp.float32) / 127.5 - 1.0


def to_uint8(images):
  return jnp.clip((images + 1.0) * 127.5 + 0.5, 0, 255).astype(jnp.uint8)


def partitioned(trainable: dict[str, optax.GradientTransformation] | optax.GradientTransformation,
                trained_labels, params):
  """An optimizer that updates parameters whose label is in `trained_labels` and freezes the rest
  (their updates are exactly zero: optax.set_to_zero, not a masked pass-through)."""
  tree = labels_lib.param_labels(params)
  groups = jax.tree_util.tree_map(lambda l: "train" if l in trained_labels else "freeze", tree)
  return optax.multi_transform({"train": trainable, "freeze": optax.set_to_zero()}, groups)


def apply_gradients(state: dict, grads, tx, metrics: dict, learning_rate: float):
  """One optimizer update of state['params'] / state['opt_state']; adds the gradient norm and the
  learning rate to the metrics."""
  updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
  metrics = {**metrics, "grad_norm": optax.global_norm(grads),
             "learning_rate": jnp.asarray(learning_rate)}
  return {**state, "params": optax.apply_updates(state["params"], updates), "opt_state": opt_state}, metrics


def replicated_jit(fn, mesh, state_shardings, batch_sharding, donate=True):
  """jit of (state, batch, step) -> (state, metrics) with explicit shardings."""
  rep = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  return jax.jit(fn, in_shardings=(state_shardings, batch_sharding, rep),
                 out_shardings=(state_shardings, rep), donate_argnums=(0,) if donate else ())
