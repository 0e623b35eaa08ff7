import numpy as np
import pytest

from lipsync_jax import audio, face_geometry, input_pipeline


@pytest.fixture(scope="module")
def source(tfds_dir):
  return input_pipeline.open_split("synthetic_talking_faces", tfds_dir, "train")


def test_batch_shapes(source):
  it = input_pipeline.TrainIterator(source, 4)
  b = next(it)
  it.close()
  assert b["frames"].shape == (4, 5, 256, 256, 3) and b["frames"].dtype == np.uint8
  assert b["masks"].shape == (4, 5, 256, 256, 1) and set(np.unique(b["masks"])) <= {0, 1}
  assert b["mels"].shape == b["sync_mels"].shape == (4, 5, 20, 80)
  assert b["reference"].shape == (4, 256, 256, 3)


def test_sample_contents_match_the_clip(source):
  config = input_pipeline.PipelineConfig()
  s = input_pipeline.sample_example(source, 3, 1, config)
  clip = source[int(s["clip_index"])]
  t0 = int(s["start_frame"])
  for j in range(5):
    np.testing.assert_array_equal(s["mels"][j], audio.mel_window(clip["mel"], t0 + j))
    np.testing.assert_array_equal(s["frames"][j], input_pipeline.decode_jpeg(clip["frames"][t0 + j]))
  np.testing.assert_array_equal(s["masks"][..., 0], np.unpackbits(clip["lip_mask"][t0:t0 + 5], axis=-1))
  rect = input_pipeline.sample_example(source, 3, 1, input_pipeline.PipelineConfig(mask="rect"))
  assert not np.array_equal(rect["masks"], s["masks"])
  # The reference is a frame of the same clip, not one of the five.
  assert not any(np.array_equal(s["reference"], f) for f in s["frames"])


def test_resume_is_exact_and_hosts_split_the_global_batch(source):
  it = input_pipeline.TrainIterator(source, 4, start_step=0)
  batches = [next(it) for _ in range(3)]
  state = it.get_state()
  fourth = next(it)
  it.close()
  resumed = input_pipeline.TrainIterator(source, 4)
  resumed.set_state(state)
  again = next(resumed)
  resumed.close()
  for k in fourth:
    np.testing.assert_array_equal(fourth[k], again[k])
  assert not np.array_equal(batches[0]["frames"], batches[1]["frames"])
  halves = [input_pipeline.TrainIterator(source, 4, process_index=p, process_count=2).batch(2)
            for p in range(2)]
  for k in fourth:
    np.testing.assert_array_equal(np.concatenate([h[k] for h in halves]), batches[2][k])


def test_bad_batch_split(source):
  with pytest.raises(ValueError, match="does not split"):
    input_pipeline.TrainIterator(source, 5, process_count=2)


