"""Hydra's joblib launcher, made to survive a worker process that dies.

With the stock launcher, one worker killed mid-job (out of memory, SIGKILL, a crash in compiled
code) breaks joblib's process pool: ``TerminatedWorkerError`` aborts every job still queued and
the sweep ends without them. Here the jobs are submitted as before, and after such a break:

- the jobs that had not started yet are submitted again to a fresh pool;
- the jobs that were running when the pool broke (the culprit is among them, the others were
  killed with the pool) are then re-run one at a time; one that dies again on its own is the
  culprit: it is reported as FAILED (a ``WorkerDied`` error, and a FAILED run recorded by
  ``kvexp.app.record_lost_job``), and the sweep goes on.

Runs recorded FINISHED before the break are skipped when their job is re-run
(``kvexp.sweeps.skip_finished_children``), so no configuration is recorded twice. Each job
marks its start with an empty file in a temporary folder: that is how "had started" is known.

Jobs go straight to loky's process pool (the one joblib uses), one task per job, so that a job
run alone still runs in a worker process (joblib runs ``n_jobs=1`` in the calling process,
where a dying job would take the launcher with it). Of the joblib options only ``n_jobs`` is
used (-1: one worker per CPU).
"""
from __future__ import annotations

import logging
import os
import re
import tempfile
from concurrent.futures import as_completed
from pathlib import Path
from typing import Any, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra_plugins.hydra_joblib_launcher import joblib_launcher
from hydra_plugins.hydra_joblib_launcher._core import execute_job
from joblib.externals.loky import get_reusable_executor
from joblib.externals.loky.process_executor import BrokenProcessPool
from omegaconf import open_dict

from kvexp import sweeps
from kvexp.app import WorkerDied, record_lost_job

log = logging.getLogger(__name__)


def run_marked(marker: str, idx: int, *args: Any) -> tuple[int, JobReturn]:
    """In a worker: mark the job as started, then run it as the stock launcher does."""
    Path(marker).touch()
    return idx, execute_job(idx, *args)


class ResilientJoblibLauncher(joblib_launcher.JoblibLauncher):
    """``hydra/launcher=resilient_joblib`` (kvexp's default): joblib's launcher where a dead
    worker fails only the job it was running."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        assert self.config is not None and self.task_function is not None and self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        n_jobs = int(self.joblib.get("n_jobs") or -1)
        workers = n_jobs if n_jobs > 0 else max(1, (os.cpu_count() or 1) + 1 + n_jobs)
        jobs = {initial_job_idx + i: list(o) for i, o in enumerate(job_overrides)}
        log.info(f"{workers} worker processes are launching {len(jobs)} jobs")
        for idx, overrides in jobs.items():
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
        results: dict[int, JobReturn] = {}
        with tempfile.TemporaryDirectory(prefix="kvexp-jobs-") as marks:
            pending, suspects, idle_breaks = list(jobs), [], 0
            while pending or suspects:
                if pending:  # everything not yet suspected, in parallel
                    batch, pending = pending, []
                    crash = self._run(batch, jobs, workers, marks, results)
                    left = [i for i in batch if i not in results]
                    if crash is None:
                        assert not left, f"jobs {left} returned nothing"
                        continue
                    started = [i for i in left if Path(marks, str(i)).exists()]
                    idle_breaks = 0 if started else idle_breaks + 1
                    if idle_breaks >= 2:  # the pool broke twice with no job running: none will run
                        for i in left:
                            self._lost(i, jobs[i], results, f"the worker pool broke before the job started ({crash})")
                        continue
                    log.warning(f"a worker died ({crash}); jobs {started} were running and are re-run one at a time")
                    sweeps.skip_finished_children()
                    suspects += started
                    pending = [i for i in left if i not in started]
                    continue
                idx = suspects.pop(0)  # alone: if its worker dies now, this job killed it
                Path(marks, str(idx)).unlink(missing_ok=True)
                crash = self._run([idx], jobs, 1, marks, results)
                if crash is not None and idx not in results:
                    self._lost(idx, jobs[idx], results, f"its worker process died twice, the second time running it "
                                                        f"alone ({crash})")
        return [results[i] for i in sorted(jobs)]

    def _run(self, batch: list[int], jobs: dict[int, list[str]], workers: int, marks: str,
             results: dict[int, JobReturn]) -> str | None:
        """Run ``batch`` in a pool of ``workers`` processes, adding each result as it arrives;
        returns why the pool broke, if it did (the jobs without a result did not finish)."""
        state = Singleton.get_state()
        pool = get_reusable_executor(max_workers=workers)
        futures = [pool.submit(run_marked, str(Path(marks, str(i))), i, jobs[i], self.hydra_context, self.config,
                               self.task_function, state) for i in batch]
        crash = None
        for future in as_completed(futures):
            try:
                idx, ret = future.result()
            except BrokenProcessPool as e:
                codes = re.search(r"exit codes of the workers are (\{.*?\})", str(e))
                crash = crash or (f"worker exit codes {codes.group(1)}" if codes else e.__class__.__name__)
                continue
            results[idx] = ret
        return crash

    def _lost(self, idx: int, overrides: list[str], results: dict[int, JobReturn], reason: str) -> None:
        """Report job ``idx`` FAILED without a result: in the sweep's parent and as a run."""
        message = f"job #{idx} ({' '.join(filter_overrides(overrides))}): {reason}"
        log.error(message)
        sweeps.note_lost_job(idx, f"WorkerDied: {message}")
        error = WorkerDied(message)
        results[idx] = JobReturn(overrides=overrides, status=JobStatus.FAILED, _return_value=error)
        try:
            sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
                sweep_config.hydra.job.num = idx
            if sweep_config.tracking.enabled:
                record_lost_job(sweep_config, message)
        except Exception as e:  # the sweep's parent still names the job (note_lost_job)
            log.error(f"job #{idx} could not be recorded as a run: {e}")
