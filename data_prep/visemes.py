"""Phonemes to mouth motion: viseme targets blended by dominance (Cohen-Massaro co-articulation).

Each phoneme has a target (jaw_open, lip_width, lip_round) and a dominance that decays with the
distance from its centre; the mouth at time t is the dominance-weighted mean of the targets. Lip
closures (p, b, m) and lip rounding (w, oo) dominate strongly, so they are reached even in fast
speech, while weak consonants take their shape from neighbouring vowels. Silence closes the mouth.
"""

import numpy as np

# espeak-ng English phoneme mnemonic -> (jaw_open, lip_width, lip_round, dominance).
_VISEMES = {
    "_": (0.0, 0.0, 0.0, 1.5),
    # bilabials and labiodentals
    "p": (0.0, 0.0, 0.0, 4.0), "b": (0.0, 0.0, 0.0, 4.0), "m": (0.0, 0.0, 0.0, 4.0),
    "f": (0.08, 0.1, 0.0, 2.5), "v": (0.08, 0.1, 0.0, 2.5),
    # dentals, alveolars
    "T": (0.18, 0.1, 0.0, 1.0), "D": (0.18, 0.1, 0.0, 1.0),
    "t": (0.15, 0.1, 0.0, 0.8), "d": (0.15, 0.1, 0.0, 0.8), "n": (0.15, 0.1, 0.0, 0.6),
    "l": (0.25, 0.0, 0.0, 0.6), "s": (0.08, 0.3, 0.0, 1.2), "z": (0.08, 0.3, 0.0, 1.2),
    "r": (0.2, -0.2, 0.4, 1.0),
    # postalveolars
    "S": (0.12, -0.3, 0.6, 1.5), "Z": (0.12, -0.3, 0.6, 1.5), "tS": (0.12, -0.3, 0.6, 1.5),
    "dZ": (0.12, -0.3, 0.6, 1.5),
    # velars, glottal, glides
    "k": (0.25, 0.0, 0.0, 0.6), "g": (0.25, 0.0, 0.0, 0.6), "N": (0.2, 0.0, 0.0, 0.6),
    "h": (0.3, 0.0, 0.0, 0.3), "w": (0.12, -0.5, 0.9, 2.5), "j": (0.15, 0.4, 0.0, 1.0),
    # vowels
    "a": (0.8, 0.2, 0.0, 1.0), "aa": (0.9, 0.1, 0.0, 1.0), "A:": (0.9, 0.0, 0.0, 1.0),
    "A@": (0.8, 0.0, 0.0, 1.0), "a#": (0.6, 0.1, 0.0, 1.0), "V": (0.6, 0.0, 0.0, 1.0),
    "0": (0.7, -0.2, 0.4, 1.0), "O:": (0.6, -0.3, 0.7, 1.2), "O@": (0.6, -0.3, 0.6, 1.2),
    "E": (0.55, 0.4, 0.0, 1.0), "e@": (0.55, 0.3, 0.0, 1.0), "e": (0.5, 0.4, 0.0, 1.0),
    "I": (0.35, 0.5, 0.0, 1.0), "i": (0.3, 0.6, 0.0, 1.0), "i:": (0.25, 0.7, 0.0, 1.0),
    "i@": (0.35, 0.4, 0.0, 1.0), "@": (0.4, 0.0, 0.0, 0.7), "3:": (0.4, 0.0, 0.2, 1.0),
    "U": (0.3, -0.4, 0.7, 1.2), "u:": (0.25, -0.5, 0.9, 1.5), "U@": (0.35, -0.3, 0.6, 1.2),
}
# Diphthongs: two targets, each half of the phoneme.
_DIPHTHONGS = {
    "aI": ("a", "I"), "aU": ("a", "u:"), "OI": ("O:", "I"), "oU": ("0", "u:"), "eI": ("E", "i"),
    "@U": ("@", "u:"), "aI@": ("a", "@"), "aU@": ("a", "@"),
}
_VOWEL_FALLBACK = (0.5, 0.0, 0.0, 1.0)
_CONSONANT_FALLBACK = (0.2, 0.0, 0.0, 0.6)
_DECAY = 0.035  # seconds: how far a phoneme's dominance reaches


def _target(name: str):
  base = name.rstrip("0123456789#;:,") if name not in _VISEMES else name
  for key in (name, base, base[:2], base[:1]):
    if key in _VISEMES:
      return _VISEMES[key]
  return _VOWEL_FALLBACK if base[:1] in "aeiouAEIOUV03@" else _CONSONANT_FALLBACK


def segments(phonemes: list[tuple[float, str]], duration: float):
  """(start, end, target) for every phoneme, diphthongs split in two."""
  out = []
  for i, (start, name) in enumerate(phonemes):
    end = phonemes[i + 1][0] if i + 1 < len(phonemes) else duration
    if end <= start:
      continue
    if name in _DIPHTHONGS:
      mid = (start + end) / 2
      first, second = _DIPHTHONGS[name]
      out.append((start, mid, _VISEMES[first]))
      out.append((mid, end, _VISEMES[second]))
    else:
      out.append((start, end, _target(name)))
  return out


def mouth_track(phonemes: list[tuple[float, str]], num_frames: int, fps: float) -> np.ndarray:
  """(num_frames, 3) jaw_open, lip_width, lip_round at frame centres t = (k + 0.5) / fps."""
  duration = num_frames / fps
  times = (np.arange(num_frames) + 0.5) / fps
  segs = [(0.0, phonemes[0][0] if phonemes else duration, _VISEMES["_"])] + segments(phonemes, duration)
  num = np.zeros((num_frames, 3))
  den = np.full(num_frames, 1e-8)
  for start, end, (jaw, width, rnd, dominance) in segs:
    center, half = (start + end) / 2, (end - start) / 2
    dist = np.maximum(np.abs(times - center) - half, 0.0)  # full dominance inside the phoneme
    d = dominance * np.exp(-dist / _DECAY)
    num += d[:, None] * np.array([jaw, width, rnd])
    den += d
  return (num / den[:, None]).astype(np.float32)
