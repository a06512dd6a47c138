"""`edgeqa serve`: the reader behind an HTTP API with a batching scheduler."""
