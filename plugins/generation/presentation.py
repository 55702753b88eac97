"""The JSON shape of a candidate, shared by the API and the progress events the worker pushes."""
from django.urls import reverse


def candidate_json(generation, c) -> dict:
    return {"index": c.index, "seed": str(c.seed), "score": round(c.score, 4),
            "rank_score": None if c.rank_score is None else round(c.rank_score, 4), "rank": c.rank,
            "width": c.width, "height": c.height,
            "image_url": reverse("generation-api:candidate-image", args=[generation.pk, c.index])}
