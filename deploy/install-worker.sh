#!/usr/bin/env bash
# Installs one Imagen worker as a systemd service on a GPU box (docs/deploy.md, "The worker as a
# systemd service"). Run it as root from a checkout at /opt/imagen:
#
#   sudo git clone <this repository> /opt/imagen
#   sudo /opt/imagen/deploy/install-worker.sh
#
# It is safe to run again (after a `git pull`, to upgrade): every step checks first. It does:
#   1. the packages it needs (Debian/Ubuntu): python3 >= 3.11 with venv, g++ and the Python headers
#      (torch.compile), curl (the unit's readiness check), ca-certificates;
#   2. the system user `imagen` (no login, home /var/lib/imagen);
#   3. its folders: /var/lib/imagen/hf (model weights, about 34 GB for FLUX.1-schnell),
#      /var/lib/imagen/inductor (compiled graphs), /var/lib/imagen/images (the postgres
#      transport's pictures), owned by imagen; /etc/imagen, owned by root, readable by imagen;
#   4. the Python environment /opt/imagen/.venv: torch's CUDA build first (TORCH_INDEX_URL), then
#      this package (`pip install .`);
#   5. /etc/imagen/worker.env from deploy/worker.env.example unless it exists (mode 0600, owner
#      root:imagen: it holds the project's secret key);
#   6. the unit, /etc/systemd/system/imagen-worker.service.
# It does not start the worker: fill in /etc/imagen/worker.env first, then
#   sudo systemctl enable --now imagen-worker
#
# TORCH_INDEX_URL: PyTorch's wheel index for your driver's CUDA (`nvidia-smi` prints the highest
# CUDA version the driver supports; https://pytorch.org/get-started/locally/ lists the builds).
# The default, cu130, is deploy/Dockerfile.cuda's and needs driver 580 or newer; use
# https://download.pytorch.org/whl/cu128 (or cu126) for an older driver, if TORCH_VERSION has one.
set -euo pipefail

TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
TORCH_INDEX_URL="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cu130}"
PREFIX=/opt/imagen        # ExecStart= in the unit names /opt/imagen/.venv/bin/imagen
STATE=/var/lib/imagen     # the imagen user's home and WorkingDirectory=
CONFIG=/etc/imagen
root="$(cd "$(dirname "$0")/.." && pwd)"

say() { echo "install-worker: $*"; }
die() { echo "install-worker: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run it as root (sudo $0)"
[ "$root" = "$PREFIX" ] || die "the checkout is at $root; the unit runs $PREFIX/.venv/bin/imagen: clone it to $PREFIX"

# 1. Packages, only the missing ones.
missing=()
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v g++ >/dev/null || missing+=(g++)
python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null \
  || missing+=(python3-dev)
command -v curl >/dev/null || missing+=(curl)
[ -e /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "install these first (no apt-get here): ${missing[*]}"
  say "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "python3 is $(python3 -V 2>&1 | cut -d' ' -f2); Imagen needs 3.11 or newer"

# 2. The user the unit runs as (User=imagen).
if ! getent passwd imagen >/dev/null; then
  say "system user imagen (home $STATE)"
  useradd --system --user-group --home-dir "$STATE" --shell /usr/sbin/nologin imagen
fi

# 3. Folders: the state belongs to imagen; the settings to root, readable by imagen's group.
install -d -o imagen -g imagen -m 0750 "$STATE" "$STATE/hf" "$STATE/inductor" "$STATE/images"
install -d -o root -g imagen -m 0750 "$CONFIG"

# 4. The Python environment, owned by root: the worker can read it, not change it.
[ -x "$PREFIX/.venv/bin/python" ] || { say "python3 -m venv $PREFIX/.venv"; python3 -m venv "$PREFIX/.venv"; }
say "torch $TORCH_VERSION from $TORCH_INDEX_URL"
"$PREFIX/.venv/bin/pip" install --quiet --disable-pip-version-check --index-url "$TORCH_INDEX_URL" "torch==$TORCH_VERSION"
say "pip install $PREFIX"
"$PREFIX/.venv/bin/pip" install --quiet --disable-pip-version-check "$PREFIX"

# 5. The settings, written once; an existing file keeps its values and gets the right mode.
if [ ! -e "$CONFIG/worker.env" ]; then
  say "$CONFIG/worker.env from deploy/worker.env.example: fill it in"
  install -m 0600 -o root -g imagen "$root/deploy/worker.env.example" "$CONFIG/worker.env"
else
  chown root:imagen "$CONFIG/worker.env"
  chmod 0600 "$CONFIG/worker.env"
fi

# 6. The unit.
install -m 0644 "$root/deploy/imagen-worker.service" /etc/systemd/system/imagen-worker.service
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi

say "done. Next: edit $CONFIG/worker.env, then"
say "  systemctl enable --now imagen-worker && journalctl -u imagen-worker -f"