def test_pack_gives_the_tfds_batches_at_its_resolution(source, tmp_path):
  from data_prep import pack
  path = str(tmp_path / "train64.npz")
  summary = pack.write_pack(source, path, 64, "jpeg", quality=95,
                            dataset="synthetic_talking_faces", split="train")
  assert summary["clips"] == len(source)
  subset = str(tmp_path / "subset.npz")  # the default: WebP q80, lossier (4:2:0 chroma)
  assert pack.write_pack(source, subset, 64, max_clips=2)["clips"] == 2
  webp = input_pipeline.PackedSource(subset)
  real = input_pipeline.resize_image(input_pipeline.decode_jpeg(source[0]["frames"][0]), 64)
  assert np.abs(input_pipeline.decode_jpeg(webp[0]["frames"][0]).astype(int) - real).mean() < 8.0
  assert summary["clips"] == len(source)
  packed = input_pipeline.open_source("synthetic_talking_faces", path, "train")
  assert isinstance(packed, input_pipeline.PackedSource) and len(packed) == len(source)
  config = input_pipeline.PipelineConfig(resolution=64)
  for step in range(3):
    a = input_pipeline.sample_example(source, step, 0, config)
    b = input_pipeline.sample_example(packed, step, 0, config)
    for k in ("masks", "clip_index", "start_frame", "mouth_opening"):
      np.testing.assert_array_equal(a[k], b[k])
    np.testing.assert_allclose(a["mouth_shape"], b["mouth_shape"], atol=1e-6)
    for k in ("mels", "sync_mels", "shifted_mels"):  # stored as float16
      np.testing.assert_allclose(a[k], b[k], atol=4e-3)
    # Frames differ only by the JPEG round trip at 64x64.
    assert np.abs(a["frames"].astype(int) - b["frames"]).mean() < 6.0  # 4:2:0 chroma at 64x64
  # The lips (lip_hint) from the pack's lip rings and head poses: as from the mesh.
  config = input_pipeline.PipelineConfig(resolution=64, augment=True, fields=(
      "masks", "hint", "sync_hint", "lips", "reference_lips"))
  a, b = (input_pipeline.sample_example(s, 1, 0, config) for s in (source, packed))
  for k in config.fields:
    np.testing.assert_array_equal(a[k], b[k])
  for k in input_pipeline.PACKED_LIPS:  # a pack made before they were added
    del packed.arrays[k]
  with pytest.raises(ValueError, match="has no face mesh"):
    input_pipeline.sample_example(packed, 1, 0, config)
  with pytest.raises(ValueError, match="cannot feed"):
    input_pipeline.TrainIterator(packed, 2, input_pipeline.PipelineConfig(resolution=128))
  with pytest.raises(FileNotFoundError, match="not 'test'"):
    input_pipeline.PackedSource(path, split="test")
  with pytest.raises(FileNotFoundError, match="no such pack"):
    input_pipeline.open_source("synthetic_talking_faces", str(tmp_path / "nope.npz"), "train")


def test_mouth_shapes_are_the_mesh_mouth_shape_of_each_frame(source):
  clip = source[0]
  n = int(clip["num_frames"])
  shapes = input_pipeline.mouth_shapes(clip, 2, n)
  expected = np.stack([face_geometry.mouth_shape(p) for p in np.asarray(clip["landmarks"])[2:]])
  assert shapes.shape == (n - 2, 7)
  np.testing.assert_allclose(shapes, expected, atol=1e-6)
  assert np.all(np.ptp(shapes, axis=0)[:2] > 0)  # the mouth moves over the clip


def test_shifted_windows_are_out_of_sync_and_inside_the_clip(source):
  config = input_pipeline.PipelineConfig(resolution=64, num_shifts=6, fields=("shifted_mels",))
  for n, middle in ((200, 100), (30, 2), (30, 27)):
    for step in range(20):
      ks = input_pipeline.shifts(n, middle, config, step, 0)
      assert len(ks) == 6 and all(3 <= abs(k) <= 12 and 0 <= middle + k < n for k in ks)
  ks = [k for step in range(20) for k in input_pipeline.shifts(200, 100, config, step, 0)]
  assert min(ks) < 0 < max(ks)  # both ways
  batch = input_pipeline.sample_example(source, 0, 0, config)
  assert batch["shifted_mels"].shape == (6, 20, 80) and set(batch) >= {"shifted_mels"}


def test_augmentation_is_deterministic_and_keeps_frames_masks_and_reference_together(source):
  plain = input_pipeline.PipelineConfig(resolution=64)
  aug = input_pipeline.PipelineConfig(resolution=64, augment=True)
  a = input_pipeline.sample_example(source, 5, 2, aug)
  b = input_pipeline.sample_example(source, 5, 2, aug)
  p = input_pipeline.sample_example(source, 5, 2, plain)
  for k in a:
    np.testing.assert_array_equal(a[k], b[k])
  for k in ("mels", "sync_mels", "clip_index", "start_frame"):  # the same sample, only re-framed
    np.testing.assert_array_equal(a[k], p[k])
  assert a["frames"].shape == p["frames"].shape and a["masks"].shape == p["masks"].shape
  assert set(np.unique(a["masks"])) <= {0, 1}
  assert not np.array_equal(a["frames"], p["frames"])
  # One transform for the sample: with an identity-sized change of geometry and colour the
  # augmented masks cover about as much as the originals, and differ between samples.
  assert abs(a["masks"].mean() - p["masks"].mean()) < 0.5 * p["masks"].mean()
  others = [input_pipeline.sample_example(source, s, 0, aug)["frames"].mean() for s in range(6)]
  assert np.std(others) > 0


