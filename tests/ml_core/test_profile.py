"""ml_core.clip.profile: a model's profile is data beside its weights; the engine loads it."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from ml_core.clip import create_engine, get_engine
from ml_core.clip.profile import (DEFAULT_PROFILE, DEFAULT_RANKING, PROFILE_FILE, ProfileError, contradiction_provider,
                                  label_free_cutoff, library_moments, load_profile, profile_from_dict,
                                  register_contradiction_provider, update_profile_file)


def test_a_model_without_a_profile_gets_the_documented_default():
    engine = get_engine("random:atelier-demo-clip")
    assert engine.profile is DEFAULT_PROFILE
    assert (DEFAULT_PROFILE.search_cutoff, DEFAULT_PROFILE.label_free_z, DEFAULT_PROFILE.known_words) == (None, 2.0, None)
    assert DEFAULT_RANKING.method == "cosine" and DEFAULT_RANKING.views == (0,) and not DEFAULT_RANKING.caption_bank
    assert not DEFAULT_PROFILE.unknown_query("a dog on the beach")


def test_the_demo_weights_ship_their_profile():
    profile = get_engine("demo").profile
    assert profile.source.endswith(f"demo_clip/{PROFILE_FILE}")
    assert profile.search_cutoff == pytest.approx(0.3305)
    assert profile.ranking.method == "margin" and profile.ranking.views == (0, 1, 2)
    assert profile.ranking.backends == ("atelier-dalle",) and len(profile.ranking.caption_bank) == 256
    assert {"red", "circle", "left", "three"} <= profile.known_words and "dog" not in profile.known_words


def test_a_weights_folder_carries_its_own_profile(tmp_path):
    folder = tmp_path / "my_clip"
    shutil.copytree(get_engine("demo").weights_path.parent, folder)
    (folder / PROFILE_FILE).write_text(json.dumps({"search": {"cutoff": 0.25}, "known_words": ["Cat"],
                                                   "ranking": {"method": "calibrated", "caption_bank": ["a cat"]},
                                                   "labels": {"name": "cat clip"}}))
    engine = create_engine(f"file:{folder}")
    assert engine.profile.search_cutoff == 0.25 and engine.profile.known_words == {"cat"}
    assert engine.profile.ranking.caption_bank == ("a cat",) and engine.profile.labels["name"] == "cat clip"
    assert engine.describe()["profile"] == str(folder / PROFILE_FILE)


def test_rankings_apply_to_measured_backends_and_queries_are_checked_against_known_words():
    profile = profile_from_dict({"known_words": ["red", "circle"],
                                 "ranking": {"method": "margin", "views": [0, 1], "backends": ["mine"]}})
    assert profile.ranking_for("mine").method == "margin" and profile.ranking_for(None).views == (0, 1)
    assert profile.ranking_for("someone-elses") is DEFAULT_RANKING
    assert profile.unknown_query("a dog at night") and not profile.unknown_query("A RED dog")


@pytest.mark.parametrize("data, field", [({"ranking": {"method": "best"}}, "ranking.method"),
                                         ({"ranking": {"views": []}}, "ranking.views")])
def test_a_bad_profile_is_refused_naming_the_field(tmp_path, data, field):
    path = tmp_path / PROFILE_FILE
    path.write_text(json.dumps(data))
    with pytest.raises(ProfileError, match=field):
        load_profile(path)
    path.write_text("{not json")
    with pytest.raises(ProfileError, match="not a readable JSON profile"):
        load_profile(path)
    assert load_profile(tmp_path / "missing.json") is DEFAULT_PROFILE


def test_updating_a_profile_keeps_the_other_sections(tmp_path):
    path = tmp_path / PROFILE_FILE
    update_profile_file(path, ranking={"method": "calibrated"}, known_words=["red"])
    update_profile_file(path, search={"cutoff": 0.3})
    assert json.loads(path.read_text()) == {"ranking": {"method": "calibrated"}, "known_words": ["red"], "search": {"cutoff": 0.3}}
    with pytest.raises(ProfileError):
        update_profile_file(path, ranking={"method": "nope"})
    assert json.loads(path.read_text())["ranking"] == {"method": "calibrated"}


def test_contradiction_providers_resolve_by_name_or_module_path():
    register_contradiction_provider("test-provider", lambda prompt: [prompt.upper()])
    assert contradiction_provider("test-provider")("a cat") == ["A CAT"]
    assert contradiction_provider("json:dumps") is json.dumps
    with pytest.raises(ProfileError, match="not registered"):
        contradiction_provider("no-such-provider")


def test_the_label_free_cutoff_is_the_querys_mean_plus_z_deviations_over_the_library():
    rng = np.random.default_rng(0)
    library = rng.standard_normal((500, 16))
    library /= np.linalg.norm(library, axis=1, keepdims=True)
    query = library[0] + 0.1 * rng.standard_normal(16)
    scores = library @ query
    mean, covariance = library_moments(library)
    assert label_free_cutoff(query, mean, covariance, z=2.0) == pytest.approx(scores.mean() + 2.0 * scores.std(ddof=1))
    assert label_free_cutoff(query, mean, covariance, z=0.0) == pytest.approx(scores.mean())
