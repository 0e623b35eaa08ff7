import glob
import json
import os
import signal

import numpy as np
import pytest

from data_prep import faces, synthetic, visemes
from lipsync_jax import face_geometry as fg
from tests.conftest import NUM_CLIPS, SEED


def test_specs_are_deterministic_and_hold_out_identities_and_voices():
  a = synthetic.clip_specs(50, seed=3)
  assert a == synthetic.clip_specs(50, seed=3)
  assert a != synthetic.clip_specs(50, seed=4)
  test = [s for s in a if s.split == "test"]
  train = [s for s in a if s.split == "train"]
  assert len(test) == 10
  assert {s.identity for s in test} <= set(synthetic.TEST_IDENTITIES)
  assert not {s.identity for s in train} & set(synthetic.TEST_IDENTITIES)
  assert {s.voice for s in test} <= set(synthetic.TEST_VOICES)
  assert not {s.voice for s in train} & set(synthetic.TEST_VOICES)
  assert len({s.identity for s in train}) >= 3 and len({s.voice for s in train}) >= 4


def test_training_voices_are_chosen_and_test_voices_stay_out():
  voices = ("en+m2", "en-us+f3", "en-us+f5")  # the last is a test voice: never trained on
  specs = synthetic.clip_specs(60, seed=3, train_voices=voices)
  assert {s.voice for s in specs if s.split == "train"} == {"en+m2", "en-us+f3"}
  assert {s.voice for s in specs if s.split == "test"} <= set(synthetic.TEST_VOICES)
  with pytest.raises(ValueError, match="training voice"):
    synthetic.clip_specs(10, seed=3, train_voices=synthetic.TEST_VOICES)


def test_corpus_files_and_ground_truth(corpus_dir):
  index = json.load(open(os.path.join(corpus_dir, "corpus.json")))
  assert len(index["clips"]) == NUM_CLIPS
  for spec in index["clips"]:
    base = os.path.join(corpus_dir, "clips", spec["clip_id"])
    meta = json.load(open(base + ".json"))
    gt = np.load(base + ".npz")
    n = meta["num_frames"]
    assert gt["jaw_open"].shape == (n,) and gt["landmarks"].shape == (n, 478, 3)
    # The rendered mouth opens with the jaw parameter and closes in the leading silence.
    assert np.corrcoef(gt["jaw_open"], gt["mouth_opening"])[0, 1] > 0.9
    # The evaluation's measure (inner-lip area) agrees with the gap; a little less on morphed
    # looks, whose blended lips part less evenly (0.88 seen on one).
    area = [fg.inner_lip_opening(p) for p in gt["landmarks"]]
    assert np.corrcoef(area, gt["mouth_opening"])[0, 1] > 0.85
    lead_frames = int(meta["lead_silence"] * 25) - 3
    assert gt["mouth_opening"].max() > 0.1
    if lead_frames > 0:
      assert gt["mouth_opening"][:lead_frames].max() < 0.3 * gt["mouth_opening"].max()


def test_rendering_is_deterministic(corpus_dir, tmp_path):
  spec = synthetic.clip_specs(NUM_CLIPS, SEED)[1]
  synthetic.render_clip(spec, str(tmp_path))
  a = np.load(os.path.join(corpus_dir, "clips", spec.clip_id + ".npz"))
  b = np.load(os.path.join(tmp_path, "clips", spec.clip_id + ".npz"))
  for key in a.files:
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_mouth_model_closes_and_opens():
  c = fg.canonical_face()
  closed = fg.deform_mouth(c, 0.0)
  opened = fg.deform_mouth(c, 1.0)
  gap = lambda p: p[fg.LOWER_LIP_INNER_MID, 1] - p[fg.UPPER_LIP_INNER_MID, 1]  # noqa: E731
  assert gap(opened) - gap(closed) > 0.15
  # The upper face does not move with the jaw.
  np.testing.assert_allclose(opened[fg.rigid_indices()], closed[fg.rigid_indices()], atol=1e-9)


def test_an_open_mouthed_photo_rests_with_its_lips_together_from_corner_to_corner():
  """The astronaut smiles with her mouth open. Closed by the jaw alone, the middle met and the
  corners crossed (lower lip 0.04 eye distances above the upper), and the evaluation's inner-lip
  area read the rest as half open and falling as the mouth began to open."""
  image = faces.load_photo("skimage:astronaut")
  photo = synthetic.prepare_photo(image, synthetic._detected(image, "skimage:astronaut"),
                                  synthetic.RenderConfig())
  gaps = fg.inner_lip_gaps(photo.normalized)  # the rest, in eye distances
  assert gaps.min() > -0.003 and gaps.max() < 0.01, gaps
  openings = [fg.inner_lip_opening(fg.deform_mouth(photo.normalized, jaw))
              for jaw in (0.0, 0.05, 0.1, 0.2, 0.4)]
  assert openings[0] < 0.05 and np.all(np.diff(openings) > 0.01), openings


def test_visemes_close_lips_for_bilabials_and_silence():
  phonemes = [(0.0, "_"), (0.3, "a"), (0.5, "m"), (0.58, "a"), (0.8, "_")]
  track = visemes.mouth_track(phonemes, 120, 100)
  assert track[:20, 0].max() < 0.05  # silence
  assert track[40, 0] > 0.5  # /a/
  assert track[54, 0] < 0.2  # /m/ closes the lips even between vowels
  assert track[-10:, 0].max() < 0.05


def test_sigterm_stops_cleanly_and_workers_remove_their_temporaries(tmp_path, interrupt_cli):
  out = tmp_path / "out"
  writing = lambda: glob.glob(str(out / "clips" / ".tmp-*.mp4"))  # noqa: E731  (in a worker)
  code, err = interrupt_cli(["-m", "data_prep.synthetic", "--out", str(out), "--num_clips", "2",
                             "--workers", "2"], writing)
  assert code == 128 + signal.SIGTERM, err
  finished = len(glob.glob(str(out / "clips" / "*.json")))
  assert err[-1] == (f"synthetic: stopped by SIGTERM; {finished} finished clips kept in "
                     f"{out / 'clips'}, a rerun resumes; nothing written to {out / 'corpus.json'}")
  assert not glob.glob(str(out / "**" / ".tmp-*"), recursive=True)
  assert finished < 2 and not (out / "corpus.json").exists()
