# The index of everything a person does with Imagen. `just --list` shows it.
set shell := ["bash", "-euo", "pipefail", "-c"]

venv := justfile_directory() / ".venv/bin"
supabase := justfile_directory() / "tools/supabase/node_modules/.bin/supabase"
functions := "supabase/functions"
deno_config := functions / "imagine/deno.json"
deno_sources := functions / "_shared " + functions / "imagine " + functions / "tests"

# Install everything (apt extras, Supabase CLI, Python env).
setup:
    scripts/setup

# Render a series end to end on an embedded database (after `just setup`).
demo *args:
    {{venv}}/imagen demo {{args}}

# A local database, user and worker for the `imagen` commands, until Ctrl-C; prints the environment to paste (--data DIR keeps it).
dev *args:
    {{venv}}/imagen dev {{args}}

# Apply the migrations to DATABASE_URL (bootstrap where needed).
migrate url:
    {{venv}}/imagen db migrate --database-url "{{url}}"

# The whole test suite: lint, stale-types and settings-table checks, the edge function's Deno tests, pytest (pgTAP, Supabase CLI, worker, stand-ins).
test *args: lint
    scripts/gen-types --check
    {{venv}}/python -m imagen.dev.settings_table --check
    {{venv}}/deno test --config {{deno_config}} --allow-env {{functions}}/tests
    {{venv}}/pytest {{args}}

# Regenerate web/src/database.types.ts from the migrations (Supabase CLI 3.1.0, throwaway database).
types:
    scripts/gen-types

# Regenerate docs/settings.md (every IMAGEN_* setting) from worker/imagen/config.py.
settings-table:
    {{venv}}/python -m imagen.dev.settings_table

# Serve the web app on 127.0.0.1:PORT for the project in SUPABASE_URL / SUPABASE_ANON_KEY (build, config.json, vite preview).
web port="5173":
    #!/usr/bin/env bash
    set -euo pipefail
    : "${SUPABASE_URL:?set SUPABASE_URL to the project URL (https://<ref>.supabase.co)}"
    : "${SUPABASE_ANON_KEY:?set SUPABASE_ANON_KEY to the anon key of the project (never the service-role key)}"
    cd web
    [ -x node_modules/.bin/vite ] || npm ci --no-audit --no-fund --loglevel=error
    npm run --silent build
    node -e 'process.stdout.write(JSON.stringify({supabaseUrl: process.env.SUPABASE_URL, supabaseAnonKey: process.env.SUPABASE_ANON_KEY}) + "\n")' > dist/config.json
    echo "web: serving web/dist for $SUPABASE_URL on http://127.0.0.1:{{port}}/"
    exec node_modules/.bin/vite preview --host 127.0.0.1 --port {{port}} --strictPort

# Benchmarks, one after another (bench/all.py): each prints a table and writes bench/results/<name>.json; ends with one table of every goal, exit 1 on a miss (--smoke: seconds-long sizes, misses not counted; --only NAME).
bench *args:
    {{venv}}/python -m bench.all {{args}}

# Lint, format and type checks: ruff for Python, deno fmt/lint/check for the edge function, tsc for the web app.
lint:
    {{venv}}/ruff check worker tests bench
    {{venv}}/ruff format --check worker tests bench
    {{venv}}/deno fmt --check --config {{deno_config}} {{deno_sources}}
    {{venv}}/deno lint --config {{deno_config}} {{deno_sources}}
    {{venv}}/deno check --config {{deno_config}} {{functions}}/imagine/index.ts {{functions}}/tests
    cd web && node_modules/.bin/tsc --noEmit

# Format the code.
fmt:
    {{venv}}/ruff format worker tests bench
    {{venv}}/ruff check --fix worker tests bench
    {{venv}}/deno fmt --config {{deno_config}} {{deno_sources}}
