#!/usr/bin/env python3
"""FAISS reference measurements for Visage's vector-index benchmark (run by the Rust bench as a subprocess).

Usage (tool venv, needs faiss-cpu and numpy):
    faiss_reference.py --base BASE.npy --queries Q.npy --k 10 --out-dir DIR
                       [--indexes hnsw,ivf,sq8,flat] [--threads-build 2] [--threads-batched 2]
                       [--timeout-s N] [--seed 0] [--warmup 5]

BASE.npy: float32 [N, D] unit vectors; Q.npy: float32 [M, D] unit queries; inner product (= cosine) throughout.
Index kinds and the result names they produce:
    hnsw  IndexHNSWFlat(D, 16, IP), efConstruction 100          -> hnsw_ef64, hnsw_ef256
    ivf   IndexIVFFlat(flat IP quantizer), nlist see ivf_nlist() -> ivf_nprobe64, ivf_nprobe256 (capped at nlist)
    sq8   IndexRefineFlat(IndexScalarQuantizer(QT_8bit, IP)), k_factor 10 -> sq8_refine10
    flat  IndexFlatIP                                            -> flat
ivf and sq8 train on min(N, 100k) rows sampled without replacement (--seed).

Per kind: build (train + add) with --threads-build OpenMP threads, timed; index size = len(serialize_index);
RSS growth = VmRSS after build - VmRSS before (peak growth from VmHWM too, where /proc/self/clear_refs allows).
Per result name:
  * single-thread: omp_set_num_threads(1), --warmup untimed queries, then every query alone
    (index.search(Q[i:i+1], k)) timed with perf_counter around the search call -> p50_ms, p99_ms
    (numpy percentile, linear interpolation). Their top-k go to DIR/<name>.ids.npy (int64 [M, k], -1 = none)
    and DIR/<name>.scores.npy (float32 [M, k]).
  * batched: omp_set_num_threads(--threads-batched), all queries in one search call -> batched_ms_per_query;
    batched_ids_agree = fraction of (query, rank) slots where the batched ids equal the single-thread ids.

stdout: exactly one JSON object (nothing else is ever written to fd 1; FAISS/C++ chatter is redirected to
stderr). Progress goes to stderr. OMP_* / OPENBLAS_* environment variables are left as given.

--timeout-s is a soft budget: before each kind (and before each search configuration) the script estimates
its cost from a short calibration (flat-scan rates, and a small HNSW pilot build) and skips it, reporting
{"name", "params", "skipped": reason, "estimated_s"}, when elapsed + estimate would exceed the budget.
Work already started is never interrupted, so the total can still overrun.
"""
import argparse
import ctypes
import gc
import json
import math
import os
import sys
import time

import numpy as np

KINDS = ("hnsw", "ivf", "sq8", "flat")
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 16, 100, (64, 256)
IVF_NPROBE = (64, 256)
SQ_K_FACTOR = 10
TRAIN_MAX = 100_000

_T0 = time.perf_counter()


def log(msg):
    print(f"[faiss-ref {time.perf_counter() - _T0:8.1f}s] {msg}", file=sys.stderr, flush=True)


