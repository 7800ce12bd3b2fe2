//! The web UI in a real headless Chromium (chromedriver, W3C WebDriver) against a real
//! `visage serve` on loopback with real photos: the API key prompt, recognise a group photo,
//! enrol a face and see it recognised, verify, the gallery (search, merge, rename, delete with
//! confirmation), a bulk job with its report, calibration, the system screen; review unknowns (name
//! a group, discard one), a job from a server folder, cancelling a running job; the
//! evaluation's charts on the quality screen over a gallery of real people; all of it by keyboard alone; every screen at phone
//! and desktop widths, every control named. Screenshots go to `target/tmp/ui/`.
//! Skipped (with the reason) without Chromium unless `VISAGE_UI_REQUIRED`.

mod common;

use std::io::Write;

use common::photo;
use common::server::{Part, Server};
use common::webdriver::{key, Browser};
use serde_json::{json, Value};

const KEY: &str = "ui-test-key";

fn with_key(s: &Server, method: &str, path: &str, body: &Value) -> Value {
    let r = s.raw(method, path, "application/json", body.to_string().as_bytes(), &[("x-api-key", KEY)]);
    assert!(r.status < 300, "{method} {path}: {} {}", r.status, r.json);
    r.json
}

/// Identify requests the server has answered 200, from its metrics.
fn identifies_answered(s: &Server) -> f64 {
    let series = r#"visage_http_requests_total{method="POST",route="/v1/identify",status="200"}"#;
    Server::metric(&s.get_text("/metrics").1, series)
}

/// A subject with one face, through the API.
fn enrol(s: &Server, name: &str, photo_name: &str) -> String {
    let id = with_key(s, "POST", "/v1/subjects", &json!({ "name": name }))["id"].as_str().unwrap().to_string();
    add_face(s, &id, photo_name);
    id
}

/// Another face for subject `id`, through the API.
fn add_face(s: &Server, id: &str, photo_name: &str) {
    let bytes = common::bytes(photo_name);
    let r =
        s.multipart_with(&format!("/v1/subjects/{id}/faces"), &[("image", Part::File(&bytes))], &[("x-api-key", KEY)]);
    assert_eq!(r.status, 201, "{}", r.json);
}

/// Fails when the page scrolls sideways at the window's width, naming what sticks out (what is
/// in the tables' own scrolling boxes only when absolutely placed).
fn assert_fits(b: &Browser, what: &str) {
    let overflow = b.js("return document.documentElement.scrollWidth - document.documentElement.clientWidth", vec![]);
    let wide = b.js(
        "const w = document.documentElement.clientWidth;
         return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w + 0.5
             && (!e.parentElement.closest('.scroll') || getComputedStyle(e).position === 'absolute'))
           .map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 10)",
        vec![],
    );
    assert_eq!(overflow, 0, "{what}: no horizontal scrolling: {wide}");
}

/// Fails unless every rendered control (and link) under `scope` has an accessible name; their
/// number.
fn assert_labelled(b: &Browser, scope: &str) -> usize {
    let css = ["input", "select", "textarea", "button", "a[href]"].map(|c| format!("{scope} {c}")).join(", ");
    let labels = b.computed_labels(&css);
    let unnamed: Vec<_> = labels.iter().filter(|(_, name)| name.trim().is_empty()).map(|(e, _)| e).collect();
    assert!(unnamed.is_empty(), "{scope}: controls without an accessible name: {unnamed:?}");
    labels.len()
}

/// A headless Chromium whose screenshots go to `target/tmp/ui/` (`None`: skipped, with the reason).
fn browser() -> Option<Browser> {
    Browser::start(std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui"))
}

/// No script error on the page, and no error in the console (but a key prompt's 401s when
/// `refusals_expected`).
fn no_page_errors(b: &Browser, refusals_expected: bool) {
    assert_eq!(b.js("return window.visageErrors", vec![]), json!([]));
    let severe: Vec<_> = b
        .console()
        .into_iter()
        .filter(|(level, m)| level == "SEVERE" && !(refusals_expected && m.contains("401")))
        .collect();
    assert!(severe.is_empty(), "console errors: {severe:?}");
}

fn zip_of(path: &std::path::Path, files: &[(&str, &str)]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, photo_name) in files {
        z.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        z.write_all(&common::bytes(photo_name)).unwrap();
    }
    z.finish().unwrap();
}

