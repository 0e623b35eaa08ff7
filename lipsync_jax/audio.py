"""Audio features: 16 kHz mono, 80-bin log-mel at 100 frames/s, one 0.2 s window per video frame.

The parameters follow the public StyleLipSync demo (torchaudio's MelSpectrogram defaults: power
spectrum, HTK mel scale, no filter normalisation, centred STFT with reflect padding), so that a
checkpoint trained elsewhere sees the features it was trained on.
"""

import functools

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
  import librosa  # here, not at the top: training reads stored mels and needs no librosa
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
  import librosa
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


SILENCE = float(np.log10(np.float32(LOG_FLOOR)))  # the log-mel of silence, as log_mel gives it: -5


def mel_window(mel: np.ndarray, frame_index: int) -> np.ndarray:
  """The (20, 80) mel window of video frame `frame_index`, padded with silence (the log floor,
  -5; zeros would be a loud power of 1) past either end of the track."""
  start = mel_window_start(frame_index)
  out = np.full((WINDOW_MEL_FRAMES, mel.shape[1]), SILENCE, mel.dtype)
  lo, hi = max(start, 0), min(start + WINDOW_MEL_FRAMES, mel.shape[0])
  if hi > lo:
    out[lo - start:hi - start] = mel[lo:hi]
  return out


def mel_windows(mel: np.ndarray, frame_indices) -> np.ndarray:
  """Stacked windows for several frames: (len(frame_indices), 20, 80)."""
  return np.stack([mel_window(mel, int(t)) for t in frame_indices])


def _hz_to_mel(hz):
  return 2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)


@functools.cache
def _mel_centres_hz() -> np.ndarray:
  """Centre frequencies of the 80 HTK mel bands of _mel_basis (Hz)."""
  mels = np.linspace(_hz_to_mel(FMIN), _hz_to_mel(FMAX), N_MELS + 2)[1:-1]
  return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)


def warp_taps(factor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """warp_mel's interpolation for a vocal-tract factor: band j reads bands lo[j] and hi[j] with
  weight w[j] on hi, so that it takes the value the track has at frequency centre_j / factor
  (the edge bands past either end)."""
  centres = _mel_centres_hz()
  source = np.interp(centres / factor, centres, np.arange(N_MELS, dtype=np.float64))
  lo = np.floor(source).astype(np.int32)
  return lo, np.minimum(lo + 1, N_MELS - 1).astype(np.int32), (source - lo).astype(np.float32)


def warp_mel(mel: np.ndarray, factor: float, gain: float) -> np.ndarray:
  """Log-mel frames (..., 80) as a longer or shorter vocal tract and another level would give them
  (training's audio augmentation, in the manner of VTLP): warp_taps(factor) along the bands, then
  `gain` added (log10 power: 10 * gain dB), never below silence. factor 1 and gain 0 give the
  frames back."""
  lo, hi, w = warp_taps(factor)
  mel = np.asarray(mel, np.float32)
  warped = mel[..., lo] * (1 - w) + mel[..., hi] * w
  return np.maximum(warped + np.float32(gain), np.float32(SILENCE))


@functools.cache
def _stft_window() -> np.ndarray:
  """librosa's: a periodic Hann of WIN_LENGTH, zero-padded to N_FFT at the centre."""
  import librosa
  window = np.zeros(N_FFT, np.float32)
  left = (N_FFT - WIN_LENGTH) // 2
  window[left:left + WIN_LENGTH] = librosa.filters.get_window("hann", WIN_LENGTH, fftbins=True)
  return window


class StreamingMel:
  """log_mel computed as 16 kHz audio arrives, equal to log_mel of the whole signal.

  Mel frame j is the windowed FFT of the reflect-padded signal at [HOP*j, HOP*j + N_FFT): it needs
  audio up to sample HOP*j + N_FFT/2, and the frames whose window reaches past the end wait for
  finish(), which reflects the tail as log_mel does.
  """

  def __init__(self):
    self._head = np.zeros(0, np.float32)  # audio not yet covered (with the leading reflection)
    self._head_start = 0  # padded-signal index of _head[0]
    self._received = 0
    self._started = False
    self._next_frame = 0
    self.finished = False

  @property
  def num_samples(self) -> int:
    return self._received

  def push(self, samples: np.ndarray) -> np.ndarray:
    """Adds samples; returns the (k, 80) mel frames that became computable (k may be 0)."""
    if self.finished:
      raise ValueError("StreamingMel.push after finish")
    samples = np.asarray(samples, np.float32).reshape(-1)
    self._received += samples.size
    self._head = np.concatenate([self._head, samples])
    if not self._started:
      if self._head.size < N_FFT // 2 + 1:
        return np.zeros((0, N_MELS), np.float32)
      self._head = np.concatenate([self._head[1:N_FFT // 2 + 1][::-1], self._head])
      self._started = True
    return self._frames(final=False)

  def finish(self) -> np.ndarray:
    """Ends the stream: the remaining frames, the last ones over the reflected tail."""
    if self.finished:
      return np.zeros((0, N_MELS), np.float32)
    self.finished = True
    if not self._started:  # under half a window of audio: zero-padded as log_mel does
      audio = np.pad(self._head, (0, max(0, N_FFT // 2 + 1 - self._head.size)))
      self._received = audio.size
      self._head = np.concatenate([audio[1:N_FFT // 2 + 1][::-1], audio])
      self._started = True
    tail = self._head[-(N_FFT // 2 + 1):-1][::-1]
    self._head = np.concatenate([self._head, tail])
    return self._frames(final=True)

  def _frames(self, final: bool) -> np.ndarray:
    total = num_mel_frames(self._received) if final else None
    available = self._head_start + self._head.size  # padded samples held so far
    stop = (available - N_FFT) // HOP_LENGTH + 1 if available >= N_FFT else 0
    if total is not None:
      stop = min(stop, total)
    count = max(0, stop - self._next_frame)
    if count == 0:
      return np.zeros((0, N_MELS), np.float32)
    offset = self._next_frame * HOP_LENGTH - self._head_start
    idx = offset + np.arange(count)[:, None] * HOP_LENGTH + np.arange(N_FFT)[None]
    spec = np.fft.rfft(self._head[idx] * _stft_window(), axis=-1)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    mel = np.log10(np.maximum(power @ _mel_basis().T, LOG_FLOOR)).astype(np.float32)
    self._next_frame = stop
    drop = self._next_frame * HOP_LENGTH - self._head_start  # samples no later frame needs
    self._head = self._head[drop:]
    self._head_start += drop
    return mel
