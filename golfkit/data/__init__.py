"""Data in the challenge's formats: token shards, synthetic corpora, SentencePiece tokenizers."""
