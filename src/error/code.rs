//! Every error code the API and the CLI can answer, declared once with its HTTP status and what
//! it means (as meilisearch's `error.rs` does). Clients may rely on this table; the README
//! prints it. A code string is stable; two rows share one only where the API always answered
//! it with two statuses (`invalid_parameter`, `incompatible_model`), or where a door tells two
//! cases apart that clients see as one (`not_found` for a subject).

use std::fmt;

use crate::index::IndexError;

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = ($code:literal, $status:literal, $meaning:literal);)*) => {
        /// A stable, machine-readable error code with its HTTP status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[$doc])* $name,)*
        }

        impl Code {
            /// Every code, in table order.
            pub const ALL: &'static [Code] = &[$(Code::$name,)*];

            /// The string clients see as `code`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$name => $code,)* }
            }

            /// The HTTP status answered with it.
            pub fn status(self) -> u16 {
                match self { $(Code::$name => $status,)* }
            }

            /// What it means, for people (the README's table).
            pub fn meaning(self) -> &'static str {
                match self { $(Code::$name => $meaning,)* }
            }
        }
    };
}

codes! {
    // The request as sent (HTTP door).
    InvalidJson = ("invalid_json", 400, "The body (or a JSON field) is not valid JSON of the expected shape.");
    InvalidPath = ("invalid_path", 400, "A path parameter has the wrong type.");
    InvalidQuery = ("invalid_query", 400, "A query parameter has the wrong type or value.");
    InvalidBody = ("invalid_body", 400, "The body could not be read.");
    EmptyBody = ("empty_body", 400, "The request has no body.");
    InvalidMultipart = ("invalid_multipart", 400, "The multipart body is malformed.");
    InvalidField = ("invalid_field", 400, "A form field has the wrong type or is not UTF-8 text.");
    InvalidBase64 = ("invalid_base64", 400, "An image field of a JSON body is not valid base64.");
    MissingField = ("missing_field", 400, "A required image field is absent.");
    UnknownAttribute = ("unknown_attribute", 400, "An `attributes` (or CompreFace `face_plugins`) name is not one Visage computes: age, gender.");
    /// A job request's option (the quality gate) is unknown or out of range.
    InvalidOption = ("invalid_parameter", 400, "A job's gate option is unknown or out of range.");
    Unauthorized = ("unauthorized", 401, "A valid API key is required (X-API-Key or Authorization: Bearer).");
    Forbidden = ("forbidden", 403, "The API key is read-only (server.read_keys) and the route writes: enrol, delete, rename, merge, jobs, an applied calibration.");
    PathNotAllowed = ("path_not_allowed", 403, "A server-side source lies outside enroll.allowed_roots (or a link in it leads outside).");
    RouteNotFound = ("not_found", 404, "No such route.");
    RequestTimeout = ("request_timeout", 408, "The request's body paused longer than server.body_timeout_s (its head: server.client_request_timeout_ms).");
    BodyTooLarge = ("body_too_large", 413, "The body exceeds the request size limit (server.max_body_bytes).");
    TooManyFields = ("too_many_fields", 413, "The body has more parts or fields than server.max_form_fields.");
    FieldTooLarge = ("field_too_large", 413, "A text part of a multipart body exceeds server.max_field_bytes.");
    UploadTooLarge = ("upload_too_large", 413, "An uploaded archive exceeds enroll.max_upload_bytes.");
    ArchiveTooLarge = ("archive_too_large", 413, "A job's archive decompresses to more than enroll.max_archive_bytes, or its zip directory lists more than enroll.max_archive_entries entries.");
    UnsupportedMediaType = ("unsupported_media_type", 415, "The content type is not one the route accepts.");
    // Images.
    EmptyImage = ("empty_image", 400, "The image is empty (0 bytes).");
    CorruptImage = ("corrupt_image", 400, "The bytes look like an image but cannot be decoded.");
    ImageTooLarge = ("image_too_large", 413, "The image exceeds limits.max_image_bytes, max_image_pixels or max_image_side.");
    UnsupportedFormat = ("unsupported_format", 415, "The bytes are not an image in a supported format.");
    // Requests that cannot be carried out as asked.
    InvalidParameter = ("invalid_parameter", 422, "A parameter is out of range (k, threshold, limit, by, face, rates).");
    InvalidId = ("invalid_id", 422, "An id is not 1-128 characters of letters, digits, '.', '_', '-', ':', '@'.");
    NoFace = ("no_face", 422, "No face was found in the image.");
    MultipleFaces = ("multiple_faces", 422, "Several faces were found where one was expected; say which with `face`.");
    SubjectHasNoFaces = ("subject_has_no_faces", 422, "The subject to verify against has no enrolled face.");
    InvalidEmbedding = ("invalid_embedding", 422, "A query embedding has the wrong length, is not finite or is all zero.");
    InvalidSource = ("invalid_source", 422, "A job or evaluation source cannot be read or is of an unknown kind.");
    InvalidManifest = ("invalid_manifest", 422, "A manifest cannot be parsed.");
    InvalidPairs = ("invalid_pairs", 422, "A pairs file cannot be read or parsed.");
    InvalidEvaluation = ("invalid_evaluation", 422, "The evaluation protocol cannot run on these samples.");
    InsufficientData = ("insufficient_data", 422, "The gallery is too small to calibrate for these targets.");
    GalleryTooLarge = ("gallery_too_large", 422, "The gallery is too large to evaluate online; use `visage eval`.");
    NoGallery = ("no_gallery", 422, "There is no gallery to read.");
    ModelRequired = ("model_required", 422, "The embeddings' model must be named (--model).");
    UnknownModel = ("unknown_model", 422, "No model this server has loaded has this id.");
    DimensionMismatch = ("dimension_mismatch", 422, "A vector's length is not the index's dimension.");
    InvalidVector = ("invalid_vector", 422, "A vector is not finite or not unit length.");
    InvalidArgument = ("invalid_argument", 422, "An index argument is out of range.");
    // The gallery's state.
    NotFound = ("not_found", 404, "The subject, face, job, crop or collection does not exist.");
    /// A subject that does not exist: `not_found` to clients, told apart for the doors that
    /// answer it differently (CompreFace's code 42).
    SubjectNotFound = ("not_found", 404, "The subject, face, job, crop or collection does not exist.");
    CropNotKept = ("crop_not_kept", 404, "The face exists but no crop of it was kept (gallery.keep_crops is off).");
    SubjectExists = ("subject_exists", 409, "A subject with this id exists already.");
    CollectionExists = ("collection_exists", 409, "A collection with this id exists already.");
    ExternalIdTaken = ("external_id_taken", 409, "The external id belongs to a face of another subject.");
    JobExists = ("job_exists", 409, "A job with this id exists with another source or options.");
    ModelMismatch = ("model_mismatch", 409, "The gallery holds embeddings of another model than the configured one.");
    /// Embeddings to import are of another model than the gallery's.
    IncompatibleEmbeddings = ("incompatible_model", 409, "Embeddings to import are of another model than the gallery's.");
    GalleryLocked = ("gallery_locked", 409, "Another process has the gallery open.");
    IndexDrift = ("index_drift", 409, "`visage check` found the vector index out of step with the store: run `visage reindex`.");
    // The service.
    Internal = ("internal", 500, "An internal error (see the server log).");
    InvalidConfig = ("invalid_config", 500, "The configuration is invalid.");
    IncompatibleModel = ("incompatible_model", 500, "A model file does not look like what the configuration says it is.");
    InferenceFailed = ("inference_failed", 500, "ONNX Runtime failed while running a model.");
    StoreError = ("store_error", 500, "The gallery database (or a file the service writes) failed.");
    StorageFull = ("storage_full", 507, "The disk holding the gallery is full: the write was refused and nothing changed; free space and retry.");
    IndexMissing = ("index_missing", 500, "The persisted vector index is missing.");
    IndexCorrupt = ("index_corrupt", 500, "The persisted vector index is corrupt.");
    IndexStale = ("index_stale", 500, "The persisted vector index does not match the configuration.");
    IndexIo = ("index_io", 500, "The vector index could not be read or written.");
    IndexHnsw = ("index_hnsw", 500, "The HNSW library failed.");
    IndexBackend = ("index_backend", 500, "The remote vector index (Qdrant) refused a request (API key, collection shape).");
    IndexUnavailable = ("index_unavailable", 503, "The remote vector index (Qdrant) cannot be reached; enrolments are still stored and indexed once it is back. Retry after Retry-After seconds.");
    SetupRequired = ("setup_required", 503, "A model or ONNX Runtime is missing: run ./scripts/setup.sh.");
    Busy = ("busy", 503, "Every worker is busy and the queue is full or timed out; retry after Retry-After seconds.");
}

