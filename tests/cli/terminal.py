"""Run the real `migrate` on a pseudo-terminal of a given size, as a person at a terminal would."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[=>]")


def run_in_terminal(
    args: list[str],
    *,
    cwd: Path,
    columns: int = 80,
    lines: int = 40,
    answer: str | None = None,
    interrupt_at: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> tuple[int, str]:
    """(exit code, everything the terminal received). `answer` is typed at the first `[y/N]`;
    Ctrl-C is typed once `interrupt_at` has been shown (the terminal is then the command's
    controlling terminal, so the key reaches it as SIGINT, the way a person's does)."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    env = {
        **os.environ,
        **(env or {}),
        "COLUMNS": str(columns),
        "LINES": str(lines),
        "TERM": "xterm-256color",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "migrate", *args],
        stdin=child,
        stdout=child,
        stderr=child,
        cwd=cwd,
        env=env,
        start_new_session=interrupt_at is not None,
        preexec_fn=(lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0)) if interrupt_at is not None else None,
    )
    os.close(child)
    received, answered, deadline = b"", answer is None, time.monotonic() + timeout
    interrupted = interrupt_at is None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            received += chunk
        if not answered and b"[y/N]" in received:
            os.write(main, answer.encode() + b"\n")
            answered = True
        if not interrupted and interrupt_at.encode() in received:
            os.write(main, b"\x03")  # Ctrl-C
            interrupted = True
        if proc.poll() is not None and not ready:
            break
    os.close(main)
    return proc.wait(timeout=30), received.decode("utf-8", "replace")


def screen_lines(received: str) -> list[str]:
    """The lines as they stay on screen: escape codes gone, each line's last carriage-return part."""
    text = ESCAPES.sub("", received)
    return [line.rstrip("\r").split("\r")[-1] for line in text.split("\n")]