def test_augment_flips_frames_and_masks_alike():
  rng = np.random.default_rng(0)
  frames = np.zeros((2, 32, 32, 3), np.uint8)
  frames[:, 10:20, 2:8] = 255  # a bright block on the left
  masks = np.zeros((2, 32, 32, 1), np.uint8)
  masks[:, 10:20, 2:8] = 1
  for seed in range(8):
    f, m, r = input_pipeline.augment(frames, masks, frames[0], np.random.default_rng(seed))
    bright = f[..., 0].astype(float).mean(0) > 128
    covered = m[..., 0].mean(0) > 0.5
    assert (bright & covered).sum() >= 0.7 * covered.sum()  # masks follow the frames
    np.testing.assert_array_equal(r, f[0])  # the reference gets the same transform
  del rng


def _resident_batches(source, config, steps, audio_source=None, batch_size=3):
  """The device-resident input's batches (one CPU device) beside the host pipeline's."""
  import jax
  from lipsync_jax import resident_input
  from lipsync_jax.training import loop
  mesh = loop.make_mesh(jax.devices()[:1])
  resident = resident_input.ResidentIterator(source, batch_size, config, audio_source=audio_source)
  host = input_pipeline.TrainIterator(source, batch_size, config, audio_source=audio_source)
  out = []
  for step in steps:
    resident.set_state({"step": step})
    indices = loop.global_batch(next(resident), mesh)
    out.append((jax.device_get(resident.gather(indices, mesh)), host.batch(step)))
  host.close()
  return out


def test_device_resident_input_gives_the_host_pipelines_batches(source, tfds_dir):
  """The same samples (draws, frames, masks, mel windows at the clip's edges and past them, the
  sync regulariser's audio from another split, mouth measures), exactly, at any step: so the
  same training and exact resume."""
  config = input_pipeline.PipelineConfig(resolution=64, num_threads=2)
  audio_source = input_pipeline.open_split("synthetic_talking_faces", tfds_dir, "test")
  for resident, host in _resident_batches(source, config, (0, 7, 123), audio_source):
    assert set(resident) == set(host) == set(input_pipeline.ALL_FIELDS)
    for k in host:
      assert resident[k].dtype == host[k].dtype, k
      np.testing.assert_array_equal(resident[k], host[k], err_msg=k)


def test_device_resident_augmentation_matches_the_hosts(source):
  """The same draws applied on the device: frames within a grey level or two of OpenCV's
  fixed-point resampling, masks nearly the same pixels, everything else equal."""
  config = input_pipeline.PipelineConfig(resolution=64, num_threads=2, augment=True,
                                         fields=("frames", "masks", "reference", "mels"))
  for resident, host in _resident_batches(source, config, (3, 11)):
    np.testing.assert_array_equal(resident["mels"], host["mels"])
    for k in ("frames", "reference"):
      diff = np.abs(resident[k].astype(int) - host[k].astype(int))
      assert diff.mean() < 0.5 and np.percentile(diff, 99) <= 3, (k, diff.mean())
    assert (resident["masks"] != host["masks"]).mean() < 0.01


def test_worker_processes_give_the_threads_batches(source):
  config = input_pipeline.PipelineConfig(resolution=64, augment=True, num_workers=2,
                                         fields=("frames", "masks", "mels", "sync_mels"))
  it = input_pipeline.TrainIterator(source, 3, config, start_step=4)
  try:
    for step in (4, 5):
      batch = next(it)
      for k, v in it.batch(step).items():
        np.testing.assert_array_equal(batch[k], v, err_msg=k)
  finally:
    it.close()


