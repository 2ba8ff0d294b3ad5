#!/usr/bin/env bash
# PyTorch is an optional test peer: with it, tests compare values and gradients against it; without, they skip.
# Install it only when a CPU wheel of torch lies in a local wheel folder (pip's find-links, as on our
# development and CI machines): from the public index pip would fetch a multi-GB CUDA build.
set -u
python=$1
for folder in ${PIP_FIND_LINKS:-} /opt/wheels; do
  for wheel in "$folder"/torch-*+cpu-*.whl; do
    if [ -f "$wheel" ]; then
      version=$(basename "$wheel" | cut -d- -f2 | cut -d+ -f1)
      echo "installing the local CPU build of torch $version for the comparison tests"
      "$python" -m pip install --quiet "torch==$version" && exit 0
      echo "torch $version could not be installed: the PyTorch comparison tests will skip"
      exit 0
    fi
  done
done
echo "no local CPU build of torch: the PyTorch comparison tests will skip"
