"""The database: the Supabase bootstrap for a plain Postgres, and the migrations (shipped as package data)."""
