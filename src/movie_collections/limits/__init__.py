"""GET /limits/: the limits of the API that apply to the caller."""
