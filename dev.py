#!/usr/bin/env python3
"""Set up this checkout and run the example or the tests: needs only ``python3`` (3.9+).

    python3 dev.py example [ARGS...]   # train on digits, report to the bundled emulator
    python3 dev.py test [PYTEST ARGS...]

Chainer 7.8.1 runs only on Python <= 3.11, whatever ``python3`` is here.  This
script finds `uv <https://docs.astral.sh/uv/>`_ (on PATH, else in the
project-local ``.venv-tools``, which it creates with pip when missing), lets uv
make ``.venv`` with a Python 3.9-3.11 (one uv finds on this machine, or one it
downloads), installs the package into it with the extra the job needs, and runs
the job there.  Every command is printed before it runs, so that you can run
them yourself next time; a ``.venv`` that is already right is reused.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(ROOT, ".venv")
TOOLS = os.path.join(ROOT, ".venv-tools")
BIN = "Scripts" if os.name == "nt" else "bin"
EXE = ".exe" if os.name == "nt" else ""
PYTHONS = ">=3.9,<3.12"  # Chainer 7.8.1 imports on these only
JOBS = {  # job: (extras to install, command run in .venv)
    "example": ("chainer,examples", ["examples/train_digits.py"]),
    "test": ("chainer,test,docs", ["-m", "pytest", "-q"]),
}
USAGE = f"usage: python3 dev.py {{{','.join(JOBS)}}} [ARGS...]"


def run(command, **kwargs) -> None:
    """Print ``command`` (paths in the checkout shown relative to it), run it; exit with its
    status if it fails."""
    shown = " ".join(shlex.quote(os.path.relpath(c, ROOT) if c.startswith(ROOT + os.sep) else c)
                     for c in command)
    print(f"+ {shown}", file=sys.stderr, flush=True)
    code = subprocess.call(command, cwd=ROOT, **kwargs)
    if code:
        sys.exit(code)


def find_uv() -> str:
    """uv on PATH, else in ``.venv-tools`` (installed there with pip if missing)."""
    found = shutil.which("uv")
    if found:
        return found
    uv = os.path.join(TOOLS, BIN, "uv" + EXE)
    if not os.path.exists(uv):
        print("dev.py: no uv on PATH; installing it into .venv-tools with pip",
              file=sys.stderr, flush=True)
        run([sys.executable, "-m", "venv", TOOLS])
        run([os.path.join(TOOLS, BIN, "python" + EXE), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", "uv"])
    return uv


def venv_python_ok(python: str) -> bool:
    """Whether ``.venv``'s Python exists and is 3.9-3.11."""
    if not os.path.exists(python):
        return False
    try:
        out = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2] < (3, 12) "
                                            "and sys.version_info[:2] >= (3, 9))"],
                             capture_output=True, text=True, check=False).stdout
    except OSError:
        return False
    return out.strip() == "True"


def main(argv) -> int:
    if not argv or argv[0] not in JOBS:
        print(USAGE, file=sys.stderr)
        return 2
    job, rest = argv[0], argv[1:]
    extras, command = JOBS[job]
    uv = find_uv()
    python = os.path.join(VENV, BIN, "python" + EXE)
    if not venv_python_ok(python):
        run([uv, "venv", "--clear", "--python", PYTHONS, VENV])
    run([uv, "pip", "install", "--python", python, "-e", f".[{extras}]"])
    run([python, *command, *rest])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
