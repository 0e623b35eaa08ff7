"""Helpers shared by the trainers."""

import math

import jax
import jax.numpy as jnp
import optax
from jax.sharding import NamedSharding, PartitionSpec as P

from lipsync_jax import input_pipeline, lip_hint, resident_input
from lipsync_jax.models import labels as labels_lib
from lipsync_jax.models import stylelipsync
from lipsync_jax.training import loop


def jit_init(fn):
  """jax.jit for a model's init: its initialisers run once, so on CPU XLA compiles them without
  optimisation (the proof128 StyleLipSync init 34 -> 18 s, the SyncNet's 12 -> 2 s; values
  within an ulp of the optimised program's)."""
  options = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None
  return jax.jit(fn, compiler_options=options)


def to_float(images):
  """uint8 images -> float32 in [-1, 1]."""
  return images.astype(jnp.float32) / 127.5 - 1.0


def to_uint8(images):
  return jnp.clip((images + 1.0) * 127.5 + 0.5, 0, 255).astype(jnp.uint8)


def masked_input(frames, batch):
  """The decoder's input: the frames with the lip mask's region grey, the lips drawn in when the
  batch has a hint (config.lip_hint)."""
  masked = stylelipsync.mask_frames(frames, batch["masks"])
  if "hint" in batch:
    masked = lip_hint.draw(masked, batch["masks"], batch["hint"])
  return masked


def in_slices(fn, args, slices, indexed=False):
  """fn(*args) for a per-sample network (no sample's output depends on another's), computed as
  `slices` separate computations over slices of the batch, the outputs put back in order: on CPU
  a slice's working set stays in cache (the proof128 lip-sync step 0.903 -> 0.740 s with its
  teacher, audio encoder and lips in 8 slices). The same arithmetic; gradients flow as through
  fn. Slice j holds samples j, j + k, j + 2k, ...: over a batch sharded on D devices, k dividing
  the per-device batch, every device slices its own samples, no data moves. k = gcd(slices, N).
  With `indexed`, fn(j, k, *slice_args) is told which slice of how many it computes.
  """
  n = jax.tree_util.tree_leaves(args)[0].shape[0]
  k = math.gcd(max(int(slices), 1), n)
  call = (lambda j, a: fn(j, k, *a)) if indexed else (lambda j, a: fn(*a))  # noqa: E731
  if k == 1:
    return call(0, args)
  outs = [call(j, jax.tree_util.tree_map(lambda x: x.reshape((n // k, k) + x.shape[1:])[:, j],
                                         args))
          for j in range(k)]
  return jax.tree_util.tree_map(lambda *ys: jnp.stack(ys, 1).reshape((n,) + ys[0].shape[1:]),
                                *outs)


def decode(apply, model, masked, codes, rng, slices, intermediates=False):
  """model.decode of masked frames (N, T, R, R, 3) and codes (N, T, L, D), noise drawn from
  `rng`, over `slices` slices of the batch (in_slices; slice j's noise from rng folded with j).
  Returns the frames, and with `intermediates` also the decoder's sown intermediates (leaves
  (N * T, ...) as the unsliced decode gives them)."""

  def draw(j, k, masked, codes):
    key = rng if k == 1 else jax.random.fold_in(rng, j)
    pred, inter = apply(masked, codes, rngs={"noise": key}, method=model.decode,
                        mutable=["intermediates"])
    # (N * T, ...) -> (N, T, ...): in_slices puts outputs back in order by their first axis.
    m = masked.shape[0]
    return pred, jax.tree_util.tree_map(lambda x: x.reshape((m, -1) + x.shape[1:]),
                                        inter["intermediates"])

  pred, inter = in_slices(draw, (masked, codes), slices, indexed=True)
  if not intermediates:
    return pred
  return pred, jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[2:]), inter)


def make_iterator(config, source, pipeline_config, process_index, process_count, start_step,
                  audio_source=None):
  """A stage's training input: the host pipeline, or with config.device_input the split held on
  the devices and each batch gathered there (resident_input); the same samples either way."""
  kind = (resident_input.ResidentIterator if config.get("device_input", False)
          else input_pipeline.TrainIterator)
  return kind(source, config.batch_size, pipeline_config, process_index, process_count,
              start_step, audio_source)


def partitioned(trainable: dict[str, optax.GradientTransformation] | optax.GradientTransformation,
                trained_labels, params):
  """An optimizer that updates parameters whose label is in `trained_labels` and freezes the rest
  (their updates are exactly zero: optax.set_to_zero, not a masked pass-through)."""
  tree = labels_lib.param_labels(params)
  groups = jax.tree_util.tree_map(lambda l: "train" if l in trained_labels else "freeze", tree)
  return optax.multi_transform({"train": trainable, "freeze": optax.set_to_zero()}, groups)


