"""Sliding-window rate limits: the login and register guard, and the per-user budgets."""
