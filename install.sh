#!/usr/bin/env bash
# One command installs everything pasture needs on a fresh Debian machine:
#   1. Debian packages needed to build KenLM's training tools (lmplz, build_binary);
#   2. a virtual environment in .venv with the package and its pinned dependencies;
#   3. lmplz/build_binary compiled from the kenlm sdist, cached in ~/.cache/pasture/kenlm-bin (built once per machine).
# Re-running is cheap: every step checks whether its result already exists.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV=${PASTURE_VENV:-$ROOT/.venv}
KENLM_BIN=${PASTURE_KENLM_BIN:-$HOME/.cache/pasture/kenlm-bin}
KENLM_VERSION=0.3.0

log() { printf '\033[1m[install]\033[0m %s\n' "$*"; }

need_apt=()
for pkg in libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev cmake g++ zlib1g-dev libbz2-dev liblzma-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ! -x "$KENLM_BIN/lmplz" ] && [ ${#need_apt[@]} -gt 0 ]; then
    log "apt-get install ${need_apt[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# Runtime library of libarchive-c: StackExchange .7z archives are streamed through it.
if ! dpkg -s libarchive13 >/dev/null 2>&1 && ! dpkg -s libarchive13t64 >/dev/null 2>&1; then
    log "apt-get install libarchive13"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libarchive13 >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtual environment $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q -U pip
fi
if ! "$VENV/bin/python" -c "import pipeline, apache_beam, fasttext, kenlm, sentencepiece, torch" 2>/dev/null \
   || [ setup.py -nt "$VENV/.pasture-installed" ]; then
    log "installing pasture and its pinned dependencies into $VENV"
    "$VENV/bin/pip" install -q -e ".[dev]"
    touch "$VENV/.pasture-installed"
fi

if [ ! -x "$KENLM_BIN/lmplz" ] || [ ! -x "$KENLM_BIN/build_binary" ]; then
    log "building KenLM lmplz/build_binary $KENLM_VERSION (about a minute, once)"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    # Only the sdist is needed (we build two binaries, not the module). --no-binary kenlm, not
    # :all:, and no build isolation: otherwise pip builds kenlm's build dependencies (CMake
    # included) from source just to read its metadata, which took ~10 minutes.
    "$VENV/bin/pip" download -q --no-deps --no-binary kenlm --no-build-isolation -d "$work" "kenlm==$KENLM_VERSION" \
        || "$VENV/bin/pip" download -q --no-deps --no-binary kenlm -d "$work" "kenlm==$KENLM_VERSION"
    tar xzf "$work"/kenlm-$KENLM_VERSION.tar.gz -C "$work"
    mkdir -p "$work/kenlm-$KENLM_VERSION/build"
    (cd "$work/kenlm-$KENLM_VERSION/build" \
        && cmake .. -DCMAKE_BUILD_TYPE=Release >/dev/null \
        && make -j"$(nproc)" lmplz build_binary >/dev/null)
    mkdir -p "$KENLM_BIN"
    cp "$work/kenlm-$KENLM_VERSION/build/bin/lmplz" "$work/kenlm-$KENLM_VERSION/build/bin/build_binary" "$KENLM_BIN/"
fi

# megatron-core's own IndexedDataset reader checks our .bin/.idx files in the tests. It is not a
# dependency (its full install pulls CUDA packages): the 2.6 MB wheel is unpacked, no deps.
if ! ls "$HOME"/.cache/pasture/megatron-core-*/megatron >/dev/null 2>&1; then
    log "fetching megatron-core's reader for the shard-compatibility test"
    "$VENV/bin/python" tools/check_megatron.py --install >/dev/null 2>&1 \
        || log "megatron-core unavailable; its compatibility test will be skipped"
fi

# The CLI finds the tools through this file, so nobody has to edit PATH.
echo "$KENLM_BIN" > "$VENV/.kenlm-bin"
log "ready: $VENV/bin/pasture (KenLM tools in $KENLM_BIN)"
