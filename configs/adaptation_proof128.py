"""Few-shot adaptation (paper 4) for the CPU learning measurement (README, "Does it learn?"):
configs/adaptation_tiny128.py with the mouth-opening loss of configs/lipsync_proof128_opening.py
on the target's frames (its SyncNet must have the mouth-opening tower)."""

from configs import adaptation_tiny128


def get_config():
  c = adaptation_tiny128.get_config()
  c.lambda_opening = 30.0
  return c
