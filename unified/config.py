"""Every UNIFIED_* environment variable, read in one place.

UNIFIED_NUM_THREADS  kernel threads at import (default: all cores; see unified.set_num_threads)
UNIFIED_CHECK        1 = run extra consistency checks (graph checks after each pass, later issues)
UNIFIED_ALLOCATOR_TUNING  0 = leave glibc's malloc thresholds alone (default: raise them so
                     large freed blocks are reused instead of page-faulted in again)
UNIFIED_NATIVE       0 = build without -march=native (read by setup.py at build time only)
"""

import os

NUM_THREADS: int | None = int(os.environ["UNIFIED_NUM_THREADS"]) if os.environ.get(
    "UNIFIED_NUM_THREADS"
) else None
CHECK: bool = os.environ.get("UNIFIED_CHECK", "0") not in ("", "0")
ALLOCATOR_TUNING: bool = os.environ.get("UNIFIED_ALLOCATOR_TUNING", "1") not in ("", "0")
