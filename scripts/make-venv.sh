#!/bin/sh
# Create the project's virtualenv with a Python >= 3.11.  On a Raspberry Pi it sees the system
# site-packages, because picamera2 and libcamera come from the OS, not from PyPI.
set -eu
python="$1"
venv="$2"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "make-venv: $python is missing or older than 3.11; install Python 3.11+ (Debian 12 / Raspberry Pi OS bookworm have it)" >&2
    exit 1
fi
[ -x "$venv/bin/python" ] && exit 0
flags=""
if grep -qs "Raspberry Pi" /proc/device-tree/model; then
    flags="--system-site-packages"
fi
echo "make-venv: creating $venv $flags" >&2
# shellcheck disable=SC2086
"$python" -m venv $flags "$venv"
