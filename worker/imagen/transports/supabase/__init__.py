"""The supabase transport: the project connection, RPCs over PostgREST, Storage, Realtime wake-ups."""
