"""Model presets: how many KV values a token costs and how fast a prompt is recomputed.

Real traces count tokens and blocks, not bytes; a model preset turns a block of tokens into a
page size (``n_scalars``, priced in bytes by the run's ``QuantScheme``) and a recompute time.

KV values per token per layer are ``2 * kv_heads * head_dim`` (K and V) for grouped-query
attention; DeepSeek-V3's multi-head latent attention caches one compressed latent of 512 values
plus a 64-value decoupled RoPE key per layer instead.

Prefill throughput defaults are rough, compute-bound estimates, not measurements:
``tokens/s = mfu * gpus * peak_flops / (2 * active_params)`` with an H100 SXM's dense BF16
peak (989 TFLOP/s), ``mfu = 0.4`` and the GPU count a deployment of that size typically uses.
Attention FLOPs are ignored, so long prompts prefill slower than this; override
``prefill_tokens_per_s`` (config: ``model.prefill_tokens_per_s``) with a measured figure.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from kvexp.quant import QuantScheme, fp16

H100_BF16_FLOPS = 989e12  # dense BF16 peak of an H100 SXM (NVIDIA datasheet)
DEFAULT_MFU = 0.4


def rough_prefill_tokens_per_s(active_params: float, gpus: int, mfu: float = DEFAULT_MFU) -> float:
    """Compute-bound prefill rate: each token costs about 2 FLOPs per active parameter."""
    return mfu * gpus * H100_BF16_FLOPS / (2.0 * active_params)


@dataclass(frozen=True)
class Model:
    """A model's KV footprint per token and its prefill (recompute) throughput."""

    name: str
    n_layers: int
    kv_values_per_layer: int  # per token: 2 * kv_heads * head_dim, or the MLA latent width
    prefill_tokens_per_s: float

    def __post_init__(self) -> None:
        for key in ("n_layers", "kv_values_per_layer"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"model.{key}: expected an integer > 0, got {value!r}")
        tps = self.prefill_tokens_per_s
        if isinstance(tps, bool) or not isinstance(tps, (int, float)) or not (tps > 0 and math.isfinite(tps)):
            raise ValueError(f"model.prefill_tokens_per_s: expected a number > 0, got {tps!r}")

    @property
    def scalars_per_token(self) -> int:
        """KV values one token leaves in the cache, across all layers."""
        return self.n_layers * self.kv_values_per_layer

    def bytes_per_token(self, quant: QuantScheme | None = None) -> float:
        return self.scalars_per_token * (quant or fp16()).bytes_per_scalar

    def block_scalars(self, tokens_per_block: int) -> int:
        """``n_scalars`` of a page holding one block (a page spans every layer of its tokens)."""
        return int(tokens_per_block) * self.scalars_per_token

    def block_bytes(self, tokens_per_block: int, quant: QuantScheme | None = None) -> int:
        """Bytes of one block = tokens per block x bytes per token x the scheme's ratio to fp16."""
        return int((quant or fp16()).page_bytes(np.array([self.block_scalars(tokens_per_block)]))[0])

    def recompute_ms(self, tokens: float | np.ndarray) -> np.ndarray:
        """Time to prefill ``tokens`` again, in ms (linear in tokens: see the module docstring)."""
        return np.asarray(tokens, dtype=np.float64) * (1000.0 / self.prefill_tokens_per_s)


GQA_8X128 = 2 * 8 * 128  # K and V of 8 KV heads with head dim 128 (all Llama 3 sizes)

# name -> (layers, KV values per token per layer, active params, GPUs of a typical deployment)
_SPECS: dict[str, tuple[int, int, float, int]] = {
    "llama3-8b": (32, GQA_8X128, 8.0e9, 1),       # 128 KiB/token at 16 bits; one GPU, ~24.7k tok/s
    "llama3-70b": (80, GQA_8X128, 70.6e9, 8),     # 320 KiB/token; TP8 node, ~22.4k tok/s
    "llama3.1-405b": (126, GQA_8X128, 405e9, 8),  # 504 KiB/token; one 8-GPU node, ~3.9k tok/s
    "deepseek-v3": (61, 512 + 64, 37e9, 8),       # MLA, ~68.6 KiB/token; 37B active of 671B, ~42.8k tok/s
}


def preset(name: str, prefill_tokens_per_s: float | None = None) -> Model:
    """A named preset (``llama3-8b``, ``llama3-70b``, ``llama3.1-405b``, ``deepseek-v3``).

    ``prefill_tokens_per_s`` overrides the rough default described in the module docstring.
    """
    if name not in _SPECS:
        raise ValueError(f"model: unknown preset {name!r}, expected one of {sorted(_SPECS)}")
    layers, per_layer, params, gpus = _SPECS[name]
    model = Model(name, layers, per_layer, rough_prefill_tokens_per_s(params, gpus))
    return model if prefill_tokens_per_s is None else replace(model, prefill_tokens_per_s=prefill_tokens_per_s)


def resolve(model: Model | str) -> Model:
    """A ``Model`` from itself or from a preset name (configs may give either)."""
    return model if isinstance(model, Model) else preset(model)


PRESETS = tuple(_SPECS)
