"""Writes the fuzz seeds (OUT/TARGET/*, a few KB each) from the test photos, into the test data
folder beside them (never into git: they are derived from photos): `python fuzz/make_seeds.py
[OUT]`, OUT by default $VISAGE_CACHE/testdata/fuzz-seeds. scripts/test.sh and scripts/fuzz.sh
run it with the tool venv. The photos of $VISAGE_CACHE/testdata up to 16 KB are added as seeds
of `decode_image` at run time by scripts/fuzz.sh; these are the formats and colour types they
lack, and the other targets' inputs.
"""

import base64
import io
import json
import os
import struct
import sys
import tarfile
import zipfile

import numpy as np
from PIL import Image

TESTDATA = os.path.join(os.environ.get("VISAGE_CACHE", os.path.expanduser("~/.cache/visage")), "testdata")
ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(TESTDATA, "fuzz-seeds")
BOUNDARY = "visage-fuzz"


def put(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data)


def encode(img, fmt, **kw):
    out = io.BytesIO()
    img.save(out, fmt, **kw)
    return out.getvalue()


face = Image.open(os.path.join(TESTDATA, "hopper.jpg")).convert("RGB").resize((24, 24))
tiny_png = encode(face.resize((8, 8)), "PNG")
tiny_jpg = encode(face.resize((16, 16)), "JPEG", quality=70)

# decode_image: each format and colour type the decoder reduces to RGB8.
images = {
    "rgb.png": encode(face, "PNG"),
    "rgba.png": encode(face.convert("RGBA"), "PNG"),
    "grey16.png": encode(Image.fromarray((np.asarray(face.convert("L"), dtype=np.uint16) * 257)), "PNG"),
    "palette.png": encode(face.convert("P"), "PNG"),
    "progressive.jpg": encode(face, "JPEG", quality=60, progressive=True),
    "cmyk.jpg": encode(face.convert("CMYK"), "JPEG", quality=60),
    "grey.jpg": encode(face.convert("L"), "JPEG", quality=60),
    "lossless.webp": encode(face, "WEBP", lossless=True),
    "lossy.webp": encode(face, "WEBP", quality=50),
    "rgb.bmp": encode(face.resize((12, 12)), "BMP"),
    "rgb.tiff": encode(face.resize((12, 12)), "TIFF"),
    "deflate.tiff": encode(face.resize((12, 12)), "TIFF", compression="tiff_adobe_deflate"),
    "anim.gif": encode(face, "GIF", save_all=True, append_images=[face.rotate(90)]),
    "grey.pgm": encode(face.convert("L").resize((12, 12)), "PPM"),
}
exif = Image.Exif()
exif[0x0112] = 6
images["orientation6.jpg"] = encode(face, "JPEG", quality=60, exif=exif.tobytes())
for name, data in images.items():
    put("decode_image", name, data)


# multipart_form: a selector byte (bit 0: CompreFace verify fields), then the body.
def multipart(parts):
    out = b""
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        content_type = b"Content-Type: image/png\r\n" if filename else b""
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode() + content_type + b"\r\n"
        out += value + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


put(
    "multipart_form",
    "search.txt",
    b"\x00"
    + multipart(
        [
            ("image", tiny_png, "a.png"),
            ("threshold", b"0.5", None),
            ("k", b"5", None),
            ("subject_id", b"alice", None),
            ("aligned", b"true", None),
        ]
    ),
)
put("multipart_form", "embedding.txt", b"\x00" + multipart([("embedding", b"[0.6, 0.8]", None), ("k", b"3", None)]))
put(
    "multipart_form",
    "attributes.txt",
    b"\x00" + multipart([("image", tiny_jpg, "a.jpg"), ("attributes", b'{"age": true}', None)]),
)
put(
    "multipart_form",
    "compreface.txt",
    b"\x01" + multipart([("source_image", tiny_png, "a.png"), ("target_image", tiny_png, "b.png")]),
)
put("multipart_form", "compare.txt", b"\x00" + multipart([("image_a", tiny_png, "a.png"), ("image_b", tiny_png, "b.png")]))

