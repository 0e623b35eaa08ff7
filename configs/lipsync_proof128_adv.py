"""A fourth phase tried for the CPU learning measurement (README, "Does it learn?"); it did worse,
so scripts/learning_proof.sh does not run it.

Continues configs/lipsync_proof128_mouth.py's run (config.pretrained_lipsync) with an adversarial
loss on the mouth (lambda_mouth_adv): a small discriminator on the 64x64 squares around the lip
mask of all T frames, the generated mouths pasted into the real frames. After the third phase the
mouth opens in time but is drawn as a blur, even on training clips (MediaPipe's opening correlates
0.47 with the truth on 8 of them): L1 and LPIPS average over what the decoder cannot yet place
exactly; a discriminator rewards edges. The rate is a cosine from 1e-4 over the run. Measured: on
16 unseen-sentence clips 0.61 / 0.62 (own / other audio) fell to 0.56 / 0.52.
"""

from configs import lipsync_proof128_mouth


def get_config():
  c = lipsync_proof128_mouth.get_config()
  c.lambda_mouth_adv = 1.0
  c.learning_rate = 1e-4
  c.num_steps = 1500
  return c
