import numpy as np
import pytest

from lipsync_jax import audio


def _reference_log_mel(x):
  """The torchaudio MelSpectrogram recipe, written out: reflect-padded frames, periodic Hann of
  400 samples centred in 512, power spectrum, HTK mel filters without normalisation, log10."""
  import librosa
  pad = audio.N_FFT // 2
  x = np.pad(x, pad, mode="reflect")
  n = np.arange(audio.WIN_LENGTH)
  hann = 0.5 - 0.5 * np.cos(2 * np.pi * n / audio.WIN_LENGTH)
  window = np.zeros(audio.N_FFT)
  left = (audio.N_FFT - audio.WIN_LENGTH) // 2
  window[left:left + audio.WIN_LENGTH] = hann
  frames = [x[i:i + audio.N_FFT] * window
            for i in range(0, len(x) - audio.N_FFT + 1, audio.HOP_LENGTH)]
  power = np.abs(np.fft.rfft(np.array(frames), axis=1)) ** 2
  basis = librosa.filters.mel(sr=16000, n_fft=512, n_mels=80, fmin=55, fmax=7600, htk=True, norm=None)
  return np.log10(np.maximum(power @ basis.T, 1e-5))


def test_log_mel_matches_written_out_recipe():
  rng = np.random.default_rng(0)
  x = (rng.normal(size=16000) * 0.1).astype(np.float32)
  ours = audio.log_mel(x)
  ref = _reference_log_mel(x.astype(np.float64))
  assert ours.shape == (101, 80) == ref.shape
  np.testing.assert_allclose(ours, ref, atol=1e-3)


def test_tone_lands_in_its_mel_band():
  t = np.arange(16000) / 16000
  mel = audio.log_mel(0.5 * np.sin(2 * np.pi * 1000 * t))
  import librosa
  centers = librosa.mel_frequencies(82, fmin=55, fmax=7600, htk=True)[1:-1]
  assert abs(centers[mel[50].argmax()] - 1000) < 60


def test_window_is_centred_on_the_frame_and_padded_with_silence():
  # A click at the start of video frame 10 (sample 6400) shows in frame 10's window at mel row 8,
  # the centre of the 20-row window starting 2 frames earlier.
  x = np.zeros(16000 * 2, np.float32)
  x[6400:6480] = 1.0
  mel = audio.log_mel(x)
  window = audio.mel_window(mel, 10)
  assert window.shape == (20, 80)
  assert 7 <= window.mean(1).argmax() <= 9
  first = audio.mel_window(mel, 0)
  np.testing.assert_array_equal(first[:8], audio.SILENCE)  # 8 rows of silence before the start
  assert mel.min() == audio.SILENCE == pytest.approx(-5.0)  # what silence in the track reads
  np.testing.assert_array_equal(first[8:], mel[:12])
  assert len(mel) == 201  # 2 s = 50 video frames
  last = audio.mel_window(mel, 49)  # starts at mel row 4 * 47 = 188: 13 real rows, 7 of padding
  np.testing.assert_array_equal(last[:13], mel[188:201])
  np.testing.assert_array_equal(last[13:], audio.SILENCE)


def test_log_mel_rejects_stereo():
  with pytest.raises(ValueError):
    audio.log_mel(np.zeros((2, 1000), np.float32))


def test_warp_mel_moves_a_band_as_a_vocal_tract_would_and_keeps_silence():
  tone = np.full((4, audio.N_MELS), audio.SILENCE, np.float32)
  tone[:, 40] = 0.0  # one loud band
  np.testing.assert_array_equal(audio.warp_mel(tone, 1.0, 0.0), tone)
  for factor in (0.9, 1.1):  # a shorter vocal tract (factor > 1) moves the band up, and back
    peak = int(np.argmax(audio.warp_mel(tone, factor, 0.0)[0]))
    assert (peak > 40) == (factor > 1) and peak != 40
  louder = audio.warp_mel(tone, 1.0, 0.5)
  np.testing.assert_allclose(louder[:, 40], 0.5)
  quieter = audio.warp_mel(tone, 1.0, -0.5)
  assert quieter.min() == audio.SILENCE  # never below silence
  assert audio.warp_mel(tone[None], 1.05, 0.2).shape == (1, 4, audio.N_MELS)  # any leading axes