def rss_bytes(field="VmRSS"):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peak_rss():
    """Reset VmHWM to the current RSS (Linux >= 4.0); False when not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


_LIBC = None


def release_memory():
    """Drop Python references and hand freed heap back to the OS so the next RSS delta is meaningful."""
    global _LIBC
    gc.collect()
    try:
        if _LIBC is None:
            _LIBC = ctypes.CDLL("libc.so.6")
        _LIBC.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def ivf_nlist(n):
    if n >= 500_000:
        return 4096
    return max(16, 2 ** int(round(math.log2(4 * math.sqrt(n)))))


def load_matrix(path, what):
    a = np.load(path, mmap_mode=None, allow_pickle=False)
    if a.ndim != 2:
        raise SystemExit(f"{what} {path}: expected a 2-D array, got shape {a.shape}")
    if a.dtype != np.float32:
        log(f"warning: {what} dtype {a.dtype}, converting to float32")
    a = np.ascontiguousarray(a, dtype=np.float32)
    if not np.isfinite(a).all():
        raise SystemExit(f"{what} {path}: contains non-finite values")
    norms = np.linalg.norm(a[: min(len(a), 10_000)], axis=1)
    if len(norms) and (abs(float(norms.min()) - 1) > 1e-3 or abs(float(norms.max()) - 1) > 1e-3):
        log(f"warning: {what} rows are not unit vectors (norm range {norms.min():.4f}..{norms.max():.4f}); "
            "inner product is used as given")
    return a


class Estimator:
    """Rough cost model for --timeout-s; rates measured on this machine with the real vectors."""

    def __init__(self, faiss, base, queries, k, threads_build, threads_batched):
        self.faiss, self.base, self.q, self.k = faiss, base, queries, k
        self.tb, self.tq = threads_build, threads_batched
        n, d = base.shape
        self.n, self.d, self.m = n, d, len(queries)
        nc = min(n, 200_000)  # large enough to leave the CPU caches, like the real scans
        idx = faiss.IndexFlatIP(d)
        idx.add(base[:nc])
        faiss.omp_set_num_threads(1)
        nq1 = min(self.m, 20)
        t = time.perf_counter()
        for i in range(nq1):
            idx.search(queries[i:i + 1], k)
        self.rate1 = nq1 * nc * d / max(time.perf_counter() - t, 1e-9)  # MAC/s, one query, one thread
        faiss.omp_set_num_threads(threads_batched)
        qb = np.ascontiguousarray(np.resize(queries, (128, d)))  # >= 20 rows: FAISS takes the BLAS path
        idx.search(qb[:32], k)  # warm-up: starts the BLAS / OpenMP threads
        t = time.perf_counter()
        idx.search(qb, k)
        # MAC/s of a batched flat search (BLAS plus the top-k selection)
        self.rate_blas = len(qb) * nc * d / max(time.perf_counter() - t, 1e-9)
        del idx
        self.hnsw_pilot = None
        self.rate_kmeans = None
        log(f"calibration: single-query scan {self.rate1 / 1e9:.2f} GMAC/s, "
            f"batched {self.rate_blas / 1e9:.2f} GMAC/s")

    def _batched_rate(self):
        return self.rate_blas if self.m >= 20 else self.rate1 * self.tq

    def _kmeans_rate(self, nlist):
        """MAC/s of FAISS k-means (what IVF training and assignment run), from a 4-iteration pilot."""
        if self.rate_kmeans is None:
            f = self.faiss
            c = max(16, min(nlist, 1024))
            n = min(self.n, 40 * c)
            f.omp_set_num_threads(self.tb)
            f.Kmeans(self.d, c, niter=1, seed=1, max_points_per_centroid=10**9).train(self.base[:n])  # warm-up
            best = math.inf
            for _ in range(2):  # best of two: the model should flag only budgets that are clearly exceeded
                km = f.Kmeans(self.d, c, niter=4, seed=1, max_points_per_centroid=10**9)
                t = time.perf_counter()
                km.train(self.base[:n])
                best = min(best, time.perf_counter() - t)
            self.rate_kmeans = 4 * n * c * self.d / max(best, 1e-9)
            log(f"calibration: k-means {self.rate_kmeans / 1e9:.2f} GMAC/s")
        return self.rate_kmeans

    def _pilot(self):
        """Small HNSW build + search, extrapolated by n log n (build) and log n (search)."""
        if self.hnsw_pilot is None:
            f = self.faiss
            np_ = min(self.n, 5_000)
            idx = f.IndexHNSWFlat(self.d, HNSW_M, f.METRIC_INNER_PRODUCT)
            idx.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            f.omp_set_num_threads(self.tb)
            t = time.perf_counter()
            idx.add(self.base[:np_])
            tb = time.perf_counter() - t
            f.omp_set_num_threads(1)
            per_q = {}
            nq = min(self.m, 20)
            for ef in HNSW_EF_SEARCH:
                idx.hnsw.efSearch = ef
                t = time.perf_counter()
                for i in range(nq):
                    idx.search(self.q[i:i + 1], self.k)
                per_q[ef] = (time.perf_counter() - t) / max(nq, 1)
            self.hnsw_pilot = (np_, tb, per_q)
            del idx
            log(f"calibration: HNSW pilot build of {np_} rows {tb:.2f}s")
        return self.hnsw_pilot

    def hnsw(self, ef=None):
        np_, tb, per_q = self._pilot()
        grow = math.log(max(self.n, 2)) / math.log(max(np_, 2))
        if ef is not None:  # search only: single-thread pass + batched pass
            return per_q[ef] * grow * self.m * (1 + 1 / self.tq)
        # 1.3: n log n extrapolation from the pilot under-predicts large builds (cache misses); fitted on
        # 200k x 128 (and the ~10 min reported for 1M) on the 2-core bench machine.
        return 1.3 * tb * (self.n / np_) * grow + sum(self.hnsw(e) for e in HNSW_EF_SEARCH)

    def ivf(self, nlist, train_n, nprobe=None):
        if nprobe is not None:
            macs = self.m * (nlist + nprobe * self.n / nlist) * self.d
            return macs / self.rate1 * (1 + 1 / self.tq)
        f = self.faiss
        niter = f.IndexIVFFlat(f.IndexFlatIP(self.d), self.d, nlist, f.METRIC_INNER_PRODUCT).cp.niter  # 10
        build = (niter * train_n + self.n) * nlist * self.d / self._kmeans_rate(nlist)
        return build + sum(self.ivf(nlist, train_n, min(p, nlist)) for p in IVF_NPROBE)

    def sq8(self, search_only=False):
        search = 1.5 * self.m * self.n * self.d / self.rate1 * (1 + 1 / self.tq)
        return search if search_only else search + self.n * self.d * 4 / self.rate1

    def flat(self, search_only=False):
        macs = self.m * self.n * self.d
        return macs / self.rate1 + macs / self._batched_rate()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--indexes", default=",".join(KINDS))
    ap.add_argument("--threads-build", type=int, default=2)
    ap.add_argument("--threads-batched", type=int, default=2)
    ap.add_argument("--timeout-s", type=float, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=5, help="untimed single-thread queries before timing")
    args = ap.parse_args()

    kinds = [s.strip() for s in args.indexes.split(",") if s.strip()]
    bad = [s for s in kinds if s not in KINDS]
    if bad or not kinds:
        ap.error(f"--indexes: unknown kind(s) {bad}; choose from {','.join(KINDS)}")

    # Keep fd 1 for the JSON alone: anything FAISS, OpenMP or Python prints goes to stderr.
    sys.stdout.flush()
    json_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    import faiss  # after the redirect, so import-time chatter cannot reach stdout

    base = load_matrix(args.base, "base")
    queries = load_matrix(args.queries, "queries")
    n, d = base.shape
    m = len(queries)
    if queries.shape[1] != d:
        raise SystemExit(f"dimension mismatch: base D={d}, queries D={queries.shape[1]}")
    if not 1 <= args.k <= n:
        raise SystemExit(f"--k must be in 1..N ({n})")
    k = args.k
    os.makedirs(args.out_dir, exist_ok=True)
    log(f"faiss {faiss.__version__}, N={n} D={d} M={m} k={k}, kinds={kinds}, "
        f"omp max threads {faiss.omp_get_max_threads()}")

    sample = None
    train_n = min(n, TRAIN_MAX)
    if any(s in ("ivf", "sq8") for s in kinds):
        if train_n == n:
            sample = base
        else:
            rows = np.sort(np.random.default_rng(args.seed).choice(n, size=train_n, replace=False))
            sample = np.ascontiguousarray(base[rows])
    est = Estimator(faiss, base, queries, k, args.threads_build, args.threads_batched) \
        if args.timeout_s is not None else None

    def elapsed():
        return time.perf_counter() - _T0

    def over_budget(estimate):
        return args.timeout_s is not None and elapsed() + estimate > args.timeout_s

    def skip_reason(estimate):
        return (f"estimated {estimate:.0f}s would exceed --timeout-s {args.timeout_s:g} "
                f"(elapsed {elapsed():.0f}s)")

    results = []

    def single_and_batched(index, name, params, build_info):
        faiss.omp_set_num_threads(1)
        for i in range(min(args.warmup, m)):
            index.search(queries[i:i + 1], k)
        ids = np.empty((m, k), dtype=np.int64)
        scores = np.empty((m, k), dtype=np.float32)
        times = np.empty(m, dtype=np.float64)
        for i in range(m):
            qi = queries[i:i + 1]
            t = time.perf_counter()
            s, j = index.search(qi, k)
            times[i] = time.perf_counter() - t
            ids[i], scores[i] = j[0], s[0]
        faiss.omp_set_num_threads(args.threads_batched)
        t = time.perf_counter()
        _, bj = index.search(queries, k)
        tb = time.perf_counter() - t
        ids_file = os.path.abspath(os.path.join(args.out_dir, f"{name}.ids.npy"))
        scores_file = os.path.abspath(os.path.join(args.out_dir, f"{name}.scores.npy"))
        np.save(ids_file, ids)
        np.save(scores_file, scores)
        r = {"name": name, "params": params, **build_info,
             "p50_ms": float(np.percentile(times, 50) * 1e3),
             "p99_ms": float(np.percentile(times, 99) * 1e3),
             "mean_ms": float(times.mean() * 1e3),
             "batched_ms_per_query": tb * 1e3 / m,
             "batched_ids_agree": float((bj == ids).mean()),
             "ids_file": ids_file, "scores_file": scores_file}
        log(f"{name}: p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms, "
            f"batched {r['batched_ms_per_query']:.3f} ms/q")
        results.append(r)

    def build(make, train_rows):
        release_memory()
        faiss.omp_set_num_threads(args.threads_build)
        peak_ok = reset_peak_rss()
        rss0 = rss_bytes()
        t = time.perf_counter()
        index = make()
        if train_rows is not None:
            index.train(train_rows)
        t_train = time.perf_counter() - t
        index.add(base)
        build_s = time.perf_counter() - t
        rss1, hwm = rss_bytes(), rss_bytes("VmHWM")
        nbytes = int(faiss.serialize_index(index).nbytes)
        info = {"build_s": build_s, "train_s": t_train, "bytes": nbytes,
                "rss_growth_bytes": (rss1 - rss0) if rss0 is not None and rss1 is not None else None}
        if peak_ok and hwm is not None and rss0 is not None:
            info["rss_peak_growth_bytes"] = hwm - rss0
        log(f"built in {build_s:.2f}s (train {t_train:.2f}s), {nbytes / 2**20:.1f} MiB serialized, "
            f"RSS +{(info['rss_growth_bytes'] or 0) / 2**20:.1f} MiB")
        return index, info

    for kind in kinds:
        if kind == "hnsw":
            configs = [(f"hnsw_ef{ef}", {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION, "efSearch": ef},
                        ef) for ef in HNSW_EF_SEARCH]
            estimate_all = est.hnsw() if est else 0.0
            estimate_one = (lambda ef: est.hnsw(ef)) if est else None

            def make():
                idx = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
                idx.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
                return idx

            def configure(idx, ef):
                idx.hnsw.efSearch = ef
            train_rows = None
        elif kind == "ivf":
            nlist = ivf_nlist(n)
            nlist = min(nlist, train_n)  # k-means needs at least nlist training points
            configs = [(f"ivf_nprobe{p}", {"nlist": nlist, "nprobe": min(p, nlist), "train_n": train_n},
                        min(p, nlist)) for p in IVF_NPROBE]
            estimate_all = est.ivf(nlist, train_n) if est else 0.0
            estimate_one = (lambda p, nlist=nlist: est.ivf(nlist, train_n, p)) if est else None

            def make(nlist=nlist):
                quantizer = faiss.IndexFlatIP(d)
                # faiss's Python wrapper keeps the quantizer alive (referenced_objects)
                return faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)

            def configure(idx, p):
                idx.nprobe = p
            train_rows = sample
        elif kind == "sq8":
            configs = [(f"sq8_refine{SQ_K_FACTOR}", {"qtype": "QT_8bit", "k_factor": SQ_K_FACTOR,
                                                     "train_n": train_n}, SQ_K_FACTOR)]
            estimate_all = est.sq8() if est else 0.0
            estimate_one = (lambda _: est.sq8(search_only=True)) if est else None

            def make():
                sq = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
                return faiss.IndexRefineFlat(sq)  # keeps sq alive (referenced_objects)

            def configure(idx, kf):
                idx.k_factor = kf
            train_rows = sample
        else:  # flat
            configs = [("flat", {}, None)]
            estimate_all = est.flat() if est else 0.0
            estimate_one = (lambda _: est.flat(search_only=True)) if est else None
            make = lambda: faiss.IndexFlatIP(d)  # noqa: E731
            configure = lambda idx, _: None  # noqa: E731
            train_rows = None

        if over_budget(estimate_all):
            reason = skip_reason(estimate_all)
            log(f"skipping {kind}: {reason}")
            for name, params, _ in configs:
                results.append({"name": name, "params": params, "skipped": reason, "estimated_s": estimate_all})
            continue
        log(f"building {kind}" + (f" (estimated {estimate_all:.0f}s incl. searches)" if est else ""))
        index, info = build(make, train_rows)
        for name, params, value in configs:
            if est is not None:
                e = estimate_one(value)
                if over_budget(e):
                    reason = skip_reason(e)
                    log(f"skipping {name}: {reason}")
                    results.append({"name": name, "params": params, **info, "skipped": reason, "estimated_s": e})
                    continue
            configure(index, value)
            single_and_batched(index, name, params, info)
        del index
        release_memory()

    out = {"faiss_version": faiss.__version__, "n": int(n), "dim": int(d), "queries": int(m), "k": int(k),
           "threads_build": args.threads_build, "threads_batched": args.threads_batched,
           "env": {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
                   if os.environ.get(v) is not None},
           "elapsed_s": elapsed(), "indexes": results}
    with os.fdopen(json_fd, "w") as f:
        f.write(json.dumps(out, allow_nan=False) + "\n")
    log("done")


if __name__ == "__main__":
    main()
