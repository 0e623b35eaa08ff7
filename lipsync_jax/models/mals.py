"""Moving-average based Latent Smoothing (paper section 3.3, eq. 4).

One MaLS per W+ index l: the (0.25, 0.5, 0.25) moving average of w^l over t-1..t+1 (the last frame
repeated past either end), then Conv1d(512, 512, 3) -> LeakyReLU(0.1) -> Conv1d(512, 512, 3) over
time. The public demo's convolutions are centred (reflect padding), which would make the code at t
depend on w up to t+3; ours are causal (the first frame repeated before the start), so the only
look-ahead is the moving average's one frame, and a stream that has seen frames up to t+1 computes
exactly the code the offline pass computes for frame t (MaLS.stream). Both convolutions start as
the identity on the current frame (current_frame_init), so an untrained MaLS adds no lag: its
output at t is lrelu(moving average at t).
"""

import flax.linen as nn
import jax.numpy as jnp

ALPHA = (0.25, 0.5, 0.25)


def moving_average(w, alpha=ALPHA):
  """(..., T, D) -> (..., T, D): sum_tau alpha_tau w_{t+tau}, edges repeated."""
  padded = jnp.concatenate([w[..., :1, :], w, w[..., -1:, :]], axis=-2)
  return alpha[0] * padded[..., :-2, :] + alpha[1] * padded[..., 1:-1, :] + alpha[2] * padded[..., 2:, :]


def current_frame_init(key, shape, dtype=jnp.float32):
  """A causal kernel (kernel, D, D) that passes the current frame: identity on the last tap, zero
  on the earlier ones. A default (random) initialisation mixes frames t-2..t of each convolution,
  a lag of about two frames over the pair that training would first have to unlearn."""
  del key
  kernel, d_in, d_out = shape
  return jnp.zeros(shape, dtype).at[kernel - 1].set(jnp.eye(d_in, d_out, dtype=dtype))


class _CausalConv1d(nn.Module):
  features: int
  kernel: int = 3

  @nn.compact
  def __call__(self, x, left_context=None):
    """x: (N, T, D). left_context: (N, kernel-1, D) inputs before x[:, 0]; default repeats x[:, 0]."""
    if left_context is None:
      left_context = jnp.repeat(x[:, :1], self.kernel - 1, axis=1)
    padded = jnp.concatenate([left_context, x], axis=1)
    return nn.Conv(self.features, (self.kernel,), padding="VALID", kernel_init=current_frame_init,
                   name="conv")(padded)


class MaLS(nn.Module):
  """All W+ indices at once: input and output (N, T, num_ws, w_dim); each index has its own weights."""
  num_ws: int = 14
  w_dim: int = 512

  def setup(self):
    make = lambda name: nn.vmap(  # noqa: E731
        _CausalConv1d, in_axes=2, out_axes=2, variable_axes={"params": 0},
        split_rngs={"params": True}, axis_size=self.num_ws)(self.w_dim, name=name)
    self.conv_a = make("conv_a")
    self.conv_b = make("conv_b")

  def __call__(self, w):
    """Offline: w (N, T, num_ws, D) -> MaLS(w), same shape."""
    avg = moving_average(w.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)
    return self.conv_b(nn.leaky_relu(self.conv_a(avg), 0.1))

  def step(self, avg_history, h_history, avg_t):
    """One streaming step at frame t.

    avg_history: the moving-averaged codes of frames t-2, t-1 (N, 2, num_ws, D); avg_t: frame t's
    (N, 1, num_ws, D); h_history: the first convolution's outputs at t-2, t-1, or None at t = 0.
    Returns (MaLS code at t, first-convolution output at t).
    """
    h = nn.leaky_relu(self.conv_a(avg_t, avg_history), 0.1)
    if h_history is None:
      h_history = jnp.repeat(h, 2, axis=1)
    return self.conv_b(h, h_history), h

  def block(self, avg_history, h_history, avg, first):
    """A streaming step over a block of K consecutive frames (what inference runs).

    avg_history, h_history: (N, 2, num_ws, D), the moving-averaged codes and first-convolution
    outputs of the two frames before the block (ignored where `first`, the block that starts the
    sequence: its first frame is repeated, as offline). avg: (N, K, num_ws, D).
    Returns (MaLS codes (N, K, ...), first-convolution outputs (N, K, ...)).
    """
    avg_history = jnp.where(first, jnp.repeat(avg[:, :1], 2, axis=1), avg_history)
    h = nn.leaky_relu(self.conv_a(avg, avg_history), 0.1)
    h_history = jnp.where(first, jnp.repeat(h[:, :1], 2, axis=1), h_history)
    return self.conv_b(h, h_history), h


def streaming_codes(mals: MaLS, params, w):
  """Feeds w (N, T, num_ws, D) one frame at a time, as a stream would, and returns the MaLS codes.

  Frame t's code needs w up to t+1 (the moving average's look-ahead); at the end of the stream the
  last frame is repeated, as offline.
  """
  t_len = w.shape[1]
  outs, avg_hist, h_hist = [], None, None
  for t in range(t_len):
    avg = (ALPHA[0] * w[:, max(t - 1, 0)] + ALPHA[1] * w[:, t] +
           ALPHA[2] * w[:, min(t + 1, t_len - 1)])[:, None]
    if avg_hist is None:
      avg_hist = jnp.repeat(avg, 2, axis=1)
    out, h = mals.apply(params, avg_hist, h_hist, avg, method=MaLS.step)
    h_hist = jnp.repeat(h, 2, axis=1) if h_hist is None else h_hist
    h_hist = jnp.concatenate([h_hist[:, 1:], h], axis=1)
    avg_hist = jnp.concatenate([avg_hist[:, 1:], avg], axis=1)
    outs.append(out)
  return jnp.concatenate(outs, axis=1)
