"""kmirror: a lossless, order-preserving mirror of Kafka topics between clusters."""

__version__ = "0.1.0"
