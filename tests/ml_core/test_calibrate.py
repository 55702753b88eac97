"""ml_core.calibrate: the "no good match" cutoff from any captioned set, written into a profile."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ml_core import calibrate
from ml_core.clip.profile import PROFILE_FILE, load_profile
from ml_core.synth.export import export


def test_evaluate_counts_shown_results_and_no_good_match_answers():
    rel = np.array([[True, False, False], [False, False, False]])
    scores = np.array([[0.9, 0.2, 0.1], [0.3, 0.25, 0.2]])
    good = calibrate.evaluate(scores, rel, 0.5)
    assert (good["precision"], good["recall"], good["no_good_match_correct"], good["match_found"]) == (1.0, 1.0, 1.0, 1.0)
    loose = calibrate.evaluate(scores, rel, 0.15)
    assert loose["precision"] == round(1 / 5, 3) and loose["no_good_match_correct"] == 0.0
    per_query = calibrate.evaluate(scores, rel, np.array([0.5, 0.15]))   # one cutoff per query
    assert per_query["precision"] == round(1 / 4, 3) and "threshold" not in per_query


def test_a_bad_captions_file_names_the_line(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "captions.jsonl").write_text('{"file": "a.png", "caption": "x"}\n{"caption": "no file"}\n')
    with pytest.raises(ValueError, match="captions.jsonl:2"):
        calibrate.read_captioned_set(tmp_path, tmp_path / "captions.jsonl")
    (tmp_path / "captions.jsonl").write_text('{"file": "gone.png", "caption": "x"}\n')
    with pytest.raises(ValueError, match="no image"):
        calibrate.read_captioned_set(tmp_path, tmp_path / "captions.jsonl")


def test_calibration_of_a_captioned_set_writes_the_profiles_search_section(tmp_path):
    captions = export(tmp_path / "set", 16, seed=101, size=64, split="heldout", progress=False)
    profile = tmp_path / PROFILE_FILE
    profile.write_text(json.dumps({"known_words": ["red"]}))
    code = calibrate.main(["--images", str(tmp_path / "set"), "--captions", str(captions), "--model",
                           "random:atelier-demo-clip", "--queries", str(tmp_path / "set" / "queries.txt"),
                           "--profile", str(profile)])
    written = json.loads(profile.read_text())
    assert code == 0 and written["known_words"] == ["red"]
    search = written["search"]
    assert search["images"] == [8, 8] and search["label_free_z"] == 2.0
    assert {"precision", "recall", "no_good_match_correct"} <= set(search["heldout"]) <= set(search["label_free_heldout"]) | {"threshold"}
    assert load_profile(profile).search_cutoff == pytest.approx(search["cutoff"])
