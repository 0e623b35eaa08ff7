"""The third phase of the CPU learning measurement (README, "Does it learn?").

Continues configs/lipsync_proof128_opening.py's run (config.pretrained_lipsync) with LPIPS on the
mouth (lambda_mouth_lpips: VGG16 LPIPS on the 64x64 square around the lip mask). After the second
phase the raw decoder's masked region darkens with the audio (its mean brightness correlates
-0.5 to -0.8 with the true opening on unseen sentences) but is a smudge without lips, which
MediaPipe often does not read as a mouth: L1 and the opening loss reward the right shading, not
edges. The rate is a cosine from 2e-4 over the run.
"""

from configs import lipsync_proof128_opening


def get_config():
  c = lipsync_proof128_opening.get_config()
  c.lambda_mouth_lpips = 10.0
  c.num_steps = 2500
  return c
