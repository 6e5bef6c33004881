"""Hardware-shaped tier presets: GPU HBM -> host memory -> NVMe, with public figures.

Units: sizes in decimal GB (1e9 bytes, as datasheets quote them); a ``Tier`` wants bytes,
ms and bytes per ms, so 1 GB/s = 1e6 bytes/ms.

Bandwidth. The engine prices a move between two tiers at ``bytes / min(bw_src, bw_dst)``, so
each tier's bandwidth is set to what bounds a transfer into or out of it, not to the memory's
own speed: the host tier gets the PCIe (or NVLink-C2C) link, because HBM <-> DDR5 traffic
crosses that link and the link is far slower than DDR5; the NVMe tier gets the drive's
sequential read rate, which bounds both NVMe -> HBM cold loads and host -> NVMe demotions.

Latency assumptions (fixed cost per block move or hit, on top of bytes / bandwidth):
  HBM 1 us   -- a hit is a kernel reading a resident block; near-free next to any transfer.
  host 10 us -- one DMA (cudaMemcpyAsync) setup and launch across PCIe; 2 us over coherent C2C.
  NVMe 80 us -- a random read on a data-center NVMe drive ("tens of us"), writes alike.

``n_gpus`` aggregates a tensor-parallel group: each GPU holds its shard of every block and moves
it over its own link in parallel, so HBM, link bandwidth and KV capacity scale with it; host
memory and NVMe are per node and given directly.
"""
from __future__ import annotations

import math

from kvexp.tiers import Tier

GB = 1e9
GB_PER_S = 1e6  # bytes per ms

# Sources: NVIDIA H100, H200 and GH200 datasheets; PCIe 5.0 x16 = 32 GT/s x 16 lanes (about 63 GB/s
# per direction, about 50 achievable); NVMe figures from Gen4/Gen5 data-center drive datasheets.
H100_HBM_GB, H100_HBM_GBPS = 80, 3350        # H100 SXM HBM3: 80 GB, 3.35 TB/s
H200_HBM_GB, H200_HBM_GBPS = 141, 4800       # H200 HBM3e: 141 GB, 4.8 TB/s
GH200_HBM_GB, GH200_HBM_GBPS = 96, 4000      # GH200 Hopper side: 96 GB HBM3, 4 TB/s (NVIDIA GH200 datasheet)
PCIE5_X16_GBPS = 50                          # ~63 GB/s per direction theoretical, ~50 achievable
C2C_GBPS = 450                               # NVLink-C2C 900 GB/s bidirectional = 450 per direction
LPDDR5X_GBPS = 500                           # GH200 Grace LPDDR5X ~500 GB/s: above C2C, so C2C bounds
NVME_GBPS = {4: 7, 5: 12}                    # sequential read: Gen4 ~7 GB/s, Gen5 12-14.5 GB/s
HBM_LATENCY_MS, HOST_LATENCY_MS, C2C_LATENCY_MS, NVME_LATENCY_MS = 0.001, 0.01, 0.002, 0.08


def _check(name: str, value: float, lo: float, hi: float = math.inf, lo_open: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > lo if lo_open else value >= lo) and value <= hi
    if not ok:
        bound = f"{'>' if lo_open else '>='} {lo}" + (f" and <= {hi}" if hi < math.inf else "")
        raise ValueError(f"tiers.{name}: expected a number {bound}, got {value!r}")
    return float(value)


def node_tiers(
    hbm_gb: float,
    hbm_gbps: float,
    link_gbps: float,
    host_latency_ms: float,
    *,
    kv_fraction: float,
    host_gb: float,
    nvme_gb: float,
    nvme_gen: int,
    n_gpus: int,
    host_name: str = "host_dram",
) -> tuple[Tier, ...]:
    """HBM (its ``kv_fraction`` given to KV) -> host memory -> NVMe; a size of 0 drops that tier."""
    kv_fraction = _check("kv_fraction", kv_fraction, 0.0, 1.0, lo_open=True)
    host_gb = _check("host_gb", host_gb, 0.0)
    nvme_gb = _check("nvme_gb", nvme_gb, 0.0)
    if isinstance(n_gpus, bool) or not isinstance(n_gpus, int) or n_gpus < 1:
        raise ValueError(f"tiers.n_gpus: expected an integer >= 1, got {n_gpus!r}")
    if nvme_gen not in NVME_GBPS:
        raise ValueError(f"tiers.nvme_gen: expected one of {sorted(NVME_GBPS)}, got {nvme_gen!r}")
    tiers = [Tier("hbm", int(hbm_gb * GB * kv_fraction * n_gpus), HBM_LATENCY_MS, HBM_LATENCY_MS,
                  hbm_gbps * n_gpus * GB_PER_S)]
    if host_gb > 0:
        tiers.append(Tier(host_name, int(host_gb * GB), host_latency_ms, host_latency_ms, link_gbps * n_gpus * GB_PER_S))
    if nvme_gb > 0:
        tiers.append(Tier("nvme", int(nvme_gb * GB), NVME_LATENCY_MS, NVME_LATENCY_MS, NVME_GBPS[nvme_gen] * GB_PER_S))
    return tuple(tiers)


def h100(kv_fraction: float = 0.5, host_gb: float = 512, nvme_gb: float = 3840, nvme_gen: int = 4,
         n_gpus: int = 1) -> tuple[Tier, ...]:
    """An H100 SXM node: HBM3 -> DDR5 over PCIe Gen5 x16 -> NVMe (Gen4 by default)."""
    return node_tiers(H100_HBM_GB, H100_HBM_GBPS, PCIE5_X16_GBPS, HOST_LATENCY_MS, kv_fraction=kv_fraction,
                      host_gb=host_gb, nvme_gb=nvme_gb, nvme_gen=nvme_gen, n_gpus=n_gpus)


def h200(kv_fraction: float = 0.5, host_gb: float = 1024, nvme_gb: float = 3840, nvme_gen: int = 5,
         n_gpus: int = 1) -> tuple[Tier, ...]:
    """An H200 node: more and faster HBM than the H100, the same PCIe Gen5 host link."""
    return node_tiers(H200_HBM_GB, H200_HBM_GBPS, PCIE5_X16_GBPS, HOST_LATENCY_MS, kv_fraction=kv_fraction,
                      host_gb=host_gb, nvme_gb=nvme_gb, nvme_gen=nvme_gen, n_gpus=n_gpus)


def gh200(kv_fraction: float = 0.5, host_gb: float = 480, nvme_gb: float = 3840, nvme_gen: int = 5,
          n_gpus: int = 1) -> tuple[Tier, ...]:
    """A GH200 superchip: HBM3 -> Grace LPDDR5X (480 GB) over NVLink-C2C -> NVMe.

    The host tier's bandwidth is the C2C link per direction (450 GB/s), just under LPDDR5X's
    ~500 GB/s, so the link still bounds it, and it is 9x the PCIe host link of an H100 node.
    """
    return node_tiers(GH200_HBM_GB, GH200_HBM_GBPS, min(C2C_GBPS, LPDDR5X_GBPS), C2C_LATENCY_MS,
                      kv_fraction=kv_fraction, host_gb=host_gb, nvme_gb=nvme_gb, nvme_gen=nvme_gen,
                      n_gpus=n_gpus, host_name="host_lpddr5x")
