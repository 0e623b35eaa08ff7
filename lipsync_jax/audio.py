"""Audio features: 16 kHz mono, 80-bin log-mel at 100 frames/s, one 0.2 s window per video frame.

The parameters follow the public StyleLipSync demo (torchaudio's MelSpectrogram defaults: power
spectrum, HTK mel scale, no filter normalisation, centred STFT with reflect padding), so that a
checkpoint trained elsewhere sees the features it was trained on.
"""

import functools

import librosa
import numpy as np

SAMPLE_RATE = 16_000
FPS = 25
N_FFT = 512
WIN_LENGTH = 400
HOP_LENGTH = 160  # 100 mel frames per second.
N_MELS = 80
FMIN = 55.0
FMAX = 7600.0
MEL_FPS = SAMPLE_RATE // HOP_LENGTH
MEL_PER_VIDEO_FRAME = MEL_FPS // FPS  # 4
WINDOW_VIDEO_FRAMES = 5  # The 0.2 s window spans the 5-frame clip centred on the frame.
WINDOW_MEL_FRAMES = WINDOW_VIDEO_FRAMES * MEL_PER_VIDEO_FRAME  # 20
LOG_FLOOR = 1e-5


@functools.cache
def _mel_basis() -> np.ndarray:
  return librosa.filters.mel(
      sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX, htk=True, norm=None
  ).astype(np.float32)


def log_mel(audio: np.ndarray) -> np.ndarray:
  """Returns the (num_mel_frames, 80) float32 log10 mel spectrogram of 16 kHz mono float audio."""
  audio = np.asarray(audio, np.float32)
  if audio.ndim != 1:
    raise ValueError(f"log_mel expects mono audio of shape (n,), got {audio.shape}")
  if audio.size < N_FFT // 2 + 1:  # reflect padding needs at least half a window
    audio = np.pad(audio, (0, N_FFT // 2 + 1 - audio.size))
  spec = librosa.stft(
      audio, n_fft=N_FFT, hop_length=HOP_LENGTH, win_length=WIN_LENGTH, window="hann",
      center=True, pad_mode="reflect")
  power = (spec.real**2 + spec.imag**2).astype(np.float32)
  mel = _mel_basis() @ power
  return np.log10(np.maximum(mel, LOG_FLOOR)).T.astype(np.float32)


def num_mel_frames(num_samples: int) -> int:
  return num_samples // HOP_LENGTH + 1


def mel_window_start(frame_index: int) -> int:
  """First mel frame of video frame t's window: the 0.2 s centred on frames t-2..t+2."""
  return MEL_PER_VIDEO_FRAME * (frame_index - WINDOW_VIDEO_FRAMES // 2)


def mel_window(mel: np.ndarray, frame_index: int) -> np.ndarray:
  """The (20, 80) mel window of video frame `frame_index`, zero-padded past either end."""
  start = mel_window_start(frame_index)
  out = np.zeros((WINDOW_MEL_FRAMES, mel.shape[1]), mel.dtype)
  lo, hi = max(start, 0), min(start + WINDOW_MEL_FRAMES, mel.shape[0])
  if hi > lo:
    out[lo - start:hi - start] = mel[lo:hi]
  return out


def mel_windows(mel: np.ndarray, frame_indices) -> np.ndarray:
  """Stacked windows for several frames: (len(frame_indices), 20, 80)."""
  return np.stack([mel_window(mel, int(t)) for t in frame_indices])
