"""Shared test set-up: without a CUDA GPU, Triton kernels (labsupport.fused) run in Triton's CPU interpreter.

The interpreter is chosen when a kernel is defined, so the variable is set before any test imports labsupport.fused.
"""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