# json_body: a selector byte (bit 0: CompreFace fields; bits 1-2: 0-1 JSON, 2 image/png, 3 text).
b64 = base64.b64encode(tiny_png).decode()
put("json_body", "image.json", b"\x00" + json.dumps({"image": b64, "threshold": 0.4, "k": 3}).encode())
put("json_body", "data_url.json", b"\x00" + json.dumps({"image": "data:image/png;base64," + b64}).encode())
put("json_body", "pair.json", b"\x00" + json.dumps({"image_a": b64, "image_b": b64, "aligned": "true"}).encode())
put("json_body", "embedding.json", b"\x00" + json.dumps({"embedding": [0.6, 0.8], "k": "2", "attributes": None}).encode())
put("json_body", "compreface.json", b"\x01" + json.dumps({"source_image": b64, "target_image": b64}).encode())
put("json_body", "raw.png", b"\x04" + tiny_png)

# archive: zip (stored, deflated), tar and tar.gz in the folder layout, with hostile names.
members = [("set/alice/1.jpg", tiny_jpg), ("set/bob smith/2.PNG", tiny_png), ("set/notes.txt", b"x"), ("../evil/3.jpg", b"z")]
out = io.BytesIO()
with zipfile.ZipFile(out, "w") as z:
    for i, (name, data) in enumerate(members):
        z.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED if i % 2 else zipfile.ZIP_STORED)
put("archive", "set.zip", out.getvalue())
for mode, name in [("w", "set.tar"), ("w:gz", "set.tar.gz")]:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode, format=tarfile.GNU_FORMAT) as t:
        for member, data in members + [("/abs/carol/4.jpg", b"a")]:
            info = tarfile.TarInfo(member)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("set/dave/5.jpg")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        t.addfile(link)
    put("archive", name, out.getvalue())

# manifest: a selector byte (0 CSV, 1 JSON array, 2 JSON Lines), then the manifest.
rows = [
    {"subject": "alice", "path": "a/1.jpg", "external_id": "x1"},
    {"subject": "bob", "path": "../../etc/hostname"},
    {"subject": "carol", "path": "/etc/hostname", "name": "Carol C"},
    {"subject": "alice", "path": "a/1.jpg"},
]
put("manifest", "m.csv", b"\x00subject,path,external_id,name\nalice,a/1.jpg,x1,\nbob,../../etc/hostname,,\ncarol,m.csv,,Carol C\n")
put("manifest", "m.json", b"\x01" + json.dumps(rows).encode())
put("manifest", "m.jsonl", b"\x02" + "\n".join(json.dumps(r) for r in rows).encode() + b"\n\n")


# embeddings_npy: the subjects CSV's length (u16, little-endian), the CSV, then the .npy.
def npy(array):
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


vectors = np.array([[0.6, 0.8, 0.0], [0.0, 0.0, 0.0], [1.0, 2.0, np.nan]], dtype=np.float32)
labels = b"subject,external_id,name\nalice,x1,Alice A\nbob,,\nCarol C,,\n"
put("embeddings_npy", "f32.bin", struct.pack("<H", len(labels)) + labels + npy(vectors))
put("embeddings_npy", "f64_be.bin", struct.pack("<H", 0) + npy(vectors.astype(">f8")))
put("embeddings_npy", "fortran.bin", struct.pack("<H", len(labels)) + labels + npy(np.asfortranarray(vectors.T)))
put("embeddings_npy", "short_csv.bin", struct.pack("<H", 14) + b"subject\nalice\n" + npy(vectors[:2]))

# embeddings_jsonl: rows with and without the optional keys, a blank line, a bad row.
lines = [
    {"subject": "alice", "embedding": [0.6, 0.8], "external_id": "x1", "name": "Alice A", "model": "fuzz@0"},
    {"subject": "bob", "embedding": [3, 4]},
    {"subject": "carol", "embedding": [0, 0], "model": "other@1"},
]
put("embeddings_jsonl", "e.jsonl", "\n".join(json.dumps(l) for l in lines).encode() + b"\n\nnot json\n")

# lfw_pairs: LFW's header and both line kinds.
put("lfw_pairs", "pairs.txt", b"10\t300\nAbel_Pacheco\t1\t4\n\n# comment\nAbdel_Madi_Shabneh 1 Dean_Barker 1\nA 1 A 2\n")