#[test]
fn the_page_and_its_assets_are_served_with_types_and_validators() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[("VISAGE_SERVER__API_KEYS", KEY)]);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    // The page is open (it holds no data); the API it calls is not.
    let r = agent.get(format!("{}/", s.base)).call().unwrap();
    assert_eq!(r.status(), 200);
    let header = |r: &ureq::http::Response<ureq::Body>, h: &str| {
        r.headers().get(h).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
    };
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
    assert!(header(&r, "content-security-policy").contains("default-src 'self'"));
    assert_eq!(header(&r, "cache-control"), "no-cache");
    let r = agent.get(format!("{}/ui/app.js", s.base)).call().unwrap();
    assert_eq!((r.status().as_u16(), header(&r, "content-type").as_str()), (200, "text/javascript; charset=utf-8"));
    let etag = header(&r, "etag");
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
    let r = agent.get(format!("{}/ui/app.js", s.base)).header("if-none-match", &etag).call().unwrap();
    assert_eq!(r.status(), 304, "unchanged assets revalidate to 304");
    let r = agent.get(format!("{}/ui/app.css", s.base)).call().unwrap();
    assert_eq!(header(&r, "content-type"), "text/css; charset=utf-8");
    assert_eq!(agent.get(format!("{}/ui/nope.js", s.base)).call().unwrap().status(), 404);
    assert_eq!(s.get("/v1/subjects").status, 401);
    drop(s);

    // ui.enabled = false: no page.
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[("VISAGE_UI__ENABLED", "false")]);
    assert_eq!(agent.get(format!("{}/", s.base)).call().unwrap().status(), 404);
    assert_eq!(agent.get(format!("{}/ui/app.js", s.base)).call().unwrap().status(), 404);
}

