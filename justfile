# The index of everything a person does with Imagen. `just --list` shows it.
set shell := ["bash", "-euo", "pipefail", "-c"]

venv := justfile_directory() / ".venv/bin"
supabase := justfile_directory() / "tools/supabase/node_modules/.bin/supabase"

# Install everything (apt extras, Supabase CLI, Python env).
setup:
    scripts/setup

# Render a series end to end on an embedded database (after `just setup`).
demo *args:
    {{venv}}/imagen demo {{args}}

# Apply the migrations to DATABASE_URL (bootstrap where needed).
migrate url:
    {{venv}}/imagen db migrate --database-url "{{url}}"

# The whole test suite: lint, pytest (includes pgTAP via pg_prove, Supabase CLI checks).
test *args:
    {{venv}}/ruff check worker tests
    {{venv}}/ruff format --check worker tests
    {{venv}}/pytest {{args}}

# Lint and format check.
lint:
    {{venv}}/ruff check worker tests
    {{venv}}/ruff format --check worker tests

# Format the code.
fmt:
    {{venv}}/ruff format worker tests
    {{venv}}/ruff check --fix worker tests
