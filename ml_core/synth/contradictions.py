"""One-word contradictions of a caption: the same text with one of the world's facts changed.

    contradictions("a purple square on the right")
    -> ["a blue square on the right", ..., "a purple heart on the right", ..., "a purple square on the left", ...]

Every colour, shape, size, count (two/three), position and relation the caption names (any synonym
of `vocab`, longest phrase first) is replaced, one at a time, by the canonical word of each other
value of its kind; shapes keep their number and "a"/"an" follows the new word. The reranker asks
whether a picture matches its prompt better than the prompt's nearest contradiction
(`ml_core.rerank.rank_scores`). Text naming none of the world's facts has no contradictions.
Count 1 is left alone: "a star" -> "two stars" would have to change the noun's number too.
"""
from __future__ import annotations

import re
from functools import lru_cache

from .vocab import (COLOUR_WORDS, COUNT_WORDS, POSITION_PHRASES, RELATION_PHRASES, SHAPE_WORDS, SIZE_WORDS,
                    article)


@lru_cache(maxsize=1)
def _phrases() -> dict[str, tuple[str, str, int]]:
    """phrase (lower case) -> (kind, value, number): number is 1 for a plural shape word, else 0."""
    out: dict[str, tuple[str, str, int]] = {}
    for kind, table in (("colour", COLOUR_WORDS), ("size", SIZE_WORDS), ("position", POSITION_PHRASES),
                        ("relation", RELATION_PHRASES)):
        for value, words in table.items():
            out.update({w: (kind, value, 0) for w in words})
    for value, pairs in SHAPE_WORDS.items():
        for singular, plural in pairs:
            out[singular], out[plural] = ("shape", value, 0), ("shape", value, 1)
    for count in (2, 3):
        out.update({w: ("count", str(count), 0) for w in COUNT_WORDS[count]})
    return out


def _canonical(kind: str, value: str, number: int) -> str:
    if kind == "shape":
        return SHAPE_WORDS[value][0][number]
    if kind == "count":
        return COUNT_WORDS[int(value)][0]
    table = {"colour": COLOUR_WORDS, "size": SIZE_WORDS, "position": POSITION_PHRASES,
             "relation": RELATION_PHRASES}[kind]
    return table[value][0]


def _values(kind: str) -> list[str]:
    if kind == "count":
        return ["2", "3"]
    return list({"colour": COLOUR_WORDS, "size": SIZE_WORDS, "position": POSITION_PHRASES,
                 "relation": RELATION_PHRASES, "shape": SHAPE_WORDS}[kind])


@lru_cache(maxsize=1)
def _pattern() -> re.Pattern:
    words = sorted(_phrases(), key=len, reverse=True)   # the longest phrase wins where two start together
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)


_ARTICLE = re.compile(r"\b(a|an)\s+$", re.IGNORECASE)


def _splice(text: str, start: int, end: int, new: str) -> str:
    prefix = text[:start]
    if _ARTICLE.search(prefix):   # "a purple" -> "an orange"
        prefix = _ARTICLE.sub(lambda m: article(new) + " ", prefix)
    return prefix + new + text[end:]


def contradictions(caption: str) -> list[str]:
    """Every caption one world fact away from ``caption`` (sorted, without duplicates or itself)."""
    found = set()
    for match in _pattern().finditer(caption):
        kind, value, number = _phrases()[match.group(0).lower()]
        for other in _values(kind):
            if other != value:
                found.add(_splice(caption, match.start(), match.end(), _canonical(kind, other, number)))
    found.discard(caption)
    return sorted(found)