#[test]
fn recognise_enrol_verify_gallery_jobs_and_system_in_chromium() {
    let Some(b) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[("VISAGE_SERVER__API_KEYS", KEY), ("VISAGE_GALLERY__KEEP_CROPS", "true")]);
    b.goto(&format!("{}/", s.base));

    // The server wants a key: the UI asks; a wrong one is refused with a clear message.
    b.wait("the key prompt", "return document.querySelector('#key-dialog').open");
    b.type_into("#key-input", "wrong-key");
    b.click("#key-form button[type=submit]");
    b.wait(
        "the refusal",
        "return document.querySelector('#key-dialog').open && document.querySelector('#key-message').textContent.includes('refused')",
    );
    assert!(b.text("#key-message").contains("valid API key"), "{}", b.text("#key-message"));
    b.screenshot("key-refused");
    b.type_into("#key-input", KEY);
    b.click("#key-form button[type=submit]");
    b.wait("the prompt to close", "return !document.querySelector('#key-dialog').open");
    assert_eq!(b.js("return sessionStorage.getItem('visage.apiKey')", vec![]), KEY);

    // Recognise a group photo: six boxes, all unknown in an empty gallery.
    b.choose_file("#rec-file", &photo("t1.jpg"));
    b.wait("six boxes", "return document.querySelector('#rec-summary').textContent.startsWith('6 faces')");
    let tags = b.js("return [...document.querySelectorAll('#rec-boxes .box .tag')].map(t => t.textContent)", vec![]);
    assert_eq!(tags, json!(vec!["unknown"; 6]), "{tags}");
    let inside = b.js(
        "const s = document.querySelector('#rec-stage').getBoundingClientRect();
         return [...document.querySelectorAll('#rec-boxes .box')].every(e => { const r = e.getBoundingClientRect();
           return r.width > 5 && r.left >= s.left - 1 && r.right <= s.right + 1 && r.top >= s.top - 1 && r.bottom <= s.bottom + 1; })",
        vec![],
    );
    assert_eq!(inside, true, "every box lies on the photo");
    b.screenshot("recognise-group");

    // Enrol Obama from the recognise screen, as a new subject; another photo of him is recognised.
    b.choose_file("#rec-file", &photo("obama.jpg"));
    b.wait(
        "one unknown face",
        "return document.querySelector('#rec-summary').textContent.startsWith('1 face: 0 recognised')",
    );
    b.click("#rec-boxes .box");
    b.wait("the face panel", "return !document.querySelector('#rec-detail').hidden");
    b.type_into("#rec-enrol-name", "Barack Obama");
    b.click("#rec-enrol button[type=submit]");
    b.wait(
        "the face recognised",
        "return document.querySelector('#rec-summary').textContent.startsWith('1 face: 1 recognised')",
    );
    assert!(b.text("#status").contains("enrolled as Barack Obama"), "{}", b.text("#status"));
    // A group photo, then at once another photo of Obama: the group's answer, slower (six faces)
    // and so usually the later to arrive, is dropped rather than drawn over the photo shown.
    let answered = identifies_answered(&s);
    b.choose_file("#rec-file", &photo("t1.jpg"));
    b.choose_file("#rec-file", &photo("obama2.jpg"));
    b.wait(
        "obama2 recognised",
        "return document.querySelector('#rec-summary').textContent.startsWith('1 face: 1 recognised')",
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while identifies_answered(&s) < answered + 2.0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500)); // the last answer's way to the page
    assert_eq!(b.js("return document.querySelectorAll('#rec-boxes .box').length", vec![]), 1, "the photo shown");
    assert!(b.text("#rec-summary").starts_with("1 face: 1 recognised"), "{}", b.text("#rec-summary"));
    let tag = b.text("#rec-boxes .box .tag");
    assert!(tag.starts_with("Barack Obama 0."), "{tag}");
    b.click("#rec-boxes .box");
    b.wait("the candidate's crop", "return document.querySelector('#rec-candidates img.crop:not([hidden])')");
    assert!(b.text("#rec-candidates").contains("Barack Obama"));
    b.screenshot("recognise-face");
    let subjects = with_key(&s, "GET", "/v1/subjects", &json!({}));
    assert_eq!(subjects["total"], 1);
    let obama = subjects["subjects"][0]["id"].as_str().unwrap().to_string();

    // Verify two photos of the same man.
    b.click("nav a[data-screen=verify]");
    b.choose_file("#ver-a", &photo("obama.jpg"));
    b.choose_file("#ver-b", &photo("obama2.jpg"));
    b.click("#ver-form button[type=submit]");
    b.wait("the verdict", "return !document.querySelector('#ver-result').hidden");
    assert_eq!(b.text("#ver-decision"), "Same person");
    assert_eq!(b.text("#ver-threshold"), "0.480");
    b.screenshot("verify");

    // Gallery: search, merge a duplicate into Obama, rename, delete a face and the subject.
    let duplicate = enrol(&s, "Obama (duplicate)", "obama3.jpg");
    enrol(&s, "Joe Biden", "biden.jpg");
    b.click("nav a[data-screen=gallery]");
    b.wait("three subjects", "return document.querySelectorAll('#gal-rows tr[data-subject]').length === 3");
    b.type_into("#gal-q", "OBAMA");
    b.click("#gal-search button[type=submit]");
    b.wait("two matches", "return document.querySelectorAll('#gal-rows tr[data-subject]').length === 2");
    b.wait("thumbnails", "return document.querySelectorAll('#gal-rows img.crop:not([hidden])').length === 2");
    b.screenshot("gallery");
    b.click(&format!("#gal-rows tr[data-subject='{duplicate}'] a"));
    b.wait("the subject page", "return document.querySelector('#sub-title').textContent === 'Obama (duplicate)'");
    b.type_into("#sub-merge-into", "Barack Obama");
    b.click("#sub-merge button[type=submit]");
    b.wait("the confirmation", "return document.querySelector('#confirm').open");
    b.screenshot("confirm-merge");
    b.click("#confirm-ok");
    b.wait(
        "the merged subject",
        "return document.querySelector('#sub-title').textContent === 'Barack Obama' && document.querySelectorAll('#sub-faces tr[data-face]').length === 2",
    );
    assert_eq!(
        s.raw("GET", &format!("/v1/subjects/{duplicate}"), "application/json", b"", &[("x-api-key", KEY)]).status,
        404
    );
    b.clear("#sub-name");
    b.type_into("#sub-name", "Barack H. Obama");
    b.click("#sub-rename button[type=submit]");
    b.wait("the new name", "return document.querySelector('#sub-title').textContent === 'Barack H. Obama'");
    b.screenshot("subject");
    // Deleting asks first; cancelling keeps the face.
    b.click("#sub-faces button.danger");
    b.wait("the confirmation", "return document.querySelector('#confirm').open");
    b.click("#confirm-cancel");
    b.wait("the dialog closed", "return !document.querySelector('#confirm').open");
    assert_eq!(b.js("return document.querySelectorAll('#sub-faces tr[data-face]').length", vec![]), 2);
    let face = b.js("return document.querySelector('#sub-faces tr[data-face]').dataset.face", vec![]);
    b.click("#sub-faces button.danger");
    b.wait("the confirmation", "return document.querySelector('#confirm').open");
    b.click("#confirm-ok");
    b.wait("one face left", "return document.querySelectorAll('#sub-faces tr[data-face]').length === 1");
    // The server agrees: the cancelled question deleted nothing, the confirmed one its own face.
    let left = with_key(&s, "GET", &format!("/v1/subjects/{obama}/faces"), &json!({}));
    let ids: Vec<String> = left["faces"].as_array().unwrap().iter().map(|f| f["id"].to_string()).collect();
    assert_eq!(ids.len(), 1, "{left}");
    assert_ne!(ids[0], face.as_str().unwrap(), "the confirmed face is the one deleted");
    b.click("#sub-delete");
    b.wait("the confirmation", "return document.querySelector('#confirm').open");
    assert!(b.text("#confirm-message").contains("Barack H. Obama"));
    b.click("#confirm-ok");
    b.wait(
        "the list without Obama (still searching for it)",
        "return location.hash === '#/gallery' && document.querySelector('#gal-range').textContent === '0 subjects'",
    );
    let r = s.raw("GET", &format!("/v1/subjects/{obama}"), "application/json", b"", &[("x-api-key", KEY)]);
    assert_eq!(r.status, 404);

    // A bulk job from a zip: live progress, then the report with its problem first.
    let archive = dir.path().join("people.zip");
    zip_of(
        &archive,
        &[
            ("alice/a.jpg", "obama.jpg"),
            ("alice/b.jpg", "obama2.jpg"),
            ("bob/b.jpg", "biden.jpg"),
            ("nobody/c.png", "coffee.png"),
        ],
    );
    b.click("nav a[data-screen=jobs]");
    b.choose_file("#job-file", &archive);
    b.click("#job-form button[type=submit]");
    b.wait("the report", "return !document.querySelector('#job-report').hidden");
    assert_eq!(b.js("return document.querySelector('#job-run').dataset.state", vec![]), "completed");
    let outcomes =
        b.js("return [...document.querySelectorAll('#job-problems tr')].map(r => r.dataset.outcome)", vec![]);
    assert_eq!(outcomes, json!(["no_face"]), "{outcomes}");
    assert!(b.text("#job-counts").starts_with("3 enrolled of 4 processed"), "{}", b.text("#job-counts"));
    assert_eq!(b.js("return document.querySelector('#job-progress').value", vec![]), 4);
    b.screenshot("jobs");

    // Quality: a target the gallery is too small for is refused clearly; a reachable one is
    // calculated, then applied.
    b.click("nav a[data-screen=quality]");
    b.click("#cal-form button[type=submit]");
    b.wait("the refusal", "return document.querySelector('#status').textContent.includes('too few pairs')");
    assert_eq!(b.js("return document.querySelector('#status').dataset.kind", vec![]), "error");
    assert!(b.js("return document.querySelector('#cal-apply').hidden", vec![]) == true, "nothing to apply");
    b.clear("#cal-far");
    b.type_into("#cal-far", "0.5");
    b.clear("#cal-fpir");
    b.type_into("#cal-fpir", "0.5");
    b.click("#cal-form button[type=submit]");
    b.wait("the thresholds", "return !document.querySelector('#cal-apply').hidden");
    b.screenshot("quality");
    b.click("#cal-apply");
    b.wait("them applied", "return document.querySelector('#cal-in-force').textContent.includes('(calibrated)')");
    let t = with_key(&s, "GET", "/v1/calibrate", &json!({}));
    assert_eq!(t["source"], "calibrated", "{t}");
    assert!(b.text("#cal-in-force").contains(&format!("verify {:.3}", t["compare"].as_f64().unwrap())));

    // System: models, sizes, index, thresholds.
    b.click("nav a[data-screen=system]");
    b.wait("the facts", "return document.querySelector('#sys-facts').textContent.includes('Vector index')");
    let facts = b.text("#sys-facts");
    for want in ["yunet", "sface", "scan", "calibration (target far 0.5"] {
        assert!(facts.to_lowercase().contains(want), "{want} in {facts}");
    }
    b.screenshot("system");

    // A second collection: picked in the header, the gallery and system screens show it alone.
    with_key(&s, "POST", "/v1/collections", &json!({ "id": "alpha", "name": "Team A" }));
    with_key(&s, "POST", "/v1/collections/alpha/subjects", &json!({ "id": "a1", "name": "Alpha person" }));
    b.js("location.reload()", vec![]);
    b.wait(
        "alpha offered",
        "return [...document.querySelectorAll('#collection option')].some((o) => o.value === 'alpha')",
    );
    b.js(
        "const p = document.querySelector('#collection'); p.value = 'alpha'; p.dispatchEvent(new Event('change'))",
        vec![],
    );
    b.wait("alpha's facts", "return document.querySelector('#sys-facts').textContent.includes('alpha')");
    assert_eq!(b.text("#sys-collections").matches("Team A").count(), 1, "{}", b.text("#sys-collections"));
    b.click("nav a[data-screen=gallery]");
    b.wait("alpha's one subject", "return document.querySelector('#gal-range').textContent === '1–1 of 1'");
    assert!(b.text("#gal-rows").contains("Alpha person"));
    b.js(
        "const p = document.querySelector('#collection'); p.value = 'default'; p.dispatchEvent(new Event('change'))",
        vec![],
    );
    b.wait(
        "default's subjects again",
        "return !document.querySelector('#gal-rows').textContent.includes('Alpha person')",
    );

    // No script error, and nothing in the console but the two refusals of the key prompt.
    no_page_errors(&b, true);
}

