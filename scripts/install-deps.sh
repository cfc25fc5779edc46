#!/usr/bin/env bash
# Install the Debian packages that building, testing and benchmarking signmf
# need. Only missing packages are installed, unless --update is given (CI),
# which refreshes the package lists and installs the whole list every time.
# Uses sudo when not run as root.
set -euo pipefail

PACKAGES=(
  build-essential   # gcc, make, libc headers
  meson ninja-build pkg-config
  libcriterion-dev  # unit tests
  zlib1g-dev        # .npz reading
  python3-numpy python3-scipy  # parity tests and the numpy/scipy benchmarks
  python3-venv python3-dev     # the Python package: a venv for pip, headers for the extension
  libopenblas0-pthread         # a real BLAS for numpy (the reference one is ~10x slower)
  hyperfine         # bench/compare.sh
  clang clang-format libclang-rt-14-dev  # fuzz targets and sanitizers, scripts/format.sh
  libopenblas-dev   # bench_score compares with cblas_sgemm
  gnuplot-nox       # plots
  valgrind
  libopenmpi-dev openmpi-bin  # signmf-mpi (-Dmpi=auto) and its tests
)

force=0
if [ "${1:-}" = "--update" ]; then
  force=1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "$force" -eq 0 ] && [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: no apt-get here; please install the equivalents of: ${missing[*]:-${PACKAGES[*]}}" >&2
  exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-deps: not root and no sudo; please install: ${missing[*]}" >&2
    exit 1
  fi
fi

if [ "$force" -eq 1 ]; then
  to_install=("${PACKAGES[@]}")
else
  to_install=("${missing[@]}")
fi
echo "install-deps: installing ${to_install[*]}"
export DEBIAN_FRONTEND=noninteractive
if "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update &&
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${to_install[@]}"; then
  exit 0
fi
# A refresh that fails (mirror hiccup) is harmless when nothing is missing.
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: apt-get failed, but every package is already installed; going on" >&2
  exit 0
fi
echo "install-deps: could not install: ${missing[*]}" >&2
exit 1
