"""Which process of a distributed job this is: its rank and the job's size.

A job of several processes (MPI ranks, ``torchrun`` workers) keeps ONE
message: rank 0 posts it; the other ranks stay silent unless they fail.  The
rank comes from a communicator when one is given, else from the environment
variables the common launchers set:

=====================  ========================  =============================
launcher               rank                      size
=====================  ========================  =============================
Open MPI ``mpirun``    ``OMPI_COMM_WORLD_RANK``  ``OMPI_COMM_WORLD_SIZE``
MPICH / Intel MPI      ``PMI_RANK``              ``PMI_SIZE``
Slurm ``srun``         ``SLURM_PROCID``          ``SLURM_NTASKS``
``torchrun``           ``RANK``                  ``WORLD_SIZE``
=====================  ========================  =============================
"""

from __future__ import annotations

import os
from typing import Mapping, NamedTuple, Optional

__all__ = ["Process", "launcher_process", "LAUNCHER_VARIABLES"]

#: (rank variable, size variable) of each launcher, in the order they are tried.
LAUNCHER_VARIABLES = (
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
    ("PMI_RANK", "PMI_SIZE"),
    ("SLURM_PROCID", "SLURM_NTASKS"),
    ("RANK", "WORLD_SIZE"),
)


class Process(NamedTuple):
    """This process's place in its job."""

    rank: int  #: 0 … size - 1; rank 0 reports
    size: int  #: processes in the job (1: not distributed)


def launcher_process(environ: Optional[Mapping[str, str]] = None) -> Process:
    """The rank and size the launcher set in the environment, else ``Process(0, 1)``.

    A variable that is not a number, or a rank outside ``0 … size - 1``, is
    ignored (the next launcher's variables are tried).
    """
    environ = os.environ if environ is None else environ
    for rank_name, size_name in LAUNCHER_VARIABLES:
        try:
            rank = int(environ[rank_name])
            size = int(environ.get(size_name, rank + 1))
        except (KeyError, ValueError):
            continue
        if 0 <= rank < size:
            return Process(rank, size)
    return Process(0, 1)
