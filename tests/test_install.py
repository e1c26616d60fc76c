"""`pip install -e .` works, offline, into a fresh virtualenv, and the library then imports from any
folder; the console commands are installed."""
import json
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from core.settings import REPO_ROOT

COMMANDS = {"spectradepth-studio": "app.__main__:main", "spectradepth-workbench": "pages.__main__:main",
            "spectradepth-train": "train.__main__:main"}
CHECK = """
import json, importlib.metadata as md
import core
from core.inference import analyse
from pages.__main__ import WORKBENCH_SCRIPT
scripts = {ep.name: ep.value for ep in md.entry_points(group="console_scripts") if ep.dist.name == "spectradepth"}
print(json.dumps({"core": core.__file__, "workbench": str(WORKBENCH_SCRIPT), "workbench_exists": WORKBENCH_SCRIPT.is_file(),
                  "analyse": analyse.__module__, "scripts": scripts}))
"""


@pytest.mark.slow   # about 20 s, most of it importing torch in the new environment
def test_editable_install_into_a_fresh_venv_imports_from_another_folder(tmp_path):
    env_dir, elsewhere = tmp_path / "venv", tmp_path / "elsewhere"
    elsewhere.mkdir()
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    # The project's dependencies come from this environment (no download): its site-packages on the path.
    target_site = subprocess.check_output([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                          text=True).strip()
    (Path(target_site) / "project_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "-e", str(REPO_ROOT),
                    "--no-deps", "--no-build-isolation", "--no-index"], check=True, capture_output=True, timeout=120)

    report = json.loads(subprocess.run([python, "-c", CHECK], cwd=elsewhere, check=True, capture_output=True,
                                       text=True, timeout=120).stdout)
    assert report["core"] == str(REPO_ROOT / "core" / "__init__.py")
    assert report["analyse"] == "core.inference.analysis" and report["workbench_exists"]
    assert report["scripts"] == COMMANDS
    assert all((env_dir / "bin" / name).is_file() for name in COMMANDS)
