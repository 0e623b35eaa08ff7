"""Few-shot adaptation (paper 4) for the CPU learning measurement (README, "Does it learn?"):
configs/adaptation_tiny128.py with the losses the lip-sync model was last trained with
(configs/lipsync_proof128_mouth.py): the mouth-opening loss (its SyncNet must have the
mouth-opening tower) and LPIPS on the mouth, on the target's frames."""

from configs import adaptation_tiny128


def get_config():
  c = adaptation_tiny128.get_config()
  c.lambda_opening = 30.0
  c.lambda_mouth_lpips = 10.0
  return c
