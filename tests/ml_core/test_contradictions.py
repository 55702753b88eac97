"""ml_core.synth.contradictions: the captions one world fact away from a prompt."""
from ml_core.synth.contradictions import contradictions
from ml_core.synth.vocab import COLOUR_NAMES, POSITION_NAMES, SHAPE_NAMES


def test_a_single_object_caption_changes_colour_shape_and_position_one_at_a_time():
    got = contradictions("a purple square on the right")
    assert len(got) == (len(COLOUR_NAMES) - 1) + (len(SHAPE_NAMES) - 1) + (len(POSITION_NAMES) - 1)
    assert {"a purple heart on the right", "a purple square on the left", "an orange square on the right"} <= set(got)
    assert "a orange square on the right" not in got and "a purple square on the right" not in got
    assert got == sorted(set(got))


def test_plural_shapes_counts_relations_and_synonyms():
    assert "two blue crosses at the bottom" in contradictions("two blue hearts at the bottom")
    assert "three blue hearts at the bottom" in contradictions("two blue hearts at the bottom")
    pair = contradictions("a blue triangle above an orange cross")
    assert {"a blue triangle below an orange cross", "a blue triangle to the left of an orange cross",
            "a blue triangle above a green cross", "a red triangle above an orange cross"} <= set(pair)
    # synonyms are recognised, the longest phrase first: "royal blue" (not "blue"), "heart shape" (not "heart")
    synonyms = contradictions("a royal blue heart shape on the left side")
    assert {"a red heart shape on the left side", "a royal blue circle on the left side",
            "a royal blue heart shape at the top"} <= set(synonyms)
    assert all("royal" not in c or "royal blue" in c for c in synonyms)
    assert not any("circle shape" in c or "left side side" in c for c in synonyms)


def test_text_outside_the_world_has_no_contradictions():
    assert contradictions("a dog on a beach at dusk") == []
    assert contradictions("") == []
