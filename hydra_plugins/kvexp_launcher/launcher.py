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

The jobs run through ``joblib.Parallel`` with the launcher's options, as with the stock
launcher (so ``n_jobs=1`` runs them one after the other in the launching process, where nothing
can contain a dying job). A job re-run alone goes straight to loky's process pool, the one
joblib uses, so that it runs in a worker process even then.
"""
from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path
from typing import Any, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra_plugins.hydra_joblib_launcher import joblib_launcher
from hydra_plugins.hydra_joblib_launcher._core import execute_job, process_joblib_cfg
from joblib import Parallel, delayed
from joblib.externals.loky import get_reusable_executor
from joblib.externals.loky.process_executor import BrokenProcessPool
from omegaconf import open_dict

from kvexp import sweeps
from kvexp.app import WorkerDied, record_lost_job

log = logging.getLogger(__name__)
IDLE_WORKER_S = 300  # as joblib's: an idle worker lingers this long before it exits


def run_marked(marker: str, idx: int, *args: Any) -> tuple[int, JobReturn]:
    """In a worker: mark the job as started, then run it as the stock launcher does."""
    Path(marker).touch()
    return idx, execute_job(idx, *args)


class ResilientJoblibLauncher(joblib_launcher.JoblibLauncher):
    """``hydra/launcher=resilient_joblib``: joblib's launcher where a dead worker fails only
    the job it was running."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        assert self.config is not None and self.task_function is not None and self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        options = {**self.joblib, "backend": "loky"}  # as the stock launcher: threads do not work with Hydra
        process_joblib_cfg(options)
        jobs = {initial_job_idx + i: list(o) for i, o in enumerate(job_overrides)}
        log.info(f"Joblib.Parallel({','.join(f'{k}={v}' for k, v in options.items())}) is launching {len(jobs)} jobs")
        for idx, overrides in jobs.items():
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
        results: dict[int, JobReturn] = {}
        with tempfile.TemporaryDirectory(prefix="kvexp-jobs-") as marks:
            pending, suspects, idle_breaks = list(jobs), [], 0
            while pending or suspects:
                if pending:  # everything not yet suspected, in parallel
                    batch, pending = pending, []
                    crash = self._run(batch, jobs, marks, results, options)
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
                crash = self._run([idx], jobs, marks, results)
                if crash is not None and idx not in results:
                    self._lost(idx, jobs[idx], results, f"its worker process died twice, the second time running it "
                                                        f"alone ({crash})")
        return [results[i] for i in sorted(jobs)]

    def _run(self, batch: list[int], jobs: dict[int, list[str]], marks: str, results: dict[int, JobReturn],
             options: dict | None = None) -> str | None:
        """Run ``batch`` with joblib ``options`` (None: one job, alone in a worker process),
        adding each result as it arrives; returns why the pool broke, if it did (the jobs
        without a result did not finish)."""
        state = Singleton.get_state()
        args = {i: (str(Path(marks, str(i))), i, jobs[i], self.hydra_context, self.config, self.task_function, state)
                for i in batch}
        try:
            if options is None:
                (i,) = batch
                pool = get_reusable_executor(max_workers=1, timeout=IDLE_WORKER_S)
                idx, ret = pool.submit(run_marked, *args[i]).result()
                results[idx] = ret
            else:
                for idx, ret in Parallel(**options, return_as="generator_unordered")(
                        delayed(run_marked)(*a) for a in args.values()):
                    results[idx] = ret
        except BrokenProcessPool as e:
            codes = re.search(r"exit codes of the workers are (\{.*?\})", str(e))
            return f"worker exit codes {codes.group(1)}" if codes else e.__class__.__name__
        return None

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
