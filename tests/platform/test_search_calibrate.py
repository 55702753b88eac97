"""The cutoff calibration: its metric on a toy case, and an end-to-end run on the synthetic world."""
import json

import numpy as np

from atelier.search import calibrate, cutoffs


def test_evaluate_counts_shown_results_and_no_good_match_answers():
    rel = np.array([[True, False, False], [False, False, False]])
    scores = np.array([[0.9, 0.2, 0.1], [0.3, 0.25, 0.2]])
    good = calibrate.evaluate(scores, rel, 0.5)
    assert (good["precision"], good["recall"], good["no_good_match_correct"], good["match_found"]) == (1.0, 1.0, 1.0, 1.0)
    loose = calibrate.evaluate(scores, rel, 0.15)
    assert loose["precision"] == round(1 / 5, 3) and loose["no_good_match_correct"] == 0.0


def test_calibration_runs_on_held_out_scenes(tmp_path, monkeypatch):
    report = calibrate.calibrate("random:atelier-demo-clip", 12)
    assert report["model_id"] == "random:atelier-demo-clip" and -1 <= report["threshold"] <= 1
    assert {"precision", "recall", "no_good_match_correct"} <= set(report["heldout"])


def test_the_calibrated_table_sets_the_cutoff(tmp_path, monkeypatch, settings):
    settings.ATELIER_SEARCH_MIN_SCORE = None
    table = tmp_path / "cutoffs.json"
    table.write_text(json.dumps({"m1": {"threshold": 0.27}}))
    monkeypatch.setattr(cutoffs, "TABLE", table)
    cutoffs._table.cache_clear()
    try:
        assert cutoffs.text_cutoff("m1") == 0.27 and cutoffs.text_cutoff("other") is None
        settings.ATELIER_SEARCH_MIN_SCORE = 0.5
        assert cutoffs.text_cutoff("m1") == 0.5
    finally:
        cutoffs._table.cache_clear()
