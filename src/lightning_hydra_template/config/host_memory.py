"""Keep freed host memory in the process, so that CPU training steps stop page-faulting.

glibc gives memory back to the kernel whenever the free space at the top of its heap exceeds a
threshold, which it raises only as far as the largest block it has unmapped so far. A training
step that frees several MB of activations and gradients at once can cross that threshold on every
step: the heap shrinks, and the next step faults every page back in (measured here: ~340 minor
faults per step of the MLP experiment, a quarter of its speed; half of the LSTM's). Whether a
process falls into that pattern depends on the order of its earlier allocations, so it comes and
goes with unrelated code.
Fixing the thresholds makes it never happen.
"""

import ctypes
import platform
import sys

from ..errors import ConfigError

# mallopt(3) parameter numbers, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Blocks at least this big keep their own mapping (glibc's upper bound for its dynamic threshold):
# a dataset or a huge batch is still handed back to the kernel when freed.
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024


def keep_freed_memory(trim_threshold_mb: int | None) -> bool:
    """Let glibc keep up to `trim_threshold_mb` MB of freed heap; True when the setting took effect.

    `None` leaves glibc's defaults. Other C libraries (macOS, Windows, musl) are left alone.
    """
    if trim_threshold_mb is None:
        return False
    whole_mb = isinstance(trim_threshold_mb, int) and not isinstance(trim_threshold_mb, bool)
    if not whole_mb or not 0 <= trim_threshold_mb < 2048:
        raise ConfigError(
            f"malloc_trim_threshold_mb={trim_threshold_mb!r}: give a whole number of MB from 0 to 2047 "
            "(256 is the default), or null for the C library's own behaviour."
        )
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)  # the C library this process already uses
    # Setting one threshold freezes the other, so both are set: mmap first, then trim.
    mmap_set = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    trim_set = libc.mallopt(M_TRIM_THRESHOLD, trim_threshold_mb * 1024 * 1024)
    return bool(mmap_set and trim_set)
