"""The README is for users: its models table is the registry's, its numbers are the reports', its
Python example runs, and no Markdown file links to a file that is not there."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from core.models import registry

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
MAX_README_LINES = 250


def models_table() -> str:
    """The README's models table, as the registry says it: depth models (default first, by role), then
    the backbones."""
    def figures(model: registry.RegisteredModel) -> str:
        return ", ".join(f"[{report}](checkpoints/{report})" for report in model.reports) or "-"

    rows = ["| model | role | what it is | trained by | figures |", "|---|---|---|---|---|"]
    for model in [*registry.depth_models(), *registry.with_role("backbone")]:
        rows.append(f"| `{model.name}` | {registry.ROLE_LABELS[model.role]} | {model.description} | "
                    f"[{Path(model.config).name}]({model.config}) | {figures(model)} |")
    return "\n".join(rows)


def section(text: str, heading: str) -> str:
    """The body of the '## heading' section."""
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def test_readme_is_short_and_keeps_the_spaces_front_matter_and_the_two_commands():
    text = README.read_text()
    assert len(text.splitlines()) <= MAX_README_LINES
    assert text.startswith("---\n") and "\napp_file: spaces_app.py\n" in text.split("---")[1]
    commands = section(text, "Two commands")
    assert "make demo" in commands and "make test" in commands


def test_readme_models_table_is_the_registry():
    assert models_table() in section(README.read_text(), "Models"), f"expected this table:\n{models_table()}"


def test_every_number_in_the_readme_evaluation_is_in_a_report():
    reports = " ".join((REPO / "checkpoints" / name).read_text() for name in registry.EVALUATION_REPORTS)
    numbers = re.findall(r"(?<![\w.])-?\d+\.\d+(?![\w.])", section(README.read_text(), "Evaluation"))
    assert numbers
    assert [n for n in numbers if f" {n} " not in reports] == []


def test_readme_python_example_writes_depth_and_a_point_cloud(tmp_path):
    (code,) = re.findall(r"```python\n(.*?)```", section(README.read_text(), "Python"), re.S)
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    (png,) = (tmp_path / "depth_out").glob("*_depth_m256.png")
    (npy,) = (tmp_path / "depth_out").glob("*_depth_m.npy")
    (ply,) = (tmp_path / "depth_out").glob("*_points.ply")
    assert sorted(result.stdout.split()) == sorted(str(Path("depth_out") / p.name) for p in (png, npy, ply))
    depth = np.load(npy)
    assert depth.dtype == np.float32 and depth.ndim == 2 and 0 < np.nanmedian(depth[depth > 0]) < 100
    image = np.asarray(Image.open(png))
    assert image.dtype == np.uint16 and image.shape == depth.shape
    np.testing.assert_allclose(image[depth > 0] / 256.0, depth[depth > 0], atol=1 / 256)
    header = ply.read_bytes().split(b"end_header", 1)[0].decode("ascii")
    vertices = int(re.search(r"element vertex (\d+)", header).group(1))
    assert header.startswith("ply") and vertices > 1000


def tracked_markdown() -> list[Path]:
    files = subprocess.run(["git", "ls-files", "*.md"], cwd=REPO, capture_output=True, text=True, check=True)
    return [REPO / name for name in files.stdout.split()]


def test_every_relative_link_in_markdown_points_to_a_file_that_exists():
    assert README in tracked_markdown() and REPO / "docs" / "methods.md" in tracked_markdown()
    broken = []
    for path in tracked_markdown():
        text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)  # code blocks hold no links
        for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text):
            if re.match(r"[a-z][a-z0-9+.-]*:|#", target):  # a web address or an anchor in the same file
                continue
            if not (path.parent / target.split("#")[0]).exists():
                broken.append(f"{path.relative_to(REPO)}: {target}")
    assert broken == []
