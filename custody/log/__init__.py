"""The custody log: events, Merkle tree, checkpoints and proofs."""
