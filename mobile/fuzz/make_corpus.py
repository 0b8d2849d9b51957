"""Writes the seed corpus for fuzz_bundle (mobile/fuzz/README.md): the four reference models of
tests/export/models.py at batch 1, a uint8-image classifier with softmax and top-k (casts,
views, integer outputs), and a truncated file. Usage: python mobile/fuzz/make_corpus.py DIR"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def write_corpus(out: Path) -> list[Path]:
    """Saves the seed bundles into `out` and returns their paths."""
    sys.path.insert(0, str(ROOT))
    from tests.export.models import MODELS
    from unified.export.bundle import save_bundle

    import unified as U
    from unified import nn

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, make in MODELS.items():
        model, example = make(batch=1)
        paths.append(out / f"{name}.ufb")
        save_bundle(model, example, paths[-1])
    U.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(64, 10)).eval()

    def classify(img_u8):
        x = img_u8.float() / 255.0
        return nn.functional.softmax(cnn(x), dim=1).topk(3, dim=1)

    img = U.tensor(np.random.default_rng(0).integers(0, 256, (2, 1, 8, 8)).astype(np.uint8))
    paths.append(out / "classify_u8.ufb")
    save_bundle(classify, (img,), paths[-1])
    mlp, example = MODELS["mlp"](batch=2)
    paths.append(out / "dynamic_batch.ufb")  # format 2: reaches the batch re-planning reader
    save_bundle(mlp, example, paths[-1], dynamic_batch=True)
    paths.append(out / "truncated.ufb")
    paths[-1].write_bytes(paths[0].read_bytes()[:200])
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for p in write_corpus(Path(sys.argv[1])):
        print(p)
