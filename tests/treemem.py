"""Peak memory of a command and every process it starts (the segmented xlsx read and the ADBC
ingest run in worker processes: they count). Sampled: the largest sum of the processes'
proportional set sizes (PSS, so pages a forked worker shares with its parent count once)."""

from __future__ import annotations

import subprocess
import time

import psutil


def run_measured(
    args: list[str], interval: float = 0.02, **kwargs
) -> tuple[subprocess.CompletedProcess, float]:
    """Run `args` to its end like subprocess.run(capture_output=True, text=True); also return the
    process tree's sampled peak PSS in MiB."""
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    peak = 0
    root = psutil.Process(child.pid)
    while child.poll() is None:
        total = 0
        for process in [root, *_children(root)]:
            try:
                total += process.memory_full_info().pss
            except psutil.Error:  # ended between listing and reading
                continue
        peak = max(peak, total)
        time.sleep(interval)
    stdout, stderr = child.communicate()
    return subprocess.CompletedProcess(args, child.returncode, stdout, stderr), peak / 2**20


def _children(root: psutil.Process) -> list[psutil.Process]:
    try:
        return root.children(recursive=True)
    except psutil.Error:
        return []
