"""Development tools, not the product: the demo, an embedded PostgreSQL, tiny random-weight models."""
