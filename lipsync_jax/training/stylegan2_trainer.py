"""Stage 1: StyleGAN2 pretraining on face frames (stylegan2-ada-pytorch's training loop).

Non-saturating logistic loss; lazy R1 on reals every `r1_interval` D steps (weighted by the
interval), with Adam's learning rate and betas corrected for the lazy regularisation
(c = interval / (interval + 1)); style mixing; an EMA generator; the mapping network's w_avg
tracked in the G step. Separate jitted D, D-regularisation and G steps on one state.
"""

import jax
import jax.numpy as jnp
import optax
from jax.sharding import NamedSharding, PartitionSpec as P

from lipsync_jax import input_pipeline
from lipsync_jax.models import stylegan2
from lipsync_jax.training import common, losses, loop


class StyleGAN2Trainer:

  def __init__(self, config, source):
    self.config = config
    self.source = source
    m = config.model
    dtype = jnp.dtype(config.get("dtype", "float32"))  # compute only: parameters stay float32
    self.g = stylegan2.Generator(m.resolution, m.z_dim, m.w_dim, m.channel_base, m.channel_max,
                                 dtype)
    self.d = stylegan2.Discriminator(m.resolution, m.channel_base, m.channel_max,
                                     config.mbstd_group, dtype)
    c = config.r1_interval / (config.r1_interval + 1)
    self.g_tx = optax.adam(config.learning_rate, b1=0.0, b2=0.99, eps=1e-8)
    self.d_tx = optax.adam(config.learning_rate * c, b1=0.0, b2=0.99**c, eps=1e-8)

  def init_state(self, rng):
    k_g, k_d = jax.random.split(rng)
    gv = common.jit_init(lambda k: stylegan2.init_generator_variables(self.g, k))(k_g)
    r = self.config.model.resolution
    dp = common.jit_init(self.d.init)(k_d, jnp.zeros((self.config.mbstd_group, r, r, 3)))["params"]
    g_ema = jax.tree_util.tree_map(jnp.copy, gv["params"])  # its own buffers: states are donated
    return {"g_params": gv["params"], "g_ema": g_ema, "w_avg": gv["w_avg"],
            "noise_const": gv["noise_const"], "d_params": dp, "g_opt": self.g_tx.init(gv["params"]),
            "d_opt": self.d_tx.init(dp), "rng": loop.key_data(rng)}

  def make_iterator(self, start_step, process_index, process_count):
    cfg = input_pipeline.pipeline_config(self.config, num_frames=1, fields=("frames",))
    return common.make_iterator(self.config, self.source, cfg, process_index, process_count,
                              start_step)

  def _generate(self, g_params, state, z, rng, mix_rng, update_w_avg):
    variables = {"params": g_params, "w_avg": state["w_avg"], "noise_const": state["noise_const"]}
    ws, new = self.g.apply(variables, z[0], update_w_avg=update_w_avg, method=self.g.map,
                           mutable=["w_avg"])
    # Style mixing: with probability p, the codes after a random cutoff come from a second z.
    ws2 = self.g.apply(variables, z[1], method=self.g.map)
    k_cut, k_p = jax.random.split(mix_rng)
    num_ws = ws.shape[1]
    cutoff = jax.random.randint(k_cut, (), 1, num_ws)
    cutoff = jnp.where(jax.random.uniform(k_p) < self.config.style_mixing, cutoff, num_ws)
    ws = jnp.where(jnp.arange(num_ws)[None, :, None] < cutoff, ws, ws2)
    img = self.g.apply(variables, ws, rngs={"noise": rng}, method=self.g.synthesize)
    return img, new["w_avg"]

  def _latents(self, rng, n):
    """Two z per sample (style mixing), laid out like the batch: drawn from the step's replicated
    key, they would make every device compute the whole batch's generator and D(fake)."""
    z = jax.random.normal(rng, (2, n, self.config.model.z_dim))
    return jax.lax.with_sharding_constraint(z, self._z_sharding)

  def _d_step(self, state, batch, step):
    rng = jax.random.fold_in(loop.step_rng(state["rng"], step), 0)
    k_z, k_n, k_m = jax.random.split(rng, 3)
    real = common.to_float(batch["frames"][:, 0])
    fake, _ = self._generate(state["g_params"], state, self._latents(k_z, real.shape[0]), k_n, k_m, False)
    fake = jax.lax.stop_gradient(fake)

    def loss_fn(dp):
      lf, lr = self.d.apply({"params": dp}, fake), self.d.apply({"params": dp}, real)
      loss = losses.d_logistic(lr, lf)
      return loss, {"d_loss": loss, "d_real": lr.mean(), "d_fake": lf.mean()}
    grads, metrics = jax.grad(loss_fn, has_aux=True)(state["d_params"])
    updates, d_opt = self.d_tx.update(grads, state["d_opt"], state["d_params"])
    metrics["d_grad_norm"] = optax.global_norm(grads)
    return {**state, "d_params": optax.apply_updates(state["d_params"], updates), "d_opt": d_opt}, metrics

  def _r1_step(self, state, batch, step):
    real = common.to_float(batch["frames"][:, 0])

    def loss_fn(dp):
      grad_real = jax.grad(lambda x: self.d.apply({"params": dp}, x).sum())(real)
      penalty = losses.r1_penalty(grad_real)
      return penalty * (self.config.r1_gamma / 2) * self.config.r1_interval, penalty
    grads, penalty = jax.grad(loss_fn, has_aux=True)(state["d_params"])
    updates, d_opt = self.d_tx.update(grads, state["d_opt"], state["d_params"])
    return ({**state, "d_params": optax.apply_updates(state["d_params"], updates), "d_opt": d_opt},
            {"r1_penalty": penalty})

  def _g_step(self, state, batch, step):
    rng = jax.random.fold_in(loop.step_rng(state["rng"], step), 1)
    k_z, k_n, k_m = jax.random.split(rng, 3)
    n = batch["frames"].shape[0]

    def loss_fn(gp):
      fake, w_avg = self._generate(gp, state, self._latents(k_z, n), k_n, k_m, True)
      loss = losses.g_nonsaturating(self.d.apply({"params": state["d_params"]}, fake))
      return loss, w_avg
    (loss, w_avg), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["g_params"])
    updates, g_opt = self.g_tx.update(grads, state["g_opt"], state["g_params"])
    g_params = optax.apply_updates(state["g_params"], updates)
    beta = self.config.ema_beta
    g_ema = jax.tree_util.tree_map(lambda e, p: p + (e - p) * beta, state["g_ema"], g_params)
    return ({**state, "g_params": g_params, "g_opt": g_opt, "g_ema": g_ema, "w_avg": w_avg},
            {"g_loss": loss, "g_grad_norm": optax.global_norm(grads)})

  def setup(self, mesh, state_shardings):
    data = NamedSharding(mesh, P("data"))
    self._z_sharding = NamedSharding(mesh, P(None, "data"))
    self._jit_d = common.replicated_jit(self._d_step, mesh, state_shardings, data)
    self._jit_r1 = common.replicated_jit(self._r1_step, mesh, state_shardings, data)
    self._jit_g = common.replicated_jit(self._g_step, mesh, state_shardings, data)
    # Replicated: every process fetches the images.
    self._jit_sample = jax.jit(self._samples, out_shardings=loop.replicated(mesh))

  def train_step(self, state, batch, step):
    step_arr = jnp.int32(step)
    state, metrics = self._jit_d(state, batch, step_arr)
    if step % self.config.r1_interval == 0:
      state, r1 = self._jit_r1(state, batch, step_arr)
      metrics = {**metrics, **r1}
    state, g = self._jit_g(state, batch, step_arr)
    metrics = {**metrics, **g, "loss": metrics["d_loss"] + g["g_loss"],
               "learning_rate": jnp.asarray(self.config.learning_rate)}
    return state, metrics

  def _samples(self, state):
    z = jax.random.normal(jax.random.key(0), (8, self.config.model.z_dim))
    variables = {"params": state["g_ema"], "w_avg": state["w_avg"], "noise_const": state["noise_const"]}
    return {"g_ema_samples": common.to_uint8(self.g.apply(variables, z, noise_mode="const"))}

  def summaries(self, state, batch):
    return jax.device_get(self._jit_sample(state))
