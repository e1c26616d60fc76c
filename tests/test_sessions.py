"""The per-session store the studio keeps frames and analyses in: exact round trips (no pickle),
one value per session and slot, gallery samples by name, files gone when a value is discarded."""
import numpy as np
import pytest

from core import inference
from core.data.msynth import render_frame
from core.inference import InputError
from core.inference.sessions import SessionStore


@pytest.fixture()
def store(tmp_path):
    return SessionStore(tmp_path / "sessions", lifetime_s=900)


def files(store) -> list:
    return sorted(p.name.split("-")[0] for p in store.root.rglob("*.npz"))


def test_a_frame_comes_back_exactly(store):
    frame = render_frame(3, 2, "night")
    frame.meta["calibration"] = "the rig's own"
    back = store.frame(store.put_frame(frame, "visitor"))
    assert back.spectra == frame.spectra and (back.name, back.condition, back.meta) == (frame.name, frame.condition,
                                                                                        frame.meta)
    for field in ("images", "depth", "classes"):
        for spectrum, array in getattr(frame, field).items():
            kept = getattr(back, field)[spectrum]
            assert kept.dtype == array.dtype and np.array_equal(kept, array), (field, spectrum)
    for spectrum, camera in frame.cameras.items():
        assert np.array_equal(back.cameras[spectrum].K, camera.K)
        assert np.array_equal(back.cameras[spectrum].T_rig_cam, camera.T_rig_cam)
        assert back.cameras[spectrum].size == camera.size
    assert (back.pose is None) == (frame.pose is None) and (frame.pose is None or np.array_equal(back.pose, frame.pose))


def test_an_analysis_redraws_the_same_depth_and_metrics(store, tiny_checkpoint):
    frame = render_frame(3, 2, "fog")
    analysis = inference.analyse(frame, inference.AnalysisRequest(tiny_checkpoint, "both", "thr", probe="rain",
                                                                  strength=0.4))
    back = store.analysis(store.put_analysis(analysis, "visitor"))
    assert back.request == analysis.request and back.anchor == analysis.anchor == "thr"
    for output in analysis.outputs:
        np.testing.assert_array_equal(back.depth(output), analysis.depth(output))
    assert back.metrics == analysis.metrics and back.summary() == analysis.summary()
    assert np.array_equal(back.frame.images["rgb"], analysis.frame.images["rgb"])   # the probed frame, as analysed


def test_a_gallery_sample_is_kept_by_name_not_copied(store, tiny_checkpoint):
    name = inference.list_samples()[0].name
    sample = inference.load_sample(name)
    stored = store.put_frame(sample, "visitor", sample=name)
    assert store.frame(stored) is sample and files(store) == []
    analysis = inference.analyse(sample, inference.AnalysisRequest(tiny_checkpoint, "spectral", None))
    back = store.analysis(store.put_analysis(analysis, "visitor"))
    assert back.frame is sample and files(store) == ["analysis"]


def test_a_session_keeps_one_value_per_slot_and_discarding_removes_it(store):
    frame = render_frame(3, 2, "day")
    first = store.put_frame(frame, "visitor")
    second = store.put_frame(frame, "visitor")
    other = store.put_frame(frame, "someone else")
    assert files(store) == ["frame", "frame"]                      # the visitor's first frame was replaced
    with pytest.raises(InputError, match="no longer kept on the server"):
        store.frame(first)
    assert store.frame(other).name == store.frame(second).name == frame.name
    store.discard(second)
    assert files(store) == ["frame"] and not (store.root / "visitor").exists()
    store.discard(None)                                             # a state that never held a value


def test_calls_without_a_session_keep_every_value(store):
    frame = render_frame(3, 2, "day")
    kept = [store.put_frame(frame) for _ in range(3)]
    assert all(store.frame(stored).name == frame.name for stored in kept)