def trained_mask(params, trained_labels):
  """A tree of bools shaped like `params`: True where the parameter's label is trained."""
  return jax.tree_util.tree_map(lambda l: l in trained_labels, labels_lib.param_labels(params))


def grad_of_trained(loss_fn, params, mask, *args):
  """jax.grad(loss_fn, has_aux=True)(params, *args), differentiated with respect to the leaves
  where `mask` is True only. The frozen leaves enter as constants and get zero gradients, so XLA
  computes no weight gradient for them (a gradient of the whole tree, even one the optimizer
  zeroes afterwards, is computed in full: its norm reads every leaf)."""
  leaves, treedef = jax.tree_util.tree_flatten(params)
  trained = treedef.flatten_up_to(mask)

  def of_trained(trained_leaves):
    it = iter(trained_leaves)
    full = [next(it) if m else jax.lax.stop_gradient(x) for x, m in zip(leaves, trained)]
    return loss_fn(treedef.unflatten(full), *args)

  grads, aux = jax.grad(of_trained, has_aux=True)([x for x, m in zip(leaves, trained) if m])
  it = iter(grads)
  return treedef.unflatten([next(it) if m else jnp.zeros_like(x)
                            for x, m in zip(leaves, trained)]), aux


def learning_rate_schedule(config):
  """Adam's step size: constant (the paper), or with lr_schedule="cosine" decayed over num_steps
  to lr_final_fraction of it."""
  kind = config.get("lr_schedule", "constant")
  if kind == "constant":
    return lambda step: jnp.asarray(config.learning_rate, jnp.float32)
  if kind == "cosine":
    return optax.cosine_decay_schedule(config.learning_rate, config.num_steps,
                                       config.lr_final_fraction)
  raise ValueError(f"lr_schedule {kind!r}: constant or cosine")


def apply_gradients(state: dict, grads, tx, metrics: dict, learning_rate: float):
  """One optimizer update of state['params'] / state['opt_state']; adds the gradient norm and the
  learning rate to the metrics."""
  updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
  metrics = {**metrics, "grad_norm": optax.global_norm(grads),
             "learning_rate": jnp.asarray(learning_rate)}
  return {**state, "params": optax.apply_updates(state["params"], updates), "opt_state": opt_state}, metrics


def replicated_jit(fn, mesh, state_shardings, batch_sharding, donate=True, extra_args=0):
  """jit of (state, batch, step, *extra) -> (state, metrics) with explicit shardings; the
  `extra_args` trailing arguments (frozen weights such as VGG16's) are replicated inputs, not
  constants compiled into the step."""
  rep = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  return jax.jit(fn, in_shardings=(state_shardings, batch_sharding, rep) + (rep,) * extra_args,
                 out_shardings=(state_shardings, rep), donate_argnums=(0,) if donate else ())


class DecoderSteps:
  """The step of the stages that train (part of) StyleLipSync: decoder prior, lip-sync and
  adaptation. The loss is differentiated with respect to the trained subtree only, VGG's weights
  enter as a replicated argument, and the summary images are replicated so that every process can
  fetch them (the rows of a batch-sharded array may live on other hosts' devices).

  A subclass provides loss(params, state, batch, rng, lpips_params) -> (loss, metrics),
  _samples(state, batch) -> {name: images}, and the attributes trained (labels), tx,
  learning_rate (a schedule) and lpips_params."""

  def _step(self, state, batch, step, lpips_params):
    rng = loop.step_rng(state["rng"], step)
    mask = trained_mask(state["params"], self.trained)
    grads, metrics = grad_of_trained(self.loss, state["params"], mask, state, batch, rng,
                                     lpips_params)
    return apply_gradients(state, grads, self.tx, metrics, self.learning_rate(step))

  def setup(self, mesh, state_shardings):
    self._jit_step = replicated_jit(self._step, mesh, state_shardings,
                                    NamedSharding(mesh, P("data")), extra_args=1)
    self._lpips = jax.device_put(self.lpips_params, loop.replicated(mesh))
    self._jit_sample = jax.jit(self._samples, out_shardings=loop.replicated(mesh))

  def train_step(self, state, batch, step):
    return self._jit_step(state, batch, jnp.int32(step), self._lpips)

  def summaries(self, state, batch):
    return jax.device_get(self._jit_sample(state, batch))
