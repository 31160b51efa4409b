"""The SLURM job a run belongs to: asking SLURM to start it again after a warning signal.

SLURM requeues a preempted job itself, but not one that reaches its time limit: on the warning
signal (`--signal=USR1@90`, or submitit's USR2) the job saves and asks `scontrol requeue` for
itself, and the requeued job continues its run folder (run/resume.py).
"""

import logging
import os
import subprocess

log = logging.getLogger(__name__)


def requeue_this_job() -> bool:
    """`scontrol requeue $SLURM_JOB_ID` from the job's first task; False (said why) when not possible.

    SLURM refuses jobs submitted with `--no-requeue` and interactive ones: the run then just stops.
    """
    job = os.environ.get("SLURM_JOB_ID")
    if job is None or os.environ.get("SLURM_PROCID", "0") != "0":
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
