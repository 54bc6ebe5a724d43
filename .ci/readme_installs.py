#!/usr/bin/env python3
"""Run every install command of README.md as written, cold, on each Python it names.

Every ```bash block of the README that runs ``pip install`` is made of commands, each
ending in a comment that names its Pythons, ``# ... (Python 3.9 – 3.11)``; the lines
after such a command, up to the next one, go with it (they use the environment it made).
A command without such a comment is an error here, so that the README cannot promise an
install that nothing tries.  ``git clone ... && cd ...`` lines are skipped: each command
runs in a fresh copy of this checkout (its tracked and new files).

Each command runs under ``bash -e`` with ``python3`` and ``python3.X`` on PATH being the
Python under test, ``PIP_NO_CACHE_DIR=1`` (an empty pip cache: every package is fetched and
every source package built, as on a new machine), and no uv.  After it, each virtual
environment it made must import what it installed (the package, ``SlackReport`` with the
``chainer`` extra, ``chainer_slack_report.ppe`` with ``ppe``, and so on) and run the
command-line tool.

PyTorch is the one exception to "cold": its wheels are GBs, so for a command that installs
it the environment is made first with ``torch==2.13.0`` from this machine's own wheels
(``pip install --no-index``); on a Python for which the machine has none, the command is
skipped and said so.  Everything else the command installs is fetched as written.

    python3 .ci/readme_installs.py [--python 3.9,3.13] [--only TEXT] [--jobs 2] [--list]

Exit status 0 when every command that ran succeeded; 1 otherwise (each failure's output is
printed).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
PYTHONS = ["3.9", "3.10", "3.11", "3.12", "3.13"]
TORCH = "torch==2.13.0"  # the wheel this machine has on disk (CI's cp311)
_CLAIM = re.compile(r"#[^\n]*\(Python (3\.\d+)(?:\s*[–-]\s*(3\.\d+))?\)\s*$")
_VENV = re.compile(r"-m venv (\S+)")
_TORCH_EXTRAS = ("ppe", "lightning", "transformers")  # each installs torch
TIMEOUT = 30 * 60  # seconds: one command, only against hangs


def commands(text: str):
    """[(Pythons, script)] of every ``pip install`` block of the README ``text``."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        if "pip install" not in block:
            continue
        for line in block.strip().splitlines():
            if line.startswith("git clone"):
                continue
            claim = _CLAIM.search(line)
            if claim:
                low, high = claim.group(1), claim.group(2) or claim.group(1)
                pythons = [v for v in PYTHONS if _key(low) <= _key(v) <= _key(high)]
                found.append((pythons, line))
            elif found and line.strip():
                pythons, script = found[-1]
                found[-1] = (pythons, script + "\n" + line)
            elif line.strip():
                raise SystemExit(f"README.md: a command that names no Python (end it with "
                                 f"'# (Python 3.9 – 3.13)'): {line}")
    return found


def _key(version: str):
    return tuple(int(p) for p in version.split("."))


def interpreter(version: str):
    """This machine's Python ``version`` (pyenv's, else on PATH), or None."""
    found = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/"
                                                f"python{version}")))
    return found[-1] if found else shutil.which(f"python{version}")


