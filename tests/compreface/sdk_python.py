"""CompreFace's own Python SDK (compreface-sdk from PyPI, unpatched) driving a Visage server.

Run by tests/compreface.rs: python sdk_python.py URL KEY DETECTION_KEY TESTDATA
(URL like http://127.0.0.1:8080; KEY opens every service, DETECTION_KEY only detection).
Every call is one the SDK documents; any unexpected answer exits non-zero with the answer.
"""
import sys
from urllib.parse import urlsplit

from compreface import CompreFace

url, key, detection_key, data = sys.argv[1:5]
parts = urlsplit(url)
domain, port = f"{parts.scheme}://{parts.hostname}", str(parts.port)
calls = 0


def check(answer, condition, what):
    global calls
    calls += 1
    if not condition(answer):
        sys.exit(f"FAILED: {what}: {answer!r}")
    return answer


def photo(name):
    return f"{data}/{name}"


def similarity(x):
    return isinstance(x, float) and 0.0 <= x <= 1.0


compre_face = CompreFace(domain, port, {"limit": 0, "det_prob_threshold": 0.5, "prediction_count": 3,
                                        "status": "true"})
recognition = compre_face.init_face_recognition(key)
detection = compre_face.init_face_detection(detection_key)
verification = compre_face.init_face_verification(key)
subjects = recognition.get_subjects()
faces = recognition.get_face_collection()

# Subjects and examples.
check(subjects.add("Barack Obama"), lambda r: r == {"subject": "Barack Obama"}, "add subject")
check(subjects.add("Joe Biden"), lambda r: r == {"subject": "Joe Biden"}, "add subject")
check(subjects.add("Joe Biden"), lambda r: r.get("code") == 43, "an existing subject is refused")
obama = check(faces.add(photo("obama.jpg"), "Barack Obama"),
              lambda r: r["subject"] == "Barack Obama" and r["image_id"], "add example")
obama2 = check(faces.add(photo("obama2.jpg"), "Barack Obama"), lambda r: r["image_id"] != obama["image_id"],
               "add a second example")
check(faces.add(photo("biden.jpg"), "Joe Biden"), lambda r: r["subject"] == "Joe Biden", "add example")
check(faces.add(photo("astronaut.png"), "Eileen Collins"), lambda r: r["subject"] == "Eileen Collins",
      "an example creates its subject")
check(faces.add(photo("t1.jpg"), "Crowd"), lambda r: r.get("code") == 31, "several faces are refused")
check(subjects.list(), lambda r: r["subjects"] == ["Barack Obama", "Joe Biden", "Eileen Collins"], "list subjects")

# Recognition: each subject once, best first, with plugins and versions.
answer = check(recognition.recognize(photo("obama3.jpg"), {"prediction_count": 3, "status": "true",
                                                           "face_plugins": "landmarks,calculator"}),
               lambda r: len(r["result"]) == 1, "recognize")
face = answer["result"][0]
check(face["box"], lambda b: set(b) == {"probability", "x_min", "y_min", "x_max", "y_max"}
      and b["x_min"] < b["x_max"] and b["y_min"] < b["y_max"], "box")
check(face["subjects"], lambda s: s[0]["subject"] == "Barack Obama" and similarity(s[0]["similarity"])
      and len({x["subject"] for x in s}) == len(s), "subjects: Obama first, each once")
check(face, lambda f: len(f["landmarks"]) == 5 and len(f["embedding"]) > 0, "landmarks and calculator plugins")
check(answer, lambda r: "detector" in r["plugins_versions"], "plugins_versions")
check(recognition.recognize(photo("not_an_image.jpg")), lambda r: "code" in r and "message" in r,
      "a file that is no image is refused in CompreFace's shape")
check(recognition.recognize(photo("brick.png")), lambda r: r.get("code") == 28, "no face: code 28")

# Detection (its own key) and verification.
check(detection.detect(photo("t1.jpg"), {"limit": 2, "face_plugins": "landmarks"}),
      lambda r: len(r["result"]) == 2 and all(len(f["landmarks"]) == 5 for f in r["result"]), "detect")
same = check(verification.verify(photo("obama.jpg"), photo("obama2.jpg")),
             lambda r: r["result"][0]["source_image_face"]["box"]
             and similarity(r["result"][0]["face_matches"][0]["similarity"]), "verify")
other = check(verification.verify(photo("obama.jpg"), photo("biden.jpg")),
              lambda r: similarity(r["result"][0]["face_matches"][0]["similarity"]), "verify")
check((same, other), lambda p: p[0]["result"][0]["face_matches"][0]["similarity"]
      > p[1]["result"][0]["face_matches"][0]["similarity"], "the same person is more similar")
check(faces.verify(photo("obama3.jpg"), obama["image_id"]),
      lambda r: similarity(r["result"][0]["similarity"]) and r["result"][0]["similarity"] > 0.7,
      "verify against a saved example")

# The collection: list, delete by id, rename, merge, delete by subject.
check(faces.list(), lambda r: r["total_elements"] == 4 and len(r["faces"]) == 4 and r["page_number"] == 0
      and r["total_pages"] == 1, "list examples")
check(faces.delete(obama2["image_id"]), lambda r: r == {"image_id": obama2["image_id"], "subject": "Barack Obama"},
      "delete an example")
check(faces.delete(obama2["image_id"]), lambda r: r.get("code") == 11, "a deleted example is gone")
check(subjects.update("Joe Biden", "Joseph Biden"), lambda r: r == {"updated": True}, "rename")
check(subjects.add("Obama again"), lambda r: r == {"subject": "Obama again"}, "add subject")
check(faces.add(photo("obama3.jpg"), "Obama again"), lambda r: r["subject"] == "Obama again", "add example")
check(subjects.update("Obama again", "Barack Obama"), lambda r: r == {"updated": True}, "merge")
check(subjects.list(), lambda r: r["subjects"] == ["Barack Obama", "Joseph Biden", "Eileen Collins"],
      "renamed and merged")
check(recognition.recognize(photo("obama2.jpg")), lambda r: r["result"][0]["subjects"][0]["subject"]
      == "Barack Obama", "merged examples still recognise")
check(faces.delete_all("Joseph Biden"), lambda r: r == {"deleted": 1}, "delete the examples of a subject")
check(subjects.delete("Eileen Collins"), lambda r: r == {"subject": "Eileen Collins"}, "delete a subject")
check(recognition.recognize(photo("astronaut.png")), lambda r: r["result"][0]["subjects"] == [],
      "a face nobody enrolled is unknown: no subjects")

# Wrong keys are refused in CompreFace's shape.
stranger = CompreFace(domain, port).init_face_recognition("wrong-key")
check(stranger.recognize(photo("obama.jpg")), lambda r: r.get("code") == 10 and r.get("message"), "wrong key")
check(stranger.get_subjects().list(), lambda r: r.get("code") == 10, "wrong key")
check(CompreFace(domain, port).init_face_recognition(detection_key).get_subjects().list(),
      lambda r: r.get("code") == 10, "a detection key does not open recognition")

check(subjects.delete_all(), lambda r: r == {"deleted": 2}, "delete all subjects")
check(subjects.list(), lambda r: r == {"subjects": []}, "nothing left")
print(f"compreface-sdk: {calls} checks passed")