impl Code {
    /// True when the caller, not the service, is at fault (4xx).
    pub fn is_client_error(self) -> bool {
        self.status() < 500
    }

    /// The code of a failed read or write: `storage_full` when the disk is full, else
    /// `store_error`.
    pub fn of_io(e: &std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::StorageFull {
            Self::StorageFull
        } else {
            Self::StoreError
        }
    }

    /// The code of an index error (a full disk under the index is `storage_full`).
    pub fn of_index(e: &IndexError) -> Self {
        match e {
            IndexError::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull => Self::StorageFull,
            IndexError::DimensionMismatch { .. } => Self::DimensionMismatch,
            IndexError::InvalidVector { .. } => Self::InvalidVector,
            IndexError::InvalidArgument(_) => Self::InvalidArgument,
            IndexError::Missing { .. } => Self::IndexMissing,
            IndexError::Corrupt { .. } => Self::IndexCorrupt,
            IndexError::Stale { .. } => Self::IndexStale,
            IndexError::Io { .. } => Self::IndexIo,
            IndexError::Hnsw(_) => Self::IndexHnsw,
            IndexError::Unavailable { .. } => Self::IndexUnavailable,
            IndexError::Backend(_) => Self::IndexBackend,
        }
    }

    /// The table as Markdown (code, status, meaning), a row printed once however many codes
    /// share it.
    pub fn markdown_table() -> String {
        let mut out = String::from("| code | status | meaning |\n|---|---|---|\n");
        let mut seen = std::collections::HashSet::new();
        for c in Self::ALL.iter().filter(|c| seen.insert((c.as_str(), c.status(), c.meaning()))) {
            out.push_str(&format!("| `{}` | {} | {} |\n", c.as_str(), c.status(), c.meaning()));
        }
        out
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

#[cfg(test)]
mod tests {
    use super::Code;

    #[test]
    fn statuses_are_http_and_the_table_prints_each_row_once() {
        for c in Code::ALL {
            assert!((400..600).contains(&c.status()), "{c}");
        }
        let rows = Code::markdown_table().lines().count() - 2;
        assert_eq!(rows, Code::ALL.len() - 1, "only SubjectNotFound repeats another row");
    }

    #[test]
    fn a_full_disk_is_storage_full_wherever_it_is_met() {
        use std::io::{Error, ErrorKind};
        let full = || Error::from_raw_os_error(28); // ENOSPC
        assert_eq!(full().kind(), ErrorKind::StorageFull);
        let index = crate::index::IndexError::Io { path: "index".into(), source: full() };
        assert_eq!(Code::of_index(&index), Code::StorageFull);
        assert_eq!(crate::VisageError::Index(index).code().status(), 507);
        assert_eq!(crate::VisageError::io("a file", full()).code(), Code::StorageFull);
        let other = crate::VisageError::io("a file", Error::from(ErrorKind::PermissionDenied));
        assert_eq!((other.code(), other.code().status()), (Code::StoreError, 500));
    }

    #[test]
    fn the_readme_prints_the_table() {
        let readme = include_str!("../../README.md");
        for c in Code::ALL {
            let row = format!("| `{}` | {} |", c.as_str(), c.status());
            assert!(readme.contains(&row), "README lacks the row {row}");
        }
    }
}
