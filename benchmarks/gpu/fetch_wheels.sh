#!/usr/bin/env bash
# Run HERE (a machine with PyPI), before using the lent GPU machine: downloads the wheels its image
# lacks (PyAV, lpips) for its Python 3.12 into .whl/ (git-ignored), to travel with `carry: [".whl"]`.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .git/info && { grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude; }
mkdir -p .whl
for spec in "av==18.1.0" "lpips==0.1.4"; do
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "$spec"
done
ls -la .whl
