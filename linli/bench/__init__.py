"""Owns the benchmarks (linli bench billing|notify|portal): bulk data, live server, load generator.
May use: every app; no app uses it."""
