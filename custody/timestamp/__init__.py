"""Trusted time: RFC 3161 tokens over checkpoints and bundle seals."""
