"""The benchmark suite: `make bench` measures the service side by side with the ceiling."""
