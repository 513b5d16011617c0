#!/usr/bin/env python3
"""Set-up and run Custody with nothing but Python 3.11+ and the package registry.

    python3 dev.py demo    create/reuse .venv, migrate, seed the demo hotel, serve on 127.0.0.1:8000
    python3 dev.py test    create/reuse .venv with test tools, run ruff, mypy and pytest with coverage

The virtual environment is built from the pinned lock files in requirements/ and rebuilt when they change.
Extra arguments after `test` go to pytest. `test` runs pytest on as many workers as the machine has cores (at most 4;
`-n 0` or `-n N` overrides) and prints how long each phase took. Two options of its own, for CI's second database:
`--no-lint` skips ruff and mypy, `--no-cov` skips coverage.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
LOCKS = {
    "demo": [ROOT / "requirements" / "base.lock"],
    "test": [ROOT / "requirements" / "base.lock", ROOT / "requirements" / "dev.lock"],
}


PHASES: list[tuple[str, float]] = []


def run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    completed = subprocess.run([str(a) for a in args], cwd=ROOT, env=env)
    if completed.returncode != 0:
        sys.exit(completed.returncode)


def phase(name: str, *args: str | Path, env: dict[str, str] | None = None) -> None:
    """Run one step and remember how long it took; the times are printed at the end, even when a step fails."""
    started = time.monotonic()
    try:
        run(*args, env=env)
    finally:
        PHASES.append((name, time.monotonic() - started))


def print_phases() -> None:
    if PHASES:
        print("\nPhase times: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in PHASES), flush=True)


def ensure_venv(kind: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may run under an older python3
        sys.exit(f"Custody needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    locks = LOCKS[kind]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in locks) + (ROOT / "pyproject.toml").read_bytes())
    stamp = VENV / f".installed-{kind}"
    if stamp.exists() and stamp.read_text() == digest.hexdigest() and PYTHON.exists():
        return
    if not PYTHON.exists():
        print(f"Creating virtual environment in {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    run(
        PYTHON,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        *[arg for p in locks for arg in ("-r", str(p))],
    )
    run(
        PYTHON,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--no-build-isolation",
        "-e",
        ".",
    )
    stamp.write_text(digest.hexdigest())


def demo() -> None:
    ensure_venv("demo")
    env = dict(os.environ)
    env.setdefault("CUSTODY_HOME", str(ROOT / "var"))
    custody = BIN / "custody"
    run(custody, "migrate", "--no-input", "-v", "0", env=env)
    run(custody, "seed-demo", env=env)
    print(
        f"\nData folder: {env['CUSTODY_HOME']}. Open http://127.0.0.1:8000/ and sign in with a login above.\n",
        flush=True,
    )
    os.execve(str(custody), [str(custody), "serve", "--host", "127.0.0.1", "--port", "8000"], env)  # noqa: S606


def workers(pytest_args: list[str]) -> list[str]:
    """pytest-xdist workers: one per core (at most 4), unless the caller chose (-n, --numprocesses, -p no:xdist)."""
    chosen = any(a == "-n" or a.startswith(("-n", "--numprocesses")) or a == "no:xdist" for a in pytest_args)
    if chosen:
        return []
    # loadgroup: tests marked @pytest.mark.xdist_group("name") share one worker (and so one module fixture).
    return ["-n", str(max(1, min(os.cpu_count() or 1, 4))), "--dist", "loadgroup"]


def test(args: list[str]) -> None:
    started = time.monotonic()
    try:
        ensure_venv("test")
    finally:
        PHASES.append(("venv", time.monotonic() - started))
    lint = "--no-lint" not in args
    cov = "--no-cov" not in args
    pytest_args = [a for a in args if a not in {"--no-lint", "--no-cov"}]
    env = dict(os.environ)
    env.setdefault("CUSTODY_HOME", str(ROOT / "var" / "test-home"))
    try:
        if lint:
            lint_paths = [name for name in ("custody", "tests", "benchmarks", "dev.py") if (ROOT / name).exists()]
            phase("ruff", BIN / "ruff", "check", *lint_paths, env=env)
            phase("mypy", BIN / "mypy", "custody", env=env)
        coverage = ["--cov", "--cov-report=term"] if cov else []
        phase("pytest", PYTHON, "-m", "pytest", *workers(pytest_args), *coverage, *pytest_args, env=env)
    finally:
        print_phases()


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in {"demo", "test"}:
        sys.exit(__doc__)
    if sys.argv[1] == "demo":
        demo()
    else:
        test(sys.argv[2:])


if __name__ == "__main__":
    main()
