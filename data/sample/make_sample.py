"""Make the bundled sample image: ``python data/sample/make_sample.py``.

``astronaut_256.png`` is scikit-image's ``astronaut()`` (512x512 RGB; a NASA photo of Eileen Collins,
public domain) resized to 256x256 with an anti-aliasing Gaussian, quantised to 8 bits and written as
an RGB PNG. It was made once with this script and is committed; re-running it needs scikit-image and
opencv-python-headless.
"""

from pathlib import Path

import cv2
import numpy as np
from skimage import data, transform

OUT = Path(__file__).resolve().parent / "astronaut_256.png"


def make() -> np.ndarray:
    img = data.astronaut()  # (512, 512, 3) uint8 RGB
    small = transform.resize(img, (256, 256), order=3, anti_aliasing=True, preserve_range=True)
    return np.clip(np.rint(small), 0, 255).astype(np.uint8)


if __name__ == "__main__":
    rgb = make()
    if not cv2.imwrite(str(OUT), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise SystemExit(f"could not write {OUT}")
    print(f"wrote {OUT} {rgb.shape}")
