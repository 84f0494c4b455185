import platform
import resource

import numpy as np
import pytest
import torch

from hwr_eval.models import MLP, HwrNet
from hwr_eval.models._allocator import keep_freed_memory

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def _page_faults_of_a_fresh_40mb_tensor() -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = torch.empty(10 << 20).fill_(1.0)  # 40 MB: above glibc's largest default mmap threshold (32 MB)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    del block
    return faults


@pytest.mark.skipif(not GLIBC, reason="tunes glibc's malloc (Linux)")
def test_after_a_cpu_fit_freed_blocks_are_reused_without_page_faults():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 16)).astype(np.float32), np.arange(40) % 2
    HwrNet(MLP, max_epochs=1, device="cpu", module__hidden=4).fit(X, y)
    assert keep_freed_memory() is True
    # Served by mmap (glibc's default for blocks this size), a 40 MB block faults in its ~10,000 pages (4 KB)
    # every time it is allocated; kept in the heap, it is reused once the heap has grown to hold it.
    assert min(_page_faults_of_a_fresh_40mb_tensor() for _ in range(5)) < 500


@pytest.mark.skipif(GLIBC, reason="elsewhere nothing is changed")
def test_without_glibc_nothing_is_changed():
    assert keep_freed_memory() is False
