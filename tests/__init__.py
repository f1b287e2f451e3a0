"""The conformance suite for max-pooling implementations; see the README."""
