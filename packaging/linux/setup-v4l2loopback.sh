#!/usr/bin/env bash
# Set up the "Live2Diff Camera" virtual webcam on Linux (v4l2loopback), now and after reboots.
#
#   sudo packaging/linux/setup-v4l2loopback.sh              # install, configure, load
#   sudo packaging/linux/setup-v4l2loopback.sh --uninstall  # remove our config, unload
#
# What it does, each step skipped when already done (safe to run twice):
#   1. installs the v4l2loopback kernel module if `modinfo v4l2loopback` cannot find it
#      (apt: v4l2loopback-dkms, dnf: v4l2loopback from RPM Fusion, pacman: v4l2loopback-dkms);
#   2. writes /etc/modprobe.d/live2diff-cam.conf (the module options) and
#      /etc/modules-load.d/live2diff-cam.conf (load at boot);
#   3. loads the module now (reloads it when loaded with other options and no app holds it).
#
# exclusive_caps=1 is what Chrome/WebRTC (Google Meet, Teams and Discord in the browser) need to
# list the camera; some Zoom versions do not list it then: use --exclusive-caps 0 for those.
#
# Options:
#   --label TEXT          camera name shown to apps (default "Live2Diff Camera")
#   --exclusive-caps 0|1  see above (default 1)
#   --video-nr N          use /dev/videoN (default: the first free number)
#   --uninstall           remove the two config files and unload the module (keeps the package)
#   --root DIR            write the config files under DIR instead of / (for packaging and tests)
#   --no-install          never install a package; fail with the command to run instead
#   --no-load             write the config only; do not modprobe now
#   -h, --help            this text
set -euo pipefail

LABEL="Live2Diff Camera"
EXCLUSIVE_CAPS=1
VIDEO_NR=""
ACTION=install
ROOT=""
INSTALL_PACKAGE=1
LOAD=1
NAME=live2diff-cam

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "setup-v4l2loopback: error: $*" >&2; exit 1; }
say() { echo "setup-v4l2loopback: $*"; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --label) LABEL="${2:?--label needs a value}"; shift 2 ;;
        --exclusive-caps) EXCLUSIVE_CAPS="${2:?--exclusive-caps needs 0 or 1}"; shift 2 ;;
        --video-nr) VIDEO_NR="${2:?--video-nr needs a number}"; shift 2 ;;
        --uninstall) ACTION=uninstall; shift ;;
        --root) ROOT="${2:?--root needs a folder}"; shift 2 ;;
        --no-install) INSTALL_PACKAGE=0; shift ;;
        --no-load) LOAD=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

[[ "$EXCLUSIVE_CAPS" == 0 || "$EXCLUSIVE_CAPS" == 1 ]] || die "--exclusive-caps must be 0 or 1"
[[ -z "$VIDEO_NR" || "$VIDEO_NR" =~ ^[0-9]+$ ]] || die "--video-nr must be a number"
[[ "$LABEL" != *'"'* ]] || die "--label must not contain a double quote"
[[ "$(uname -s)" == Linux ]] || die "v4l2loopback is Linux only; on Windows and macOS install OBS Studio (see packaging/windows, packaging/macos)"
if [[ -z "$ROOT" && "$(id -u)" != 0 ]]; then
    die "run as root: sudo $0 $*"
fi

MODPROBE_CONF="$ROOT/etc/modprobe.d/$NAME.conf"
MODULES_LOAD_CONF="$ROOT/etc/modules-load.d/$NAME.conf"
OPTIONS="devices=1 card_label=\"$LABEL\" exclusive_caps=$EXCLUSIVE_CAPS"
[[ -n "$VIDEO_NR" ]] && OPTIONS="$OPTIONS video_nr=$VIDEO_NR"

# Write a file only when its content changes, so a second run reports "unchanged".
write_file() {
    local path="$1" content="$2"
    if [[ -f "$path" && "$(cat "$path")" == "$content" ]]; then
        say "unchanged: $path"
        return 0
    fi
    mkdir -p "$(dirname "$path")"
    printf '%s\n' "$content" > "$path"
    say "wrote $path"
}