def test_audio_augmentation_hears_all_of_a_samples_own_windows_with_one_voice(source):
  fields = ("mels", "shifted_mels", "sync_mels", "more_lips", "more_lip_mels", "frames")
  plain = input_pipeline.PipelineConfig(resolution=64, lip_windows=3, fields=fields)
  aug = input_pipeline.PipelineConfig(resolution=64, lip_windows=3, fields=fields,
                                      audio_augment=True)
  p = input_pipeline.sample_example(source, 4, 1, plain)
  a = input_pipeline.sample_example(source, 4, 1, aug)
  voice = input_pipeline.audio_augmentation(aug, 4, 1)
  assert voice != input_pipeline.audio_augmentation(aug, 5, 1)
  for k in ("mels", "shifted_mels", "more_lip_mels"):
    np.testing.assert_array_equal(a[k], audio.warp_mel(p[k], *voice))
    assert not np.array_equal(a[k], p[k])
  for k in ("sync_mels", "more_lips", "frames"):  # the other clip's audio and the rest unchanged
    np.testing.assert_array_equal(a[k], p[k])


def test_audio_augmentation_draws_within_its_configured_ranges():
  narrow = input_pipeline.PipelineConfig(audio_augment=True)
  wide = input_pipeline.PipelineConfig(audio_augment=True, audio_gain_db=15, audio_warp=0.2)
  draws = {c: np.array([input_pipeline.audio_augmentation(c, s, p) for s in range(50)
                        for p in range(4)]) for c in (narrow, wide)}
  for c, (factors, gains) in ((c, d.T) for c, d in draws.items()):
    assert np.all(np.abs(factors - 1) <= c.audio_warp)
    assert np.all(np.abs(gains) <= c.audio_gain_db / 10)
  # The wide draws reach past the default ranges (0.9-1.1, +-5 dB); the defaults' draws are the
  # same stream scaled.
  assert np.abs(draws[wide][:, 1]).max() > 1.0 and np.abs(draws[wide][:, 0] - 1).max() > 0.15
  np.testing.assert_allclose(draws[wide][:, 1], 3 * draws[narrow][:, 1], rtol=1e-12)


def test_device_resident_audio_augmentation_matches_the_hosts(source):
  config = input_pipeline.PipelineConfig(resolution=64, num_threads=2, audio_augment=True,
                                         fields=("mels", "shifted_mels", "sync_mels"))
  for resident, host in _resident_batches(source, config, (2, 9)):
    for k in host:
      np.testing.assert_allclose(resident[k], host[k], atol=1e-5, err_msg=k)


class _CountingSource(list):
  """A list of examples that counts its reads."""
  reads = 0

  def __getitem__(self, index):
    self.reads += 1
    return super().__getitem__(index)


def test_a_cached_source_reads_each_clip_once_within_its_size_and_gives_the_same_batches(source):
  examples = _CountingSource(source[i] for i in range(4))
  sizes = [input_pipeline._example_bytes(e) for e in examples]
  cached = input_pipeline.cached(examples, (sum(sizes[:3]) - 1) / 2**20)  # not for clips 0 to 2
  for i in (0, 1, 0, 1, 0):
    assert cached[i] is cached[i]
  assert examples.reads == 2
  cached[2]  # drops clip 1, the least recently used
  cached[0]
  assert examples.reads == 3
  cached[1]
  assert examples.reads == 4
  with pytest.raises(ValueError, match="read-only"):
    cached[1]["mel"][0, 0] = 0
  config = input_pipeline.PipelineConfig(resolution=64, augment=True, audio_augment=True,
                                         lip_windows=3, fields=("frames", "masks", "mels",
                                         "sync_mels", "hint", "lips", "more_lips", "mouth_shape"))
  for step in (0, 1):
    for position in range(3):
      want = input_pipeline.sample_example(examples, step, position, config)
      got = input_pipeline.sample_example(cached, step, position, config)
      for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
  assert input_pipeline.cached(examples, 0) is examples
