#!/usr/bin/env python3
"""Reference Python face pipeline (YuNet + SFace on ONNX Runtime) that Visage's Rust pipeline is benchmarked against.

Written the way a typical insightface/deepface-style script does it, on the same model files Visage uses:
bytes -> cv2.imdecode (BGR) -> INTER_AREA downscale to max side 640 -> zero pad bottom/right to multiples of 32
-> YuNet (onnxruntime) -> vectorised numpy decode, score threshold, cv2.dnn.NMSBoxes -> original coordinates
-> per face: numpy Umeyama similarity to the ArcFace 112x112 template + cv2.warpAffine of the original image
-> BGR->RGB, one NCHW float32 batch -> SFace (onnxruntime) -> L2 normalise.

Usage (tool venv, needs onnxruntime, opencv-python-headless, numpy):
    bench_reference.py [--threads 1] [--runs 30] [--json OUT] IMG [IMG ...]

For each image: one warm-up, then --runs repetitions; every figure is the median in ms. Stages: decode,
det_prep (resize + pad + tensor), det_model (session.run), det_post (decode + NMS + rescale), align,
embed_model (session.run), end_to_end (the whole call, timed as one). ratio = end_to_end / (det_model + embed_model).
--threads sets ONNX Runtime's intra-op threads and OpenCV's thread count (inter-op threads = 1).
"""
import argparse
import json
import os
import statistics
import time
from functools import lru_cache

import cv2
import numpy as np
import onnxruntime as ort

MAX_SIDE, STRIDES = 640, (8, 16, 32)
SCORE_THRESHOLD, NMS_THRESHOLD = 0.6, 0.3
TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                     [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)
STAGES = ("decode", "det_prep", "det_model", "det_post", "align", "embed_model")


