"""One-off measurement scripts (``python -m scripts.vs_torch`` and so on); see the README.

They answer single questions rather than keep a history, so they live outside
``benchmarks/``, which asv imports whole as its suite.
"""
