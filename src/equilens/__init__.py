"""equilens: train, compare and look inside E(3)-equivariant and invariant GNNs."""

__version__ = "0.1.0"