#[test]
fn review_unknowns_folder_jobs_and_cancel_in_chromium() {
    let Some(b) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    // Server folders: a small set to enrol, and a large one to cancel while it runs.
    let roots = dir.path().join("photos");
    for (rel, name) in [("alice/a.jpg", "obama.jpg"), ("alice/b.jpg", "obama2.jpg"), ("bob/b.jpg", "biden.jpg")] {
        common::copy(name, &roots.join("small"), rel);
    }
    let big = common::repeated_set(&roots.join("big"), 150);
    let data = dir.path().join("data");
    let s = Server::start(
        &data,
        &[
            ("VISAGE_REVIEW__ENABLED", "true"),
            ("VISAGE_GALLERY__KEEP_CROPS", "true"),
            ("VISAGE_ENROLL__ALLOWED_ROOTS", roots.to_str().unwrap()),
        ],
    );

    // Three strangers recognised: two photos of one man, one of another.
    b.goto(&format!("{}/#/recognise", s.base));
    b.wait("the page's scripts", "return document.querySelector('nav a[aria-current=page]')");
    for name in ["obama.jpg", "obama2.jpg", "biden.jpg"] {
        b.choose_file("#rec-file", &photo(name));
        b.wait(
            &format!("{name} unknown"),
            "return document.querySelector('#rec-summary').textContent.startsWith('1 face: 0 recognised')",
        );
        // Let the next photo start from a clean summary.
        b.js("document.querySelector('#rec-summary').textContent = ''", vec![]);
    }

    // Review: the two photos of Obama are one group, Biden another; name the first group.
    b.click("nav a[data-screen=review]");
    b.wait("two groups", "return document.querySelectorAll('#rev-groups article[data-group]').length === 2");
    let sizes = b.js(
        "return [...document.querySelectorAll('#rev-groups article')].map(a => a.querySelectorAll('li[data-item]').length)",
        vec![],
    );
    assert_eq!(sizes, json!([2, 1]), "{sizes}");
    b.wait("the crops", "return document.querySelectorAll('#rev-groups img.crop:not([hidden])').length === 3");
    b.screenshot("review");
    b.type_into("#rev-groups article:first-child input", "Barack Obama");
    b.click("#rev-groups article:first-child button[type=submit]");
    b.wait("one group left", "return document.querySelectorAll('#rev-groups article[data-group]').length === 1");
    assert!(b.text("#status").contains("2 faces enrolled as Barack Obama"), "{}", b.text("#status"));
    let bytes = common::bytes("obama3.jpg");
    let r = s.multipart("/v1/identify", &[("image", Part::File(&bytes))]);
    assert_eq!(
        r.json["faces"][0]["match"]["subject_name"], "Barack Obama",
        "the named group is recognised: {}",
        r.json
    );
    // "Not a person to keep" asks first, then erases the group.
    b.click("#rev-groups article:first-child button.danger:not(.small)");
    b.wait("the confirmation", "return document.querySelector('#confirm').open");
    b.click("#confirm-ok");
    b.wait("nothing to review", "return document.querySelector('#rev-groups .empty')");
    assert_eq!(s.get("/v1/review/groups").json["total_items"], 0);

    // Bulk from a server folder, then a large one cancelled while it runs.
    b.click("nav a[data-screen=jobs]");
    let small = roots.join("small").to_str().unwrap().to_string();
    b.wait(
        "the folders",
        &format!("return [...document.querySelectorAll('#job-folder option')].some(o => o.value === {})", json!(small)),
    );
    b.js(
        "const s = document.querySelector('#job-folder'); s.value = arguments[0]; s.dispatchEvent(new Event('change'))",
        vec![json!(small)],
    );
    b.click("#job-folder-form button[type=submit]");
    b.wait("the report", "return !document.querySelector('#job-report').hidden");
    assert_eq!(b.js("return document.querySelector('#job-run').dataset.state", vec![]), "completed");
    assert!(b.text("#job-counts").starts_with("3 enrolled of 3 processed"), "{}", b.text("#job-counts"));
    let large = roots.join("big").to_str().unwrap().to_string();
    b.js("const s = document.querySelector('#job-folder'); s.value = arguments[0]", vec![json!(large)]);
    b.click("#job-folder-form button[type=submit]");
    b.wait("the job running", "return document.querySelector('#job-run').dataset.state === 'running'");
    b.click("#job-cancel");
    b.wait("the job cancelled", "return document.querySelector('#job-run').dataset.state === 'cancelled'");
    b.wait("its report", "return !document.querySelector('#job-report').hidden");
    let processed = b.js("return document.querySelector('#job-progress').value", vec![]).as_u64().unwrap();
    assert!(processed < big as u64, "cancelled before the end: {processed} of {big}");
    assert!(b.text("#status").contains("cancelled"), "{}", b.text("#status"));
    b.screenshot("jobs-cancelled");

    no_page_errors(&b, false);
}

