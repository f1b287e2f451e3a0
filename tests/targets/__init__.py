"""Outside implementations that the harness's own tests verify (never registered)."""
