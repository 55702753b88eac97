"""Reads of generations: a generation, its candidates and images are visible to their creator only."""
from plugins.generation.models import Candidate, Generation


def generations_of(user):
    if not user.is_authenticated:
        return Generation.objects.none()
    return Generation.objects.filter(owner=user).select_related("job")


def access_generation(*, user, generation_id: int) -> Generation | None:
    return generations_of(user).filter(pk=generation_id).first()


def access_candidate(*, user, generation_id: int, index: int) -> Candidate | None:
    return Candidate.objects.filter(generation__owner=user, generation_id=generation_id, index=index).first() \
        if user.is_authenticated else None
