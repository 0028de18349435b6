"""The one timer of the benchmarks: warm-up calls, then the median and minimum of the repetitions
(`sync` waits for the device, e.g. `torch.cuda.synchronize`, around every timed call)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed(
    fn: Callable[[], object], repeats: int, warmup: int, sync: Callable[[], object] | None = None
) -> dict:
    """`{"median_s", "min_s", "repeats"}` of `repeats` calls of `fn` after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    if sync is not None:
        sync()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        samples.append(time.perf_counter() - start)
    return {"median_s": statistics.median(samples), "min_s": min(samples), "repeats": repeats}


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """The median of `timed`, in milliseconds."""
    return timed(fn, repeats, warmup)["median_s"] * 1000