#[test]
fn quality_charts_evaluate_a_gallery_of_real_people_in_chromium() {
    let Some(b) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    // Real people under their own names, several photos each (common::labelled_set).
    let roots = dir.path().join("photos");
    common::labelled_set(&roots.join("people"));
    let s = Server::start(&dir.path().join("data"), &[("VISAGE_ENROLL__ALLOWED_ROOTS", roots.to_str().unwrap())]);
    let folder = roots.join("people").to_str().unwrap().to_string();
    let job = s.json(
        "POST",
        "/v1/jobs/enroll",
        &json!({ "source": { "folder": folder }, "gate": { "multi_face": "largest" } }),
    );
    assert_eq!(job.status, 202, "{}", job.json);
    let done = s.wait_job(job.json["id"].as_str().unwrap(), std::time::Duration::from_secs(300));
    assert_eq!(done["state"], "completed", "{done}");

    // The evaluation the screen draws is a real one: most probes found first, genuine pairs
    // above impostors.
    let eval = s.json("POST", "/v1/eval", &json!({}));
    assert_eq!(eval.status, 200, "{}", eval.json);
    let top1 = eval.json["identification"]["top1"].as_f64().unwrap();
    let auc = eval.json["verification"]["auc"].as_f64().unwrap();
    assert!(top1 >= 0.9 && auc >= 0.97, "rank-1 {top1}, AUC {auc}");

    b.goto(&format!("{}/#/quality", s.base));
    b.wait("the page's scripts", "return document.querySelector('nav a[aria-current=page]')");
    // Quality: the evaluation report's charts, drawn in the page.
    b.click("#q-run");
    b.wait("the charts", "return document.querySelectorAll('#q-charts figure svg').length >= 4");
    let titles = b.text("#q-charts");
    for want in ["ROC", "CMC", "Score distributions", "2-D PCA map"] {
        assert!(titles.contains(want), "{want} in {titles}");
    }
    let points = b.js("return document.querySelectorAll('#q-charts svg circle').length", vec![]).as_u64().unwrap();
    assert!(points > 3, "the map has a point per face: {points}");
    b.js("document.querySelector('#q-title').scrollIntoView()", vec![]);
    b.screenshot("quality-charts");

    no_page_errors(&b, false);
}

