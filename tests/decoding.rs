//! Every kind of image a user may send: formats, colour types, broken files, bombs.

mod common;

use common::{bytes, cosine, one_face, pipeline};

#[test]
fn every_supported_format_decodes_to_the_same_face() {
    let reference = one_face("hopper.png");
    for name in ["hopper.jpg", "hopper.webp", "hopper.tif", "hopper.bmp", "hopper.gif"] {
        let c = cosine(&reference, &one_face(name));
        assert!(c >= 0.8, "{name}: cosine {c} to the PNG");
    }
}

#[test]
fn colour_types_become_rgb() {
    let reference = one_face("obama.jpg");
    for name in ["obama_cmyk.jpg", "obama_16bit.png", "obama_rgba.png", "obama_gray.jpg"] {
        let image = pipeline().decode(&bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(image.dimensions(), (910, 1137), "{name}");
        let c = cosine(&reference, &one_face(name));
        // Greyscale loses colour, the others must be practically identical.
        let floor = if name.contains("gray") { 0.8 } else { 0.99 };
        assert!(c >= floor, "{name}: cosine {c} to the original");
    }
    // CMYK from Pillow's own corpus and 1-bit / 16-bit grey decode too (they contain no face).
    for name in ["pil_sample_cmyk.jpg", "hopper_bw_500.png", "32bit.png"] {
        pipeline().decode(&bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn files_with_quirky_metadata_still_decode() {
    for name in ["quirk_hopper_bad_exif.jpg", "quirk_invalid-exif.jpg", "quirk_exif-dpi-zerodivision.jpg", "psmove.png"]
    {
        pipeline().decode(&bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn broken_files_are_rejected_with_a_code() {
    let dir = common::testdata();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("broken_"))
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    names.extend(["truncated_obama.jpg", "empty.jpg", "not_an_image.jpg", "hopper.ppm"].map(String::from));
    for name in names {
        let err = pipeline().decode(&bytes(&name)).err().unwrap_or_else(|| panic!("{name} decoded"));
        assert!(err.is_client_error(), "{name}: {err}");
        let code = err.code().as_str();
        assert!(["corrupt_image", "unsupported_format", "empty_image"].contains(&code), "{name}: {code}");
    }
}

#[test]
fn decompression_bombs_fail_fast_without_allocating() {
    for name in ["bomb_png_huge.png", "bomb_gif.gif", "bomb_ico.ico", "bomb_png_text.png", "bomb_gif_extents.gif"] {
        match pipeline().decode(&bytes(name)) {
            Err(e) => assert!(e.is_client_error(), "{name}: {e}"),
            // A bomb whose real frame is small may decode; it must then be small.
            Ok(image) => assert!(u64::from(image.width()) * u64::from(image.height()) <= 1 << 20, "{name}"),
        }
    }
    let err = pipeline().decode(&bytes("bomb_png_huge.png")).unwrap_err();
    assert_eq!(err.code(), "image_too_large", "{err}");
}

#[test]
fn a_sideways_face_without_exif_decodes_and_yields_sane_detections() {
    // Upright-trained detectors may or may not find a sideways face; if one is found it must
    // not crash, and any face it reports is a real detection with landmarks inside the image.
    let p = pipeline();
    let image = p.decode(&bytes("obama_rot90.jpg")).unwrap();
    assert_eq!(image.dimensions(), (1137, 910));
    for f in p.faces(&image).unwrap() {
        assert!(f
            .detection
            .landmarks
            .iter()
            .all(|l| l[0] >= -50.0 && l[0] <= 1187.0 && l[1] >= -50.0 && l[1] <= 960.0));
    }
}
