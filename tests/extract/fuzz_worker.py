"""Run `migrate --json extract NAME --force` in this process for each source of a fuzz project,
printing one JSON line per case: its exit code, seconds, and whether a traceback escaped.
Run in a subprocess by test_fuzz.py, so a hang or a memory blow-up ends only this process;
peak RSS of the whole run is printed last."""

from __future__ import annotations

import json
import resource
import signal
import sys
import time


class CaseTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise CaseTimeout


def main(project: str, names: list[str], limit: int) -> None:
    from typer.testing import CliRunner

    from migrate.cli.app import app

    runner = CliRunner()
    signal.signal(signal.SIGALRM, _alarm)
    for name in names:
        started = time.perf_counter()
        signal.alarm(limit)
        try:
            result = runner.invoke(app, ["--project", project, "--json", "extract", name, "--force"])
            code, exc = result.exit_code, result.exception
            escaped = exc is not None and not isinstance(exc, SystemExit)
            shown = result.output if escaped or "Traceback" in result.output else ""
            if escaped:
                import traceback

                shown += "".join(traceback.format_exception(exc))[-2000:]
        except CaseTimeout:
            code, escaped, shown = -1, True, f"over {limit} s"
        finally:
            signal.alarm(0)
        line = {
            "case": name,
            "code": code,
            "seconds": round(time.perf_counter() - started, 2),
            "escaped": escaped,
        }
        print(json.dumps(line | {"output": shown[-2000:]}, ensure_ascii=False), flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_kib": peak}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[3:], int(sys.argv[2]))
