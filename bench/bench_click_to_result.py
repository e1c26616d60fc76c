"""Click-to-result through the studio's API: a three-spectrum 256 x 640 frame uploaded and
rendered by the student, and by the teacher, timed side by side in one run.

    python -m bench.bench_click_to_result [--student NAME] [--teacher NAME] [--repeats 5]

By default the studio's own student and teacher (``core.inference.DEFAULT_STUDENT``, ``DEFAULT_TEACHER``).

The studio is launched in-process and driven by gradio_client like a remote user: upload the
three PNGs (/decode_upload), analyse them spectral-wise (/analyse: the one network run) and
show every spectrum's depth (/show): that is the result; the point cloud and downloads that
follow it (/point_cloud) are timed on their own. Models are loaded once before timing (the
studio keeps them loaded); student and teacher requests alternate, and the median is reported.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from gradio_client import Client, handle_file

from app.__main__ import launch
from core import inference
from core.data.dataset import resize_frame
from core.data.imageio import write_png
from core.data.msynth import render_frame

SIZE = (256, 640)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", default=inference.DEFAULT_STUDENT)
    parser.add_argument("--teacher", default=inference.DEFAULT_TEACHER)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    frame = resize_frame(render_frame(200_002, 5, "night"), SIZE)
    folder = Path(tempfile.mkdtemp(prefix="spectradepth-bench-"))
    files = {}
    for spectrum in ("rgb", "nir", "thr"):
        files[spectrum] = folder / f"{spectrum}.png"
        write_png(files[spectrum], frame.images[spectrum])

    demo = launch(block=False, server_name="127.0.0.1")
    client = Client(demo.local_url, verbose=False)
    models = {"student": args.student, "teacher": args.teacher}

    def click(model: str) -> tuple[float, float]:
        """(seconds to the depth, seconds of the point cloud and downloads after it)."""
        start = time.perf_counter()
        client.predict(*(handle_file(str(files[s])) for s in ("rgb", "nir", "thr")), api_name="/decode_upload")
        client.predict(model, "Spectral-wise", "RGB", "none", 0.5, api_name="/analyse")
        client.predict("RGB alone", False, False, 0, 80, api_name="/show")
        depth = time.perf_counter()
        client.predict("RGB alone", "RGB", inference.DEFAULT_MAX_POINTS, api_name="/point_cloud")
        return depth - start, time.perf_counter() - depth

    try:
        for model in models.values():
            click(model)  # loads the model once, as the first visitor would
        times = {role: [] for role in models}
        for _ in range(args.repeats):
            for role, model in models.items():
                times[role].append(click(model))
    finally:
        demo.close()
    print(f"click-to-result through the API: upload of RGB + NIR + thermal at {SIZE[0]} x {SIZE[1]}, "
          f"spectral-wise depth of all three shown; then the point cloud and downloads; median of {args.repeats}")
    student = statistics.median(depth for depth, _ in times["student"])
    print(f"{'model':<10}{'checkpoint':<22}{'depth [s]':>10}{'x student':>11}{'cloud [s]':>11}")
    for role, model in models.items():
        median = statistics.median(depth for depth, _ in times[role])
        cloud = statistics.median(cloud for _, cloud in times[role])
        print(f"{role:<10}{model:<22}{median:>10.3f}{median / student:>11.2f}{cloud:>11.3f}")
    print(f"target: student <= 1.0 s to the depth: {'met' if student <= 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
