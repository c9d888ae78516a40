#!/usr/bin/env bash
# Checks that seer compiles with candle's CUDA feature on a machine without a GPU or a CUDA
# install (issue 4: "the code must also build with candle's CUDA feature").
#
# It fetches NVIDIA's CUDA 13 compiler, C runtime headers, NVVM and CCCL from PyPI (about
# 100 MB of wheels, unpacked into a git-ignored folder), then runs `cargo check` of every
# target of seer-models and seer-cli with `--features seer-models/cuda`. That builds candle's
# CUDA kernels with nvcc (for compute capability CUDA_COMPUTE_CAP, default 90 = H100) and
# type-checks every line of seer behind `#[cfg(feature = "cuda")]`. It does not link (that
# needs the driver library, libcuda.so, which only a machine with an NVIDIA driver has) and it
# runs nothing on a GPU. About 17 minutes on 2 cores, most of it nvcc.
#
# Usage: benches/cuda/check.sh [WORK_DIR]   (default: out/cuda-toolkit)
# On a machine with the CUDA toolkit and a GPU, build and use the real thing instead:
#   cargo build --release -p seer-cli --features cuda
set -euo pipefail
work=${1:-out/cuda-toolkit}
mkdir -p "$work/wheels"
python3 -m pip download --quiet --no-deps -d "$work/wheels" \
  nvidia-cuda-nvcc==13.5.37 nvidia-cuda-crt==13.5.37 nvidia-nvvm==13.5.37 \
  nvidia-cuda-runtime==13.5.37 nvidia-cuda-cccl==13.3.5.0.6
for w in "$work"/wheels/*.whl; do
  python3 -m zipfile -e "$w" "$work/unpacked"
done
cuda="$(cd "$work/unpacked/nvidia/cu13" && pwd)"
chmod +x "$cuda"/bin/* "$cuda"/nvvm/bin/*
"$cuda/bin/nvcc" --version | tail -n 2
# cudarc 0.19 lists CUDA versions up to 13.4, so name 13.4 for its bindings (nvcc 13.5 builds
# the kernels; the driver API is backward compatible).
PATH="$cuda/bin:$PATH" CUDA_ROOT="$cuda" CUDA_PATH="$cuda" CUDA_HOME="$cuda" \
  CUDARC_CUDA_VERSION=13040 CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}" \
  cargo check -p seer-models -p seer-cli --features seer-models/cuda --all-targets \
  --target-dir "$work/target"
echo "seer compiles with the CUDA feature"
