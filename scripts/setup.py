"""Install ONNX Runtime, the default face models and the attribute models from PyPI, as
models/manifest.toml says.

Idempotent: when every output already exists with its pinned sha256 it does nothing (no network).
Downloads are cached in $VISAGE_CACHE/downloads, so a fresh clone on the same machine is offline.
Only the standard library is used here; model conversion runs in the tool venv (see setup.sh).
"""
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("VISAGE_CACHE", Path.home() / ".cache" / "visage"))
DOWNLOADS = CACHE / "downloads"
ORIGINAL = CACHE / "original"


def log(msg):
    print(f"[visage-setup] {msg}", file=sys.stderr)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def has(path, digest):
    return path.is_file() and sha256(path) == digest


def require(path, digest):
    got = sha256(path)
    if got != digest:
        sys.exit(f"[visage-setup] error: sha256 mismatch for {path}: expected {digest}, got {got}")


def fetch(package, dist, digest, extra=()):
    """Download one distribution into the cache (unless a file with that hash is there)."""
    name, version = package.split("==")
    target = DOWNLOADS / f"{name}-{version}-{dist}-{digest[:12]}"
    target.mkdir(parents=True, exist_ok=True)
    for f in target.iterdir():
        if has(f, digest):
            return f
    log(f"downloading {package} ({dist}) from PyPI")
    binary = ["--only-binary=:all:"] if dist == "wheel" else [f"--no-binary={name}"]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                    "--no-deps", *binary, *extra, "-d", str(target), package], check=True)
    for f in target.iterdir():
        if has(f, digest):
            return f
    sys.exit(f"[visage-setup] error: no file of {package} matched the pinned sha256 {digest}")


def extract(archive, member, dest):
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    if archive.name.endswith(".whl") or archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z, z.open(member) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out)
    else:
        with tarfile.open(archive) as t, t.extractfile(member) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out)
    tmp.replace(dest)


def setup_runtime(rt):
    arch = platform.machine()
    pins = rt["platforms"].get(arch)
    if pins is None:
        sys.exit(f"[visage-setup] error: no pinned ONNX Runtime wheel for {arch}; "
                 f"known: {', '.join(rt['platforms'])}")
    dest = ROOT / rt["file"]
    if has(dest, pins["sha256"]):
        return False
    extra = ["--python-version", "3.11", "--implementation", "cp",
             *[f"--platform=manylinux_2_{n}_{arch}" for n in (17, 27, 28)]]
    wheel = fetch(rt["package"], "wheel", pins["wheel_sha256"], extra)
    extract(wheel, rt["member"], dest)
    require(dest, pins["sha256"])
    log(f"installed {dest.relative_to(ROOT)}")
    return True


def setup_model(m, python):
    """Install one model; `python` returns the tool venv's interpreter (made only when needed)."""
    dest = ROOT / "models" / m["file"]
    if has(dest, m["sha256"]):
        return False
    original = ORIGINAL / Path(m["member"]).name
    if not has(original, m["member_sha256"]):
        dist = fetch(m["package"], m["dist"], m["dist_sha256"])
        extract(dist, m["member"], original)
        require(original, m["member_sha256"])
    tmp = dest.with_suffix(".onnx.part")
    if m.get("expect"):
        check_expectations(m)
    if m.get("convert", True):
        subprocess.run([python(), str(ROOT / "scripts" / "convert_models.py"), str(original), str(tmp),
                        "--kind", m["kind"]], check=True)
    else:
        shutil.copyfile(original, tmp)
    require(tmp, m["sha256"])
    tmp.replace(dest)
    log(f"installed models/{m['file']} ({m['licence']})")
    return True


def check_expectations(m):
    """The pre-processing Visage uses (manifest.toml `expect`) must still be what the package's own
    manifest.json says about the model (chip size, padding, means, scale, labels, age weights)."""
    dist = fetch(m["package"], m["dist"], m["dist_sha256"])
    folder = str(Path(m["member"]).parent)
    with zipfile.ZipFile(dist) as z:
        bundle = json.loads(z.read(f"{folder}/manifest.json"))
    spec = next((v for v in bundle["models"].values() if v["artifact"]["filename"] == m["file"]), None)
    if spec is None:
        sys.exit(f"[visage-setup] error: {m['package']}'s manifest.json does not describe {m['file']}")
    want = m["expect"]
    got = {
        "chip_size": spec["input"]["shape"][-1],
        "chip_padding": bundle["preprocessing"]["face_chip_padding"],
        "means": spec["input"]["normalization"]["means"],
        "scale": spec["input"]["normalization"]["scale"],
    }
    if "labels" in want:
        got["labels"] = spec.get("labels")
    if "age_weights" in want:
        got["age_weights"] = spec.get("age_weights")
    if spec["input"]["color_order"] != "RGB" or spec["artifact"]["sha256"] != m["member_sha256"]:
        sys.exit(f"[visage-setup] error: {m['file']}: colour order or sha256 differ from manifest.json")
    for key, value in want.items():
        if got.get(key) != value:
            sys.exit(f"[visage-setup] error: {m['file']}: models/manifest.toml says {key} = {value}, "
                     f"the package's manifest.json says {got.get(key)}")


def main():
    manifest = tomllib.loads((ROOT / "models" / "manifest.toml").read_text())
    changed = setup_runtime(manifest["runtime"])
    missing = [m for m in manifest["models"] if not has(ROOT / "models" / m["file"], m["sha256"])]
    if missing:
        venv = []

        def python():
            if not venv:
                venv.append(subprocess.run(["bash", "-c", f"source '{ROOT}/scripts/common.sh' && venv_python"],
                                           check=True, capture_output=True, text=True).stdout.strip())
            return venv[0]

        for m in missing:
            changed |= setup_model(m, python)
    log("models and runtime ready" + ("" if changed else " (nothing to do)"))


if __name__ == "__main__":
    main()
