"""A fifth phase of the CPU learning measurement (README, "Does it learn?"): more channels.

After the third phase (configs/lipsync_proof128_mouth.py) the mouth opens in time but is drawn as a
blur, on training clips as much as on unseen sentences, which points at the decoder's capacity (16
channels at 128x128, 32 at 64x64). This phase doubles both (channel_base 2048 -> 4096) and starts
from the third phase's run (config.pretrained_lipsync) with its parameters embedded in the wider
model (widen_pretrained), the same losses, and a cosine from 2e-4. Tried and dropped: after 1000
steps its mouth-opening correlations were the third phase's (unseen sentences 0.60 / 0.63 against
0.61 / 0.62; training clips 0.47 / 0.46 against 0.47 / 0.47). Not in scripts/learning_proof.sh.
"""

from configs import lipsync_proof128_mouth


def get_config():
  c = lipsync_proof128_mouth.get_config()
  c.model.channel_base = 4096
  c.widen_pretrained = True
  c.num_steps = 1200
  return c
