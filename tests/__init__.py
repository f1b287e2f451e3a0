"""The conformance suite for max-pooling implementations; see docs/contract.md and docs/conformance.md."""