module_installed() { modinfo v4l2loopback > /dev/null 2>&1; }
module_loaded() { [[ -d /sys/module/v4l2loopback ]]; }

install_module() {
    if module_installed; then
        say "v4l2loopback module is installed"
        return 0
    fi
    local headers="linux-headers-$(uname -r)"
    if command -v apt-get > /dev/null; then
        local cmd=(apt-get install -y v4l2loopback-dkms "$headers")
    elif command -v dnf > /dev/null; then
        # Fedora ships it in RPM Fusion (free): sudo dnf install rpmfusion-free-release first.
        local cmd=(dnf install -y v4l2loopback)
    elif command -v pacman > /dev/null; then
        local cmd=(pacman -S --needed --noconfirm v4l2loopback-dkms linux-headers)
    else
        die "v4l2loopback is not installed and no apt-get/dnf/pacman was found: install the v4l2loopback kernel module (https://github.com/umlaeute/v4l2loopback) and run this again"
    fi
    if [[ "$INSTALL_PACKAGE" == 0 ]]; then
        die "v4l2loopback is not installed: run \`sudo ${cmd[*]}\` (or drop --no-install)"
    fi
    say "installing: ${cmd[*]}"
    if [[ "${cmd[0]}" == apt-get ]]; then
        apt-get update -qq
    fi
    "${cmd[@]}" || die "installing v4l2loopback failed; with Secure Boot on, the DKMS module must be signed (see mokutil) or Secure Boot turned off"
    module_installed || die "the package installed but modinfo still cannot find v4l2loopback: reboot into the kernel it was built for"
}

load_module() {
    if module_loaded; then
        local current
        current="$(cat /sys/devices/virtual/video4linux/video*/name 2> /dev/null || true)"
        if grep -qxF "$LABEL" <<< "$current"; then
            say "v4l2loopback is loaded with a \"$LABEL\" device"
            return 0
        fi
        say "v4l2loopback is loaded with other options; reloading"
        modprobe -r v4l2loopback || die "v4l2loopback is in use (close apps using /dev/video*) and could not be reloaded; the new options apply after a reboot"
    fi
    # Options come from $MODPROBE_CONF, the same file the next boot reads.
    modprobe v4l2loopback || die "modprobe v4l2loopback failed: see \`sudo dmesg | tail\`"
    local device
    for device in /sys/devices/virtual/video4linux/video*; do
        if [[ "$(cat "$device/name" 2> /dev/null)" == "$LABEL" ]]; then
            say "ready: /dev/$(basename "$device") is \"$LABEL\""
            return 0
        fi
    done
    die "modprobe ran but no device is labelled \"$LABEL\": check $MODPROBE_CONF and \`sudo dmesg | tail\`"
}

if [[ "$ACTION" == uninstall ]]; then
    for path in "$MODPROBE_CONF" "$MODULES_LOAD_CONF"; do
        if [[ -f "$path" ]]; then
            rm -f "$path"
            say "removed $path"
        else
            say "already absent: $path"
        fi
    done
    if [[ "$LOAD" == 1 ]] && module_loaded; then
        modprobe -r v4l2loopback && say "unloaded v4l2loopback" \
            || say "v4l2loopback is in use; it unloads at the next reboot"
    fi
    say "done (the v4l2loopback package itself is kept)"
    exit 0
fi

if [[ "$LOAD" == 1 ]]; then
    install_module
fi
write_file "$MODPROBE_CONF" "# Written by live2diff-cam's setup-v4l2loopback.sh
options v4l2loopback $OPTIONS"
write_file "$MODULES_LOAD_CONF" "# Written by live2diff-cam's setup-v4l2loopback.sh
v4l2loopback"
if [[ "$LOAD" == 1 ]]; then
    load_module
fi
say "done; check with: live2diff-cam doctor"