#[test]
fn keyboard_alone_drives_the_key_prompt_screens_faces_enrolment_and_confirmations_in_chromium() {
    let Some(b) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[("VISAGE_SERVER__API_KEYS", KEY), ("VISAGE_GALLERY__KEEP_CROPS", "true")]);
    b.goto(&format!("{}/", s.base));

    // The key prompt opens with the focus in it; the key is typed and sent with Enter.
    b.wait(
        "the key prompt, focused",
        "return document.querySelector('#key-dialog').open && document.activeElement.id === 'key-input'",
    );
    assert_eq!(assert_labelled(&b, "#key-dialog"), 3);
    b.press(KEY);
    b.press(key::ENTER);
    b.wait("the prompt to close", "return !document.querySelector('#key-dialog').open");
    assert_eq!(b.js("return sessionStorage.getItem('visage.apiKey')", vec![]), KEY);

    // Tab reaches the nav (after the skip link); the focus shows; Enter switches screens and
    // gives the new one the focus.
    assert_eq!(b.tab_to("nav a[data-screen=gallery]", false), 4, "skip link, recognise, verify, gallery");
    let ring = b.js(
        "const e = document.activeElement; return [e.matches(':focus-visible'), getComputedStyle(e).outlineStyle]",
        vec![],
    );
    assert_eq!(ring, json!([true, "solid"]), "the focus is visible on a nav link");
    b.press(key::ENTER);
    b.wait("the gallery", "return !document.querySelector('section[data-screen=gallery]').hidden");
    assert!(b.has_focus("main"), "the new screen has the focus: {}", b.focused());
    // The skip link moves the focus to the screen, and stays on it.
    b.tab_to(".skip", true);
    b.press(key::ENTER);
    assert!(b.has_focus("main"), "the skip link leads to the content: {}", b.focused());
    assert_eq!(b.js("return location.hash", vec![]), "#/gallery");
    assert!(b.js("return document.querySelector('section[data-screen=gallery]').hidden", vec![]) == false);
    b.tab_to("nav a[data-screen=recognise]", true);
    b.press(key::ENTER);
    b.wait("the recognise screen", "return !document.querySelector('section[data-screen=recognise]').hidden");

    // The photo input is the screen's first stop, its label showing the focus; a photo is chosen
    // by typing its path (headless Chromium has no file chooser).
    assert_eq!(b.tab_to("#rec-file", false), 1, "the photo input first");
    let label_ring =
        b.js("return getComputedStyle(document.querySelector('label[for=rec-file]')).outlineStyle", vec![]);
    assert_eq!(label_ring, "solid", "the focused input's label shows the focus");
    b.choose_file("#rec-file", &photo("obama.jpg"));
    b.wait(
        "one unknown face",
        "return document.querySelector('#rec-summary').textContent.startsWith('1 face: 0 recognised')",
    );
    // Tab reaches the face's box; Enter opens it; its name is typed and Enter enrols it.
    b.tab_to("#rec-boxes .box", false);
    assert_eq!(b.js("return getComputedStyle(document.activeElement).outlineStyle", vec![]), "solid");
    b.press(key::ENTER);
    b.wait("the face panel", "return !document.querySelector('#rec-detail').hidden");
    assert_eq!(b.js("return document.querySelector('#rec-boxes .box').getAttribute('aria-pressed')", vec![]), "true");
    b.tab_to("#rec-enrol-name", false);
    b.press("Barack Obama");
    b.press(key::ENTER);
    b.wait(
        "the face recognised",
        "return document.querySelector('#rec-summary').textContent.startsWith('1 face: 1 recognised')",
    );
    assert!(b.text("#status").contains("enrolled as Barack Obama"), "{}", b.text("#status"));
    let obama = with_key(&s, "GET", "/v1/subjects", &json!({}))["subjects"][0]["id"].as_str().unwrap().to_string();
    add_face(&s, &obama, "obama2.jpg");

    // The gallery: to the subject's page; deleting a face asks, Escape cancels (the focus returns
    // to the button), then Shift+Tab to the confirming button and Space deletes it.
    b.tab_to("nav a[data-screen=gallery]", true);
    b.press(key::ENTER);
    b.wait("Obama's row", "return document.querySelector('#gal-rows tr[data-subject] a')");
    b.tab_to("#gal-rows a", false);
    b.press(key::ENTER);
    b.wait("two faces", "return document.querySelectorAll('#sub-faces tr[data-face]').length === 2");
    let face = b.js("return document.querySelector('#sub-faces tr[data-face]').dataset.face", vec![]);
    b.tab_to("#sub-faces button.danger", false);
    b.press(key::ENTER);
    b.wait("the confirmation", "return document.querySelector('#confirm').open");
    assert!(b.has_focus("#confirm-cancel"), "the safe choice has the focus: {}", b.focused());
    assert_eq!(assert_labelled(&b, "#confirm"), 2);
    b.press(key::ESCAPE);
    b.wait("the dialog closed", "return !document.querySelector('#confirm').open");
    assert!(b.has_focus("#sub-faces button.danger"), "the focus returns: {}", b.focused());
    b.press(key::ENTER);
    b.wait("the confirmation", "return document.querySelector('#confirm').open");
    // Cancelled and asked again within one task: the first close's event, which the browser
    // queues, must not answer the second question (under load it can arrive after the reopening).
    b.js(
        "document.querySelector('#confirm-cancel').click();
         document.querySelector('#sub-faces button.danger').click();",
        vec![],
    );
    assert!(b.js("return document.querySelector('#confirm').open", vec![]) == true, "asked again");
    assert!(b.has_focus("#confirm-cancel"), "the safe choice has the focus: {}", b.focused());
    assert_eq!(b.tab_to("#confirm-ok", true), 1);
    b.press(key::SPACE);
    b.wait("one face left", "return document.querySelectorAll('#sub-faces tr[data-face]').length === 1");
    let left = with_key(&s, "GET", &format!("/v1/subjects/{obama}/faces"), &json!({}));
    let ids: Vec<String> = left["faces"].as_array().unwrap().iter().map(|f| f["id"].to_string()).collect();
    assert_eq!(ids.len(), 1, "Escape deleted nothing, the confirmation one face: {left}");
    assert_ne!(ids[0], face.as_str().unwrap(), "the confirmed face is the one deleted");

    // The key prompt again from its button (Space), closed with Escape: the key is kept.
    b.tab_to("#key-button", true);
    b.press(key::SPACE);
    b.wait("the key prompt", "return document.querySelector('#key-dialog').open");
    assert!(b.has_focus("#key-input"), "{}", b.focused());
    b.press(key::ESCAPE);
    b.wait("the prompt to close", "return !document.querySelector('#key-dialog').open");
    assert!(b.has_focus("#key-button"), "{}", b.focused());
    assert_eq!(b.js("return sessionStorage.getItem('visage.apiKey')", vec![]), KEY);

    no_page_errors(&b, true);
}

