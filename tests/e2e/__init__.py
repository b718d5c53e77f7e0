"""End-to-end tests: the provider and its relying parties on real ports, driven over HTTP."""
