"""The SLURM job a run belongs to: asking SLURM to start it again after a warning signal.

SLURM requeues a preempted job itself, but not one that reaches its time limit: on the warning
signal (`--signal=USR1@90`, or submitit's USR2) the job saves and asks `scontrol requeue` for
itself, and the requeued job continues its run folder (run/resume.py).
"""

import logging
import os
import subprocess

log = logging.getLogger(__name__)


def requeue_this_job(max_requeues: int | None = None) -> bool:
    """`scontrol requeue $SLURM_JOB_ID` from the job's first task; False (said why) when not possible.

    SLURM refuses jobs submitted with `--no-requeue` and interactive ones: the run then just stops.
    A job that has been started `max_requeues` times again already (SLURM_RESTART_COUNT) is not
    requeued: one that is signalled at every start (a time limit too short for one epoch, a node
    that keeps being preempted) would otherwise come back forever.
    """
    job = os.environ.get("SLURM_JOB_ID")
    if job is None or os.environ.get("SLURM_PROCID", "0") != "0":
        return False
    restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
    if max_requeues is not None and restarts >= max_requeues:
        log.warning(
            "SLURM job %s not requeued: it was requeued %d times already (max_requeues=%d). Resume it "
            "with the command above, or allow more requeues with max_requeues=%d.",
            job, restarts, max_requeues, restarts + max(max_requeues, 1),
        )  # fmt: skip
        return False
    try:
        done = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        log.warning("SLURM job %s not requeued (%s): start it again with the same command.", job, error)
        return False
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip()
        log.warning("SLURM job %s not requeued (%s): start it again with the same command.", job, reason)
        return False
    log.info("SLURM job %s requeued: it continues this run folder when it starts again.", job)
    return True
