"""The knowledge base: articles service writes and reviewers publish, searchable in Chinese and English."""