@lru_cache(maxsize=None)
def priors(h: int, w: int, s: int):
    """(col, row) of every prior cell for stride s, in YuNet's order row * (w / s) + col."""
    rows, cols = np.mgrid[0:h // s, 0:w // s]
    return cols.reshape(-1, 1).astype(np.float32), rows.reshape(-1, 1).astype(np.float32)


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation) mapping src onto dst, as 2x3."""
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(cov) < 0:
        d[1] = -1
    rot = u @ np.diag(d) @ vt
    scale = (sig * d).sum() / src_c.var(0).sum()
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = dst_mean - m[:, :2] @ src_mean
    return m


class Pipeline:
    def __init__(self, yunet: str, sface: str, threads: int):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        cpu = ["CPUExecutionProvider"]
        self.det = ort.InferenceSession(yunet, opts, providers=cpu)
        self.rec = ort.InferenceSession(sface, opts, providers=cpu)
        self.det_outputs = [o.name for o in self.det.get_outputs()]

    def __call__(self, data: bytes, t: dict):
        """Bytes -> (boxes [F,4] xywh, scores [F], landmarks [F,5,2], embeddings [F,128]); stage times added to t."""
        c = time.perf_counter
        t0 = c()
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # BGR
        h, w = img.shape[:2]
        t1 = c()
        small = img
        if max(h, w) > MAX_SIDE:
            f = MAX_SIDE / max(h, w)
            small = cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        sh, sw = small.shape[:2]
        ph, pw = -(-sh // 32) * 32, -(-sw // 32) * 32
        padded = cv2.copyMakeBorder(small, 0, ph - sh, 0, pw - sw, cv2.BORDER_CONSTANT, value=0)
        tensor = np.ascontiguousarray(padded.transpose(2, 0, 1)[None], dtype=np.float32)
        t2 = c()
        out = dict(zip(self.det_outputs, self.det.run(self.det_outputs, {"input": tensor})))
        t3 = c()
        all_scores, all_boxes, all_kps = [], [], []
        for s in STRIDES:
            col, row = priors(ph, pw, s)
            score = np.sqrt(np.clip(out[f"cls_{s}"][0] * out[f"obj_{s}"][0], 0, 1))[:, 0]
            keep = score > SCORE_THRESHOLD
            col, row = col[keep], row[keep]
            bb, kp = out[f"bbox_{s}"][0][keep], out[f"kps_{s}"][0][keep]
            cx, cy = (col[:, 0] + bb[:, 0]) * s, (row[:, 0] + bb[:, 1]) * s
            bw, bh = np.exp(bb[:, 2]) * s, np.exp(bb[:, 3]) * s
            all_boxes.append(np.stack([cx - bw / 2, cy - bh / 2, bw, bh], 1))
            all_kps.append(np.stack([(col + kp[:, 0::2]) * s, (row + kp[:, 1::2]) * s], 2))
            all_scores.append(score[keep])
        scores, boxes, kps = np.concatenate(all_scores), np.concatenate(all_boxes), np.concatenate(all_kps)
        idx = np.asarray(cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), SCORE_THRESHOLD, NMS_THRESHOLD),
                         dtype=np.int64).reshape(-1)
        back = np.array([w / sw, h / sh], dtype=np.float32)  # resized -> original, per axis
        scores, boxes, kps = scores[idx], boxes[idx] * np.tile(back, 2), kps[idx] * back
        t4 = c()
        crops = [cv2.warpAffine(img, umeyama(k.astype(np.float64), TEMPLATE), (112, 112), borderValue=0.0)
                 for k in kps]
        if crops:
            batch = np.ascontiguousarray(np.stack(crops)[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32)
        t5 = c()
        emb = self.rec.run(["fc1"], {"data": batch})[0] if crops else np.zeros((0, 128), np.float32)
        t6 = c()
        emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        for name, a, b in zip(STAGES, (t0, t1, t2, t3, t4, t5), (t1, t2, t3, t4, t5, t6)):
            t[name].append((b - a) * 1e3)
        return boxes, scores, kps, emb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models")
    ap.add_argument("--yunet", default=os.path.join(root, "yunet_2023mar.onnx"))
    ap.add_argument("--sface", default=os.path.join(root, "sface_2021dec.onnx"))
    ap.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads (and OpenCV threads)")
    ap.add_argument("--runs", type=int, default=30, help="timed repetitions per image, after one warm-up")
    ap.add_argument("--json", help="write all figures (and the embeddings) to this file")
    ap.add_argument("images", nargs="+")
    args = ap.parse_args()

    cv2.setNumThreads(args.threads)
    pipe = Pipeline(args.yunet, args.sface, args.threads)
    cols = ("faces",) + STAGES + ("end_to_end", "ratio")
    print("image\t" + "\t".join(cols))
    results, e2e_sum, model_sum = [], 0.0, 0.0
    for path in args.images:
        with open(path, "rb") as f:
            data = f.read()
        pipe(data, {k: [] for k in STAGES})  # warm-up
        times = {k: [] for k in STAGES + ("end_to_end",)}
        for _ in range(args.runs):
            start = time.perf_counter()
            boxes, scores, kps, emb = pipe(data, times)
            times["end_to_end"].append((time.perf_counter() - start) * 1e3)
        med = {k: statistics.median(v) for k, v in times.items()}
        model = med["det_model"] + med["embed_model"]
        row = {"image": path, "faces": len(emb), **med, "ratio": med["end_to_end"] / model}
        e2e_sum, model_sum = e2e_sum + med["end_to_end"], model_sum + model
        print(os.path.basename(path) + "\t" + "\t".join(
            str(row[k]) if k == "faces" else f"{row[k]:.2f}" for k in cols), flush=True)
        results.append({**row, "boxes": boxes.tolist(), "scores": scores.tolist(),
                        "landmarks": kps.tolist(), "embeddings": emb.tolist()})
    overall = e2e_sum / model_sum
    mean_e2e = e2e_sum / len(results)
    print(f"overall: end-to-end / model time = {overall:.3f}")
    print(f"python pipeline mean end-to-end ms per photo: {mean_e2e:.2f}")
    if args.json:
        meta = {"threads": args.threads, "runs": args.runs, "onnxruntime": ort.__version__, "opencv": cv2.__version__}
        with open(args.json, "w") as f:
            json.dump({**meta, "overall_ratio": overall, "mean_end_to_end_ms": mean_e2e, "images": results}, f)


if __name__ == "__main__":
    main()
