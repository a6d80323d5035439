"""Run every benchmark in bench/ in turn (`make bench`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

if __name__ == "__main__":
    failures = 0
    for script in sorted(Path(__file__).parent.glob("bench_*.py")):
        print(f"\n## {script.name}\n", flush=True)
        failures += subprocess.run([sys.executable, str(script)]).returncode != 0
    sys.exit(1 if failures else 0)
