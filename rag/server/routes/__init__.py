"""The JSON API under /api, one resource per module: questions, documents, conversations."""
