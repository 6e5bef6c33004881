"""The Hydra callback that opens a multirun's tracking in the launching process.

``on_multirun_start`` runs before any worker starts, so the store, the experiment and the
parent run are created exactly once (see kvexp.sweeps for why that matters).
Hydra 1.3.8 skips ``on_multirun_end`` when a job fails, so the parent is also closed by
``python -m kvexp`` itself (kvexp.app.cli); closing twice is harmless.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from kvexp import sweeps, tracking


def sweep_name(config: DictConfig) -> str:
    """The sweep's tag: the config's ``sweep`` (experiments set it), else "multirun"."""
    return str(config.get("sweep") or "multirun")


class TrackingCallback(Callback):
    """Opens the sweep's tracking (store, experiment, parent run) before jobs start; closes it
    when Hydra reports the multirun's end."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not config.tracking.enabled:
            return
        hydra_cfg = config.hydra
        cwd = hydra_cfg.runtime.cwd
        sweep_dir = Path(cwd) / str(hydra_cfg.sweep.dir)
        params = hydra_cfg.sweeper.get("params")
        sweeper_params = OmegaConf.to_container(params, resolve=True) if params else {}
        tags = {
            "kvexp.overrides": " ".join(hydra_cfg.overrides.task)[:5000],
            "kvexp.sweep_params": json.dumps(sweeper_params)[:5000],
            "kvexp.replicate": json.dumps(OmegaConf.to_container(config.replicate, resolve=True))[:5000],
            "kvexp.sweep_dir": str(sweep_dir),
        }
        uri = tracking.resolve_uri(config.tracking.uri, cwd)
        sweeps.open_sweep(uri, config.tracking.experiment, config.tracking.artifact_root, sweep_name(config),
                          sweep_dir, tags, resume=config.tracking.resume)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweeps.close_sweep(failed=False)

