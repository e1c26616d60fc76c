"""`python -m pages` (or `spectradepth-workbench`): the Streamlit workbench, as
`streamlit run streamlit_app.py` from the repository root would serve it.

Arguments pass through to `streamlit run`: Streamlit's options first, then `--` and the
workbench's own, e.g. `spectradepth-workbench --server.port 8502 -- --data /data/MS2`.
"""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

from core.settings import REPO_ROOT

WORKBENCH_SCRIPT = REPO_ROOT / "streamlit_app.py"


def streamlit_command(argv: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(WORKBENCH_SCRIPT), *argv]


def main(argv: Sequence[str] | None = None) -> None:
    # From the repository root: Streamlit reads .streamlit/config.toml from the working folder.
    raise SystemExit(subprocess.call(streamlit_command(sys.argv[1:] if argv is None else argv), cwd=REPO_ROOT))


if __name__ == "__main__":
    main()
