"""Zero-shot tagging: vocabularies of tags, suggestions scored on stored CLIP vectors, review by admins."""
