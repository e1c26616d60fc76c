"""PNG files PIL cannot write, for tests of what the readers do with them."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np


def write_rgb16_png(path, rgb: np.ndarray) -> str:
    """A 16-bit-per-channel colour PNG: signature, IHDR (bit depth 16, colour type 2), IDAT, IEND."""
    height, width, _ = rgb.shape
    rows = b"".join(b"\x00" + rgb[y].astype(">u2").tobytes() for y in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return str(path)
