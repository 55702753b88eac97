"""Near-duplicate detection over the stored CLIP embeddings (a small plugin proving the API)."""
