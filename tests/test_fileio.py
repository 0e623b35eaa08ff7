"""Atomic writes under signals: an unfinished result is never left on disk."""

import gc
import os
import signal
import sys
import zipfile

import numpy as np
import pytest

from lipsync_jax import fileio


def test_signal_just_after_the_temporary_is_made_leaves_nothing(tmp_path, monkeypatch, capsys):
  # SIGTERM lands right after the temporary file exists, before atomic_path's cleanup is armed:
  # the window a CLI test once hit (export left its .tmp-*.lsj behind).
  real_close = os.close

  def close_then_signal(fd):
    monkeypatch.setattr(os, "close", real_close)
    real_close(fd)
    os.kill(os.getpid(), signal.SIGTERM)

  monkeypatch.setattr(os, "close", close_then_signal)
  out = tmp_path / "model.lsj"
  with pytest.raises(fileio.Interrupted):
    with fileio.stop_on_signals("export", fileio.outputs_note(str(out))):
      with fileio.atomic_path(str(out)) as tmp:
        with open(tmp, "w") as f:
          f.write("unfinished")
  assert os.listdir(tmp_path) == []
  assert capsys.readouterr().err.strip() == f"export: stopped by SIGTERM; nothing written to {out}"
  assert not fileio._temporaries


def test_signal_inside_the_block_leaves_nothing_and_a_finished_write_is_kept(tmp_path, capsys):
  done, out = tmp_path / "done.txt", tmp_path / "out.txt"
  with pytest.raises(fileio.Interrupted):
    with fileio.stop_on_signals("prepare", fileio.outputs_note(str(done), str(out))):
      with fileio.atomic_path(str(done)) as tmp:
        with open(tmp, "w") as f:
          f.write("complete")
      with fileio.atomic_path(str(out)) as tmp:
        os.kill(os.getpid(), signal.SIGTERM)
  assert sorted(os.listdir(tmp_path)) == ["done.txt"]
  assert done.read_text() == "complete" and oct(done.stat().st_mode & 0o777) == "0o644"
  assert capsys.readouterr().err.strip() == (
      f"prepare: stopped by SIGTERM; kept {done}; nothing written to {out}")
  assert signal.getsignal(signal.SIGTERM) is not fileio._raise_interrupted  # handlers restored


def test_signal_inside_np_savez_waits_for_the_write_then_leaves_nothing(tmp_path, monkeypatch,
                                                                         capsys):
  # SIGTERM lands inside zipfile.ZipFile.__init__ (np.savez's), where it once broke the object:
  # its __del__ printed an AttributeError after the stop line (a CI failure of export's test).
  real_rlock, unraisable = zipfile.threading.RLock, []

  def rlock_then_signal():
    monkeypatch.setattr(zipfile.threading, "RLock", real_rlock)
    os.kill(os.getpid(), signal.SIGTERM)
    return real_rlock()

  monkeypatch.setattr(zipfile.threading, "RLock", rlock_then_signal)
  monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
  out = tmp_path / "segment.npz"
  with pytest.raises(fileio.Interrupted):
    with fileio.stop_on_signals("prepare", fileio.outputs_note(str(out))):
      fileio.save_npz(str(out), x=np.arange(3))
  gc.collect()
  assert not unraisable and os.listdir(tmp_path) == []
  assert capsys.readouterr().err.strip() == f"prepare: stopped by SIGTERM; nothing written to {out}"


def test_save_npz_writes_the_arrays(tmp_path):
  fileio.save_npz(str(tmp_path / "a.npz"), x=np.arange(3), y=np.ones((2, 2), np.float32))
  with np.load(tmp_path / "a.npz") as z:
    assert z["x"].tolist() == [0, 1, 2] and z["y"].dtype == np.float32
  assert os.listdir(tmp_path) == ["a.npz"]
