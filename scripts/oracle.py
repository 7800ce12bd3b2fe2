#!/usr/bin/env python3
"""Reference detections and embeddings from OpenCV (YuNet + SFace) for Visage's parity tests,
and SCRFD detections from the `scrfd` PyPI package's own implementation.

Usage (with the tool venv's python, see scripts/common.sh venv_python):
    oracle.py --yunet YUNET.onnx --sface SFACE.onnx [--scrfd SCRFD.onnx] --out oracle.json IMG.png ...

Writes {"opencv_version": "...", "<file name>": {"width": W, "height": H, "faces": [
    {"box": [x, y, w, h], "score": s, "landmarks": [[x, y] x 5], "embedding": [128 floats]}]}}
with faces in OpenCV's order. Embeddings are L2-normalised. With --scrfd, images that the scrfd
package feeds to its 640x640 input unresized (longest side exactly 640) also get
"scrfd": [{"box": [x1, y1, x2, y2], "score": s, "landmarks": [[x, y] x 5]}] (threshold 0.5,
NMS 0.4, InsightFace's defaults). Images are read with cv2.imread
(BGR, what YuNet expects); alignment is OpenCV's FaceRecognizerSF.alignCrop.
"""
import argparse
import json
import os
import sys

import cv2
import numpy as np


_SCRFD = {}


def scrfd_detect(model, path):
    """The scrfd package's detections, or None when it would resize the image first."""
    from PIL import Image
    from scrfd import SCRFD, Threshold

    if model not in _SCRFD:
        _SCRFD[model] = SCRFD.from_path(model)
    image = Image.open(path).convert("RGB")
    ratio = image.height / image.width
    new = (max(1, int(640 / ratio)), 640) if ratio > 1.0 else (640, max(1, int(640 * ratio)))
    if new != image.size:
        return None
    faces = _SCRFD[model].detect(image, Threshold(probability=0.5, nms=0.4))
    point = lambda p: [float(p.x), float(p.y)]
    return [{
        "box": point(f.bbox.upper_left) + point(f.bbox.lower_right),
        "score": float(f.probability),
        "landmarks": [point(getattr(f.keypoints, k)) for k in
                      ("left_eye", "right_eye", "nose", "left_mouth", "right_mouth")],
    } for f in faces]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--yunet", required=True, help="YuNet detector ONNX file")
    ap.add_argument("--sface", required=True, help="SFace recogniser ONNX file")
    ap.add_argument("--scrfd", help="SCRFD detector ONNX file (run by the scrfd package)")
    ap.add_argument("--out", required=True, help="output JSON path")
    ap.add_argument("--score-threshold", type=float, default=0.6)
    ap.add_argument("--nms-threshold", type=float, default=0.3)
    ap.add_argument("--top-k", type=int, default=5000)
    ap.add_argument("images", nargs="+")
    args = ap.parse_args()

    for p in (args.yunet, args.sface):
        if not os.path.isfile(p):
            sys.exit(f"oracle.py: model file not found: {p}")

    detector = None
    recognizer = cv2.FaceRecognizerSF.create(args.sface, "")
    result = {"opencv_version": cv2.__version__}
    names = set()
    for path in sorted(args.images):
        name = os.path.basename(path)
        if name in names:
            sys.exit(f"oracle.py: two inputs share the file name {name}")
        names.add(name)
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            sys.exit(f"oracle.py: OpenCV cannot read {path}")
        h, w = img.shape[:2]
        if detector is None:
            detector = cv2.FaceDetectorYN.create(
                args.yunet, "", (w, h),
                score_threshold=args.score_threshold,
                nms_threshold=args.nms_threshold,
                top_k=args.top_k,
            )
        detector.setInputSize((w, h))
        _, rows = detector.detect(img)
        faces = []
        for row in ([] if rows is None else rows):
            aligned = recognizer.alignCrop(img, row)
            emb = recognizer.feature(aligned).reshape(-1).astype(np.float64)
            emb /= max(np.linalg.norm(emb), 1e-12)
            faces.append({
                "box": [float(v) for v in row[0:4]],
                "score": float(row[14]),
                "landmarks": [[float(row[4 + 2 * k]), float(row[5 + 2 * k])] for k in range(5)],
                "embedding": [float(v) for v in emb],
            })
        result[name] = {"width": int(w), "height": int(h), "faces": faces}
        if args.scrfd:
            scrfd_faces = scrfd_detect(args.scrfd, path)
            if scrfd_faces is not None:
                result[name]["scrfd"] = scrfd_faces
        print(f"oracle: {name}: {w}x{h}, {len(faces)} face(s)", file=sys.stderr)

    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