def checkout_copy(where: str) -> str:
    """A copy of the checkout's tracked and new files (what a fresh clone would hold)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")
    copy = os.path.join(where, "chainer_slack_report")
    for name in filter(None, listed):
        source = os.path.join(ROOT, name)
        if os.path.isfile(source):
            os.makedirs(os.path.dirname(os.path.join(copy, name)), exist_ok=True)
            shutil.copy2(source, os.path.join(copy, name))
    return copy


def environment(work: str, python: str, version: str) -> dict:
    """PATH with ``python3``/``python3.X`` the Python under test first, and no uv or
    virtual environment on it; an empty pip cache."""
    shims = os.path.join(work, "shims")
    os.makedirs(shims)
    for name in ["python3", *(f"python{v}" for v in PYTHONS)]:
        os.symlink(python, os.path.join(shims, name))
    path = [shims] + [p for p in os.environ.get("PATH", "").split(os.pathsep)
                      if p and not os.path.exists(os.path.join(p, "uv"))
                      and not os.path.exists(os.path.join(p, "activate"))]
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PIP_CONSTRAINT")}
    env.update(PATH=os.pathsep.join(path), PIP_NO_CACHE_DIR="1", HOME=env.get("HOME", work))
    return env


def checks(script: str, venv: str) -> str:
    """What the environment ``venv`` that ``script`` made must do afterwards."""
    lines = ["import chainer_slack_report"]
    if "chainer" in re.sub(r"chainer[-_]slack[-_]report|chainer_slack_report", "", script):
        lines.append("from chainer_slack_report import SlackReport")
    if "torch" in script:
        lines.append("import torch")
    lines += [f"import chainer_slack_report.{extra}" for extra in _TORCH_EXTRAS
              if extra in script]
    python, tool = (os.path.join(venv, "bin", n) for n in ("python", "chainer-slack-report"))
    return (f"{python} -c {_quote('; '.join(lines))}\n"
            f"{tool} --version\n")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def run_one(version: str, script: str) -> tuple:
    """(status, seconds, output) of ``script`` on Python ``version``: status "ok",
    "failed" or "skipped"."""
    python = interpreter(version)
    if python is None:
        return "skipped", 0.0, f"no Python {version} on this machine"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"readme-{version}-") as work:
        copy = checkout_copy(work)
        env = environment(work, python, version)
        venvs = list(dict.fromkeys(_VENV.findall(script)))
        if "torch" in script or any(e in script for e in _TORCH_EXTRAS):
            for venv in venvs:  # torch from the machine's wheel; its dependencies cold
                pre = (f"{python} -m venv {venv} && {venv}/bin/pip install --quiet "
                       f"--no-index --no-deps {TORCH}")
                done = subprocess.run(["bash", "-c", pre], cwd=copy, env=env, text=True,
                                      capture_output=True, timeout=TIMEOUT)
                if done.returncode:
                    return ("skipped", time.monotonic() - started,
                            f"{TORCH} is not on this machine's disk for Python {version} "
                            f"(a download of GBs per run)")
        full = script + "\n" + "".join(checks(script, v) for v in venvs)
        try:
            done = subprocess.run(["bash", "-e", "-o", "pipefail", "-x", "-c", full],
                                  cwd=copy, env=env, text=True, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            return "failed", time.monotonic() - started, f"timed out: {exc}"
        status = "ok" if done.returncode == 0 else "failed"
        return status, time.monotonic() - started, done.stdout


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", help="only these Pythons, e.g. 3.9,3.13")
    parser.add_argument("--only", help="only the commands that contain this text")
    parser.add_argument("--jobs", type=int, default=2, help="commands run at once")
    parser.add_argument("--list", action="store_true", help="list the commands and stop")
    args = parser.parse_args(argv)
    with open(README, encoding="utf-8") as file:
        found = commands(file.read())
    only = set(args.python.split(",")) if args.python else None
    runs = [(v, script) for pythons, script in found for v in pythons
            if (only is None or v in only) and (args.only is None or args.only in script)]
    if args.list:
        for version, script in runs:
            print(f"--- Python {version}\n{script}")
        return 0
    failed = ran = 0
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        futures = {pool.submit(run_one, v, s): (v, s) for v, s in runs}
        for future in concurrent.futures.as_completed(futures):
            version, script = futures[future]
            status, seconds, output = future.result()
            first = script.splitlines()[0]
            print(f"{status:<8} Python {version} {seconds:5.0f} s  {first[:110]}", flush=True)
            if status == "skipped":
                print(f"         ({output})", flush=True)
                continue
            ran += 1
            if status == "failed":
                failed += 1
                print(output[-8000:], flush=True)
    print(f"README install commands: {ran - failed} of {ran} ran cleanly, "
          f"{len(runs) - ran} not run here", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
