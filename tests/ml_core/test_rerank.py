"""ml_core.rerank: raw and calibrated CLIP scores of candidates."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_core.clip import get_engine
from ml_core.rerank import (BANK_SIZE, caption_bank, calibrated_scores, clip_scores, rank_scores, rerank,
                            score_candidates, smoothed, to_pil)
from ml_core.synth.render import render_batch
from ml_core.synth.sampling import scene_at


def _images(n: int) -> torch.Tensor:
    scenes = [scene_at(5, i, "all") for i in range(n)]
    return torch.from_numpy(render_batch(scenes, 64)).permute(0, 3, 1, 2).float() / 255


def test_calibrated_score_subtracts_each_images_mean_cosine_to_the_bank():
    engine, images = get_engine("demo"), _images(6)
    bank = ["a blue square", "two green stars on the left", "a red heart"]
    raw = clip_scores(engine, "a red circle", images)
    expected = raw - np.mean([clip_scores(engine, caption, images) for caption in bank], axis=0)
    got = calibrated_scores(engine, "a red circle", images, bank=bank)
    assert got == pytest.approx(expected, abs=1e-5)
    assert not np.allclose(got - raw, (got - raw)[0])   # the correction differs per image: it can reorder


def test_the_demo_engine_calibrates_against_its_world_and_other_models_keep_raw_cosine():
    demo = get_engine("demo")
    bank = caption_bank(demo)
    assert len(bank) == BANK_SIZE and len(set(bank)) > BANK_SIZE // 2
    other = get_engine("random:atelier-demo-clip")
    images = _images(3)
    assert caption_bank(other) is None
    assert calibrated_scores(other, "a red circle", images) == pytest.approx(clip_scores(other, "a red circle", images))
    assert calibrated_scores(demo, "a red circle", images) == pytest.approx(
        calibrated_scores(demo, "a red circle", images, bank=bank), abs=1e-6)


def test_rerank_orders_by_the_mean_calibrated_score_of_three_smoothings_and_reports_the_cosine():
    engine, images = get_engine("demo"), _images(8)
    result = rerank(engine, "a red circle", images)
    assert result.scores == pytest.approx(clip_scores(engine, "a red circle", images), abs=1e-6)
    views = [calibrated_scores(engine, "a red circle", smoothed(images, r)) for r in (0, 1, 2)]
    assert result.rank_scores == pytest.approx(np.mean(views, axis=0), abs=1e-6)
    assert result.rank_scores == pytest.approx(rank_scores(engine, "a red circle", images), abs=1e-6)
    assert not np.allclose(result.rank_scores, calibrated_scores(engine, "a red circle", images), atol=1e-4)
    assert result.order.tolist() == np.argsort(-result.rank_scores, kind="stable").tolist()
    assert result.top(3) == result.order[:3].tolist()


@pytest.mark.parametrize("radius", [1, 2])
def test_smoothing_is_a_box_filter_of_the_8_bit_picture_and_only_for_the_demo_clip(radius):
    images = _images(2)
    picture = np.asarray(to_pil(images[0]), dtype=float)
    got = np.asarray(smoothed(images, radius)[0], dtype=float)
    side = 2 * radius + 1
    padded = np.pad(picture, ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    box = sum(padded[i:i + 64, j:j + 64] for i in range(side) for j in range(side)) / side ** 2
    assert np.abs(got - box).max() <= 1.0 and np.abs(got - picture).max() > 20   # edges soften
    assert np.array_equal(np.asarray(smoothed(images, 0)[0]), np.asarray(to_pil(images[0])))
    other = get_engine("random:atelier-demo-clip")          # not measured there: the picture itself, raw cosine
    cosine, ranking = score_candidates(other, "a red circle", images)
    assert ranking == pytest.approx(cosine, abs=1e-6)
