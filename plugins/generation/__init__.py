"""The creation studio: text -> many candidates from a generation backend -> CLIP reranking -> keep the best."""
