"""Speech with phoneme timings from espeak-ng's own synthesis events (libespeak-ng via ctypes).

espeak-ng reports each phoneme's position in the audio it writes (espeakEVENT_PHONEME with
espeakINITIALIZE_PHONEME_EVENTS), so timings are exact by construction, not aligned afterwards.
"""

import ctypes
import ctypes.util
import dataclasses
import threading

import numpy as np

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_EVENT_LIST_TERMINATED, _EVENT_PHONEME = 0, 7
_PARAM_RATE, _PARAM_PITCH, _PARAM_RANGE = 1, 3, 4
_POS_CHARACTER = 1


class _EventId(ctypes.Union):
  _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
  _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
              ("text_position", ctypes.c_int), ("length", ctypes.c_int),
              ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
              ("user_data", ctypes.c_void_p), ("id", _EventId)]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


@dataclasses.dataclass
class Speech:
  audio: np.ndarray  # float32 mono in [-1, 1]
  sample_rate: int
  phonemes: list[tuple[float, str]]  # (start time in seconds, espeak phoneme mnemonic)


class _Espeak:
  """The library is a process-wide singleton with global state: one synthesis at a time."""

  def __init__(self):
    path = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    try:
      self.lib = ctypes.CDLL(path)
    except OSError as e:
      raise RuntimeError("libespeak-ng is missing: install the Debian package espeak-ng "
                         "(scripts/setup.sh does)") from e
    self.sample_rate = self.lib.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INITIALIZE_PHONEME_EVENTS)
    if self.sample_rate <= 0:
      raise RuntimeError("espeak_Initialize failed (espeak-ng-data missing?)")
    self.lock = threading.Lock()
    self._chunks, self._events = [], []
    self._callback = _Callback(self._on_audio)  # keep a reference: C holds only the pointer
    self.lib.espeak_SetSynthCallback(self._callback)

  def _on_audio(self, wav, num_samples, events):
    if num_samples > 0:
      self._chunks.append(np.ctypeslib.as_array(wav, (num_samples,)).copy())
    i = 0
    while events[i].type != _EVENT_LIST_TERMINATED:
      if events[i].type == _EVENT_PHONEME:
        self._events.append((events[i].sample, events[i].id.string.decode("ascii", "replace")))
      i += 1
    return 0

  def synth(self, text: str, voice: str, rate: int, pitch: int, pitch_range: int) -> Speech:
    with self.lock:
      self._chunks, self._events = [], []
      if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise ValueError(f"espeak-ng has no voice {voice!r}")
      self.lib.espeak_SetParameter(_PARAM_RATE, int(rate), 0)
      self.lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
      self.lib.espeak_SetParameter(_PARAM_RANGE, int(pitch_range), 0)
      data = text.encode("utf-8")
      self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, 0, None, None)
      self.lib.espeak_Synchronize()
      audio = (np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16))
      phonemes = [(sample / self.sample_rate, name) for sample, name in self._events]
    return Speech(audio.astype(np.float32) / 32768.0, self.sample_rate, phonemes)


_engine = None


def synthesize(text: str, voice: str = "en-us", rate: int = 160, pitch: int = 50,
               pitch_range: int = 50) -> Speech:
  """Speaks `text`. rate in words per minute, pitch and pitch_range in 0..100."""
  global _engine
  if _engine is None:
    _engine = _Espeak()
  return _engine.synth(text, voice, rate, pitch, pitch_range)
