"""The studio's sample gallery: MS-Synth test-split frames in every condition, in the MS2 layout.

    python -m core.data.samples --out assets/samples

Deterministic: the same command always writes the same files.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from PIL import Image

from core.data import ms2
from core.data.frame import CONDITIONS
from core.data.msynth import RENDER_VERSION, msynth_sequence_meta, render_frame, split_seeds
from core.settings import SHARED_SAMPLES

SHARED_MS2 = SHARED_SAMPLES / "ms2"
SCENES_PER_CONDITION = 2
FRAME_INDEX = 5
THUMBNAIL_WIDTH = 320


def write_gallery(root: Path, scenes_per_condition: int = SCENES_PER_CONDITION) -> list[dict]:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "thumbnails").mkdir(exist_ok=True)
    seeds = iter(split_seeds("test"))
    entries = []
    for condition in CONDITIONS:
        for _ in range(scenes_per_condition):
            seed = next(seeds)
            frame = render_frame(seed, frame_index=FRAME_INDEX, condition=condition)
            sequence = f"msynth_{seed}_{condition}"
            frame_id = f"{FRAME_INDEX:06d}"
            ms2.write_frame(root, sequence, frame_id, frame, msynth_sequence_meta(frame))
            rgb = Image.fromarray(frame.images["rgb"])
            rgb.thumbnail((THUMBNAIL_WIDTH, THUMBNAIL_WIDTH))
            thumbnail = Path("thumbnails") / f"{sequence}.png"
            rgb.save(root / thumbnail)
            entries.append({"name": f"{condition} · scene {seed}", "sequence": sequence,
                            "frame_id": frame_id, "condition": condition, "thumbnail": str(thumbnail)})
    (root / "index.json").write_text(json.dumps({"render_version": RENDER_VERSION, "samples": entries}, indent=1))
    return entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("assets/samples"))
    parser.add_argument("--scenes-per-condition", type=int, default=SCENES_PER_CONDITION)
    args = parser.parse_args()
    entries = write_gallery(args.out, args.scenes_per_condition)
    print(f"wrote {len(entries)} samples to {args.out}")


if __name__ == "__main__":
    main()
