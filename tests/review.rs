//! Reviewing unknown faces on a real server with real photos: unknown faces are kept only with
//! `review.enabled`; two photos of the same unknown man group together, apart from another man;
//! naming the group enrols it (the next photo of him is recognised); discarding erases items
//! and crops; the store keeps at most `review.max_items`; bad requests get stable codes.

mod common;

use common::server::{Part, Server};
use serde_json::{json, Value};

fn identify(s: &Server, photo: &str) -> Value {
    let bytes = common::bytes(photo);
    let r = s.multipart("/v1/identify", &[("image", Part::File(&bytes))]);
    assert_eq!(r.status, 200, "{}", r.json);
    r.json
}

fn groups(s: &Server) -> Value {
    let r = s.get("/v1/review/groups");
    assert_eq!(r.status, 200, "{}", r.json);
    r.json
}

fn ids(group: &Value) -> Vec<u64> {
    group["items"].as_array().unwrap().iter().map(|i| i["id"].as_u64().unwrap()).collect()
}

/// Status and body of a kept face's crop.
fn crop(s: &Server, id: u64) -> (u16, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let mut r = agent.get(format!("{}/v1/review/items/{id}/crop", s.base)).call().unwrap();
    (r.status().as_u16(), r.body_mut().read_to_vec().unwrap())
}

/// Rows of the review table, read from the database file itself.
fn stored_items(dir: &std::path::Path) -> (i64, i64) {
    let db = rusqlite::Connection::open(dir.join("gallery.sqlite3")).unwrap();
    db.query_row("SELECT COUNT(*), COUNT(crop) FROM review", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap()
}

#[test]
fn unknown_faces_are_grouped_named_and_discarded() {
    let dir = tempfile::tempdir().unwrap();

    // Off by default: an unknown face leaves nothing behind.
    let s = Server::start(dir.path(), &[]);
    assert!(identify(&s, "obama.jpg")["faces"][0]["match"].is_null());
    let g = groups(&s);
    assert_eq!((g["enabled"].clone(), g["total_items"].clone()), (json!(false), json!(0)), "{g}");
    drop(s);
    assert_eq!(stored_items(dir.path()), (0, 0));

    let s = Server::start(dir.path(), &[("VISAGE_REVIEW__ENABLED", "true"), ("VISAGE_REVIEW__MAX_ITEMS", "4")]);
    for photo in ["obama.jpg", "obama2.jpg", "biden.jpg", "obama.jpg"] {
        assert!(identify(&s, photo)["faces"][0]["match"].is_null(), "{photo} is unknown");
    }
    // The same photo twice is kept once; Obama's two photos are one group, Biden another.
    let g = groups(&s);
    assert_eq!(
        (g["enabled"].clone(), g["total_items"].clone(), g["total_groups"].clone()),
        (json!(true), json!(3), json!(2)),
        "{g}"
    );
    assert_eq!(g["threshold"].as_f64().unwrap() as f32, 0.48);
    let (obama, biden) = (ids(&g["groups"][0]), ids(&g["groups"][1]));
    assert_eq!((obama.len(), biden.len()), (2, 1), "{g}");
    assert_eq!(g["groups"][0]["items"][0]["source"], "identify");
    let (status, png) = crop(&s, biden[0]);
    assert_eq!(status, 200);
    assert!(png.starts_with(b"\x89PNG"), "a PNG crop");
    assert_eq!(stored_items(dir.path()), (3, 3));

    // Bad requests change nothing and say why.
    let bad = [
        ("/v1/review/name", json!({ "items": obama, "name": "A", "subject_id": "b" }), 422, "invalid_parameter"),
        ("/v1/review/name", json!({ "items": obama }), 422, "invalid_parameter"),
        ("/v1/review/name", json!({ "items": [], "name": "A" }), 422, "invalid_parameter"),
        ("/v1/review/name", json!({ "items": [obama[0], 999_999], "name": "A" }), 404, "not_found"),
        ("/v1/review/name", json!({ "items": obama, "subject_id": "nobody" }), 404, "not_found"),
        ("/v1/review/name", json!({ "items": "1", "name": "A" }), 400, "invalid_json"),
        ("/v1/review/discard", json!({ "items": [biden[0], 999_999] }), 404, "not_found"),
        ("/v1/review/discard", json!({ "items": [], "extra": 1 }), 400, "invalid_json"),
    ];
    for (path, body, status, code) in bad {
        let r = s.json("POST", path, &body);
        assert_eq!((r.status, r.json["code"].as_str().unwrap()), (status, code), "{path} {body}: {}", r.json);
    }
    assert_eq!(s.get("/v1/review/groups?limit=0").json["code"], "invalid_parameter");
    assert_eq!(s.delete("/v1/review/items/999999").json["code"], "not_found");
    assert_eq!(groups(&s)["total_items"], 3);
    assert_eq!(s.get("/v1/subjects").json["total"], 0, "no subject was created by a refused request");

    // Naming the group enrols both faces; the next photo of him is recognised.
    let r = s.json("POST", "/v1/review/name", &json!({ "items": obama, "name": "Barack Obama" }));
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["subject"]["faces"], 2, "{}", r.json);
    assert_eq!(r.json["faces"].as_array().unwrap().len(), 2);
    let id = identify(&s, "obama3.jpg");
    assert_eq!(id["faces"][0]["match"]["subject_name"], "Barack Obama", "{id}");
    let g = groups(&s);
    assert_eq!(g["total_items"], 1, "named faces leave review: {g}");
    assert_eq!(crop(&s, obama[0]).0, 404);

    // Discarding erases the item and its crop.
    let r = s.json("POST", "/v1/review/discard", &json!({ "items": biden }));
    assert_eq!((r.status, r.json["discarded"].clone()), (200, json!(1)), "{}", r.json);
    assert_eq!(crop(&s, biden[0]).0, 404);
    assert_eq!(groups(&s)["total_items"], 0);
    assert_eq!(stored_items(dir.path()), (0, 0));

    // Six strangers in one photo: only the newest four are kept (review.max_items).
    let t1 = identify(&s, "t1.jpg");
    assert_eq!(t1["faces"].as_array().unwrap().len(), 6);
    let g = groups(&s);
    assert_eq!(g["total_items"], 4, "{g}");
    // One face named alone as a new subject, one discarded alone.
    let first = ids(&g["groups"][0])[0];
    let r = s.json("POST", &format!("/v1/review/items/{first}/name"), &json!({ "name": "Stranger" }));
    assert_eq!((r.status, r.json["subject"]["faces"].clone()), (200, json!(1)), "{}", r.json);
    let second = ids(&groups(&s)["groups"][0])[0];
    let r = s.delete(&format!("/v1/review/items/{second}"));
    assert_eq!((r.status, r.json["discarded"].clone()), (200, json!(1)), "{}", r.json);
    assert_eq!(groups(&s)["total_items"], 2);
    assert_eq!(s.get("/v1/subjects").json["total"], 2);
}
