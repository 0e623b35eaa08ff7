"""Style-aware Masked Fusion, SaMF (paper section 3.2, eq. 2).

At every decoder block from 8x8, the face encoder's features E_face(X_t) of the masked frame and the
decoder's features G_prev meet through a mask S predicted from E_face and modulated by the block's
style: S keeps the face where the frame is given and lets the decoder draw inside the lip mask.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from lipsync_jax.models import ops


class SaMF(nn.Module):
  """Style-aware Masked Fusion (paper eq. 2).

  S = sigmoid(modulated 3x3 conv(E_face, w) + b), a 1-channel mask modulated by the block's first
  style code, as in the public demo; the output is S * E_face + (1 - S) * G_prev. (A leaky ReLU
  before the sigmoid, as an earlier version had, made the generated side win only where the
  logit reached -7.8 for S <= 0.1, against +1.6 for S >= 0.9.)
  """
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, generated, encoded, w):
    in_channels = encoded.shape[-1]
    styles = ops.FullyConnected(in_channels, bias_init=1.0, name="affine")(w)
    weight = self.param("weight", nn.initializers.normal(1.0), (3, 3, in_channels, 1))
    bias = self.param("bias", nn.initializers.zeros, (1,))
    s = ops.modulated_conv2d(encoded, weight, styles, compute_dtype=self.dtype)
    s = jax.nn.sigmoid(ops.bias_act(s, bias))
    self.sow("intermediates", "mask", s)
    return s * encoded.astype(jnp.float32) + (1 - s) * generated
