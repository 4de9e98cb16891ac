#!/bin/sh
# Install the given Debian packages when they are missing: as root, or through sudo.
# Otherwise print one line saying what to run, and fail.
set -eu

missing=""
for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done
# The virtualenv needs ensurepip, which Debian ships separately as python3-venv.
if ! python3 -c "import ensurepip" 2>/dev/null; then
    missing="$missing python3-venv"
fi
# On a Raspberry Pi the camera library comes from the OS.
if grep -qs "Raspberry Pi" /proc/device-tree/model && ! python3 -c "import picamera2" 2>/dev/null; then
    missing="$missing python3-picamera2"
fi
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: please install these OS packages with your package manager:$missing" >&2
    exit 1
fi
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo"
else
    echo "system-deps: run: sudo apt-get update && sudo apt-get install -y$missing" >&2
    exit 1
fi
echo "system-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
# The tests start their own RTSP relay on free ports; the package's system-wide service is not wanted.
case " $missing " in
    *" rtsp-server-perl "*)
        if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
            $SUDO systemctl disable --now rtsp-server-perl >/dev/null 2>&1 || true
        fi ;;
esac
