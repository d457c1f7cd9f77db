"""Imagen: N tries of one prompt, rendered on one GPU, queued in Supabase Postgres."""

__version__ = "0.1.0"
