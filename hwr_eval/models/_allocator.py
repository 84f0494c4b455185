"""Keep freed tensor memory in the process's heap on Linux (glibc), so training steps stop page-faulting.

A CPU training step allocates and frees feature maps of tens of MB (the default CNN's first layer: 512
images x 16 channels x 28 x 28 floats = 26 MB). glibc serves blocks above its mmap threshold (at most
32 MB, adjusted on the fly) with fresh ``mmap`` pages and returns the heap's free top to the system above
its trim threshold, so every step faulted its feature maps in again: ~11,000-14,000 minor page faults
per 512-row step of the CNN on an AVX2 CPU (1 thread), 146-152 ms of CPU time. Raising both thresholds
keeps those blocks in the heap for reuse: ~240 faults and 104 ms per step, the same peak memory (580 MB).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform

# mallopt(3) parameter numbers (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Blocks up to this size come from the heap (feature maps of batch 512 stay below it).
MMAP_THRESHOLD_BYTES = 64 << 20
#: Free memory at the top of the heap kept for reuse instead of being returned to the system.
TRIM_THRESHOLD_BYTES = 512 << 20


@functools.cache
def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds once per process; True where that took effect.

    Elsewhere (macOS, Windows, musl) nothing changes and False is returned.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        # mallopt returns 1 on success; the mmap threshold first, so the trim threshold is not re-derived.
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
            libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    except (OSError, AttributeError):
        return False
