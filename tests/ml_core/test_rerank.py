"""ml_core.rerank: raw and calibrated CLIP scores of candidates."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from ml_core.clip import get_engine
from ml_core.rerank import (caption_bank, calibrated_scores, clip_scores, image_vectors,
                            prompt_contradictions, rank_scores, rerank, score_candidates, smoothed, to_pil)
from ml_core.synth.captions import canonical_caption
from ml_core.synth.profile import BANK_SIZE
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


def test_the_demo_engine_calibrates_against_its_profiles_bank_and_other_models_keep_raw_cosine():
    demo = get_engine("demo")
    bank = caption_bank(demo)
    assert len(bank) == BANK_SIZE and len(set(bank)) > BANK_SIZE // 2
    assert bank == list(demo.profile.ranking.caption_bank)
    other = get_engine("random:atelier-demo-clip")
    images = _images(3)
    assert caption_bank(other) is None
    assert calibrated_scores(other, "a red circle", images) == pytest.approx(clip_scores(other, "a red circle", images))
    assert calibrated_scores(demo, "a red circle", images) == pytest.approx(
        calibrated_scores(demo, "a red circle", images, bank=bank), abs=1e-6)


def test_rerank_orders_by_the_margin_over_the_nearest_contradiction_and_reports_the_cosine():
    engine, images = get_engine("demo"), _images(8)
    prompt = "a red circle on the left"
    result = rerank(engine, prompt, images)
    assert result.scores == pytest.approx(clip_scores(engine, prompt, images), abs=1e-6)
    # the image side: the mean embedding of the picture and its 3x3 and 5x5 box blurs
    views = np.mean([image_vectors(engine, smoothed(images, r)) for r in (0, 1, 2)], axis=0)
    rivals = np.asarray(engine.encode_texts(prompt_contradictions(engine, prompt)))
    margin = views @ engine.encode_text(prompt) - (views @ rivals.T).max(axis=1)
    assert result.rank_scores == pytest.approx(margin, abs=1e-5)
    assert result.rank_scores == pytest.approx(rank_scores(engine, prompt, images), abs=1e-6)
    assert result.order.tolist() == np.argsort(-result.rank_scores, kind="stable").tolist()
    assert result.top(3) == result.order[:3].tolist()
    # a scene the prompt describes beats the same scene with its shape changed
    right = next(sc for sc in (scene_at(5, i, "all") for i in range(50)) if sc.kind == "single")
    other_shape = "circle" if right.first.shape != "circle" else "square"
    wrong = replace(right, objects=tuple(replace(o, shape=other_shape) for o in right.objects))
    pair = torch.from_numpy(render_batch([right, wrong], 64)).permute(0, 3, 1, 2).float() / 255
    assert rerank(engine, canonical_caption(right), pair).top(1) == [0]


def test_prompts_outside_the_world_rank_by_the_calibrated_views_and_other_models_by_cosine():
    demo, images = get_engine("demo"), _images(4)
    assert prompt_contradictions(demo, "a dog on a beach at dusk") == []
    views = np.mean([calibrated_scores(demo, "a dog on a beach at dusk", smoothed(images, r)) for r in (0, 1, 2)], axis=0)
    assert rank_scores(demo, "a dog on a beach at dusk", images) == pytest.approx(views, abs=1e-5)
    other = get_engine("random:atelier-demo-clip")
    assert prompt_contradictions(other, "a red circle on the left") == []
    cosine, ranking = score_candidates(other, "a red circle on the left", images)
    assert ranking == pytest.approx(cosine, abs=1e-6)


def test_the_profiles_ranking_applies_only_to_the_backends_it_was_measured_on():
    demo, images, prompt = get_engine("demo"), _images(4), "a red circle on the left"
    assert demo.profile.ranking.backends == ("atelier-dalle",)
    measured = score_candidates(demo, prompt, images, backend="atelier-dalle")
    assert measured[1] == pytest.approx(rank_scores(demo, prompt, images), abs=1e-6)
    cosine, ranking = score_candidates(demo, prompt, images, backend="min-dalle")   # real pictures
    assert ranking == pytest.approx(cosine, abs=1e-6) and not np.allclose(measured[1], cosine)
    assert prompt_contradictions(demo, prompt, backend="min-dalle") == [] and caption_bank(demo, "min-dalle") is None


@pytest.mark.parametrize("radius", [1, 2])
def test_smoothing_is_a_box_filter_of_the_8_bit_picture(radius):
    images = _images(2)
    picture = np.asarray(to_pil(images[0]), dtype=float)
    got = np.asarray(smoothed(images, radius)[0], dtype=float)
    side = 2 * radius + 1
    padded = np.pad(picture, ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    box = sum(padded[i:i + 64, j:j + 64] for i in range(side) for j in range(side)) / side ** 2
    assert np.abs(got - box).max() <= 1.0 and np.abs(got - picture).max() > 20   # edges soften
    assert np.array_equal(np.asarray(smoothed(images, 0)[0]), np.asarray(to_pil(images[0])))
