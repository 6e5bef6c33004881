"""The compile settings every fast-engine kernel uses.

``cache=True`` writes machine code next to the sources (``__pycache__``), so only the first
run on a machine compiles. ``_nrt=False`` compiles without numba's reference-counting
runtime: the kernels only index arrays that Python allocated and keeps alive for the whole
call, and with the runtime on, every call between kernels increments and decrements the
count of each state array it is handed (measured at about 1 us per hook call, 100x the work
itself). For the same reason the per-access hooks are inlined into the loop (``hot``): a
numba call passes every array of a state tuple as seven separate values. The numpy error
model skips zero-division checks; no divisor can be zero (tier bandwidths are positive, the
trace length is at least 1, gaps divide by hist - 1 >= 1).
"""
from numba import njit

kernel = njit(cache=True, _nrt=False, error_model="numpy")
hot = njit(cache=True, _nrt=False, error_model="numpy", inline="always")