#[test]
fn every_screen_fits_phone_and_desktop_widths_with_every_control_named_in_chromium() {
    let Some(b) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let roots = dir.path().join("photos");
    common::copy("obama.jpg", &roots.join("a-folder-with-a-rather-long-name-for-a-phone"), "alice/a.jpg");
    let s = Server::start(
        &dir.path().join("data"),
        &[
            ("VISAGE_REVIEW__ENABLED", "true"),
            ("VISAGE_GALLERY__KEEP_CROPS", "true"),
            ("VISAGE_ENROLL__ALLOWED_ROOTS", roots.to_str().unwrap()),
        ],
    );
    let obama = enrol(&s, "Barack Obama", "obama.jpg");
    add_face(&s, &obama, "obama3.jpg");
    enrol(&s, "Joe Biden", "biden.jpg");

    // Each screen in its fullest state: a group photo (its six strangers kept for review), a
    // verdict, a job's report, calibration figures and the evaluation's charts.
    b.goto(&format!("{}/#/recognise", s.base));
    b.choose_file("#rec-file", &photo("t1.jpg"));
    b.wait("six boxes", "return document.querySelector('#rec-summary').textContent.startsWith('6 faces')");
    b.click("#rec-boxes .box");
    b.wait("the face panel", "return !document.querySelector('#rec-detail').hidden");
    b.click("nav a[data-screen=verify]");
    b.choose_file("#ver-a", &photo("obama.jpg"));
    b.choose_file("#ver-b", &photo("obama2.jpg"));
    b.click("#ver-form button[type=submit]");
    b.wait("the verdict", "return !document.querySelector('#ver-result').hidden");
    let archive = dir.path().join("people.zip");
    zip_of(
        &archive,
        &[
            ("obama/a.jpg", "obama_bright.jpg"),
            ("obama/b.jpg", "obama_gray.jpg"),
            ("hopper/a.jpg", "hopper.jpg"),
            ("nobody/c.png", "coffee.png"),
        ],
    );
    b.click("nav a[data-screen=jobs]");
    b.choose_file("#job-file", &archive);
    b.click("#job-form button[type=submit]");
    b.wait("the report", "return !document.querySelector('#job-report').hidden");
    b.click("nav a[data-screen=quality]");
    b.click("#cal-form button[type=submit]");
    b.wait("the calibration", "return !document.querySelector('#cal-result').hidden");
    b.click("#q-run");
    b.wait("the charts", "return document.querySelectorAll('#q-charts figure svg').length >= 4");

    // Each screen at each width: nothing scrolls sideways; at desktop width every control has a
    // name (how many there are at least, so that none is missed by being absent).
    // Each screen: its route, when it is ready, how many controls it has at least, and what the
    // phone screenshot shows first.
    let screens = [
        (
            "recognise",
            "#/recognise".to_string(),
            "document.querySelectorAll('#rec-boxes .box').length === 6",
            12,
            "#rec-title",
        ),
        ("verify", "#/verify".to_string(), "!document.querySelector('#ver-result').hidden", 3, "#ver-title"),
        (
            "gallery",
            format!("#/gallery/{obama}"),
            "document.querySelectorAll('#sub-faces tr[data-face]').length === 2",
            8,
            "#sub-title",
        ),
        ("jobs", "#/jobs".to_string(), "!document.querySelector('#job-report').hidden", 6, "#job-run"),
        (
            "review",
            "#/review".to_string(),
            "document.querySelectorAll('#rev-groups article').length > 0",
            6,
            "#rev-title",
        ),
        ("quality", "#/quality".to_string(), "document.querySelectorAll('#q-charts svg').length >= 4", 4, "#q-title"),
        (
            "system",
            "#/system".to_string(),
            "document.querySelector('#sys-facts').textContent.includes('Vector index')",
            2,
            "#sys-title",
        ),
    ];
    assert!(assert_labelled(&b, "header") >= 7, "the nav's links");
    for (width, height) in [(1280, 800), (390, 844)] {
        b.resize(width, height);
        // The page learns its new size in its own time.
        let fits = format!("const w = document.documentElement.clientWidth; return w <= {width} && w + 40 >= {width}");
        b.wait(&format!("the window {width} wide"), &fits);
        for (name, hash, ready, controls, first) in &screens {
            b.js("location.hash = arguments[0]", vec![json!(hash)]);
            b.wait(
                &format!("the {name} screen"),
                &format!("return !document.querySelector('section[data-screen={name}]').hidden && {ready}"),
            );
            assert_fits(&b, &format!("{name} at {width} px"));
            let shown = b.js(
                "return [...document.querySelectorAll('[hidden]')].filter(e => e.checkVisibility()).map(e => e.id)",
                vec![],
            );
            assert_eq!(shown, json!([]), "{name}: hidden elements are not shown");
            if width < 800 {
                b.js("document.querySelector(arguments[0]).scrollIntoView()", vec![json!(first)]);
                b.screenshot(&format!("phone-{name}"));
            } else {
                let named = assert_labelled(&b, &format!("section[data-screen={name}]"));
                assert!(named >= *controls, "{name}: {named} controls, expected at least {controls}");
            }
        }
    }
    assert_eq!(b.js("return window.visageErrors", vec![]), json!([]));
}
