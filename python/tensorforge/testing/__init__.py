"""Reference models with random weights, for tests, examples and benchmarks (torch required)."""
