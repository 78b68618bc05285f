"""Sliding-window rate limits on the guessable endpoints (login, register)."""
