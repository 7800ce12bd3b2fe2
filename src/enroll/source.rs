//! Where a bulk job's photos come from: a labelled folder (`ROOT/<subject>/*.jpg`, the layout
//! of LFW and deepface), a zip or tar(.gz) archive of the same layout, or a manifest (CSV or
//! JSON) of (subject, path, external id). Items are streamed one at a time: nothing but the
//! current item's bytes is held, so a 100k-photo folder costs no more memory than a small one.

use std::cell::Cell;
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;
use utoipa::ToSchema;

use crate::error::{Code, Result, VisageError};

/// A job's source, as stored with the job and given in `POST /v1/jobs/enroll`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// `ROOT/<subject>/<photo>`: the folder holding a photo names its subject.
    #[schema(value_type = String)]
    Folder(PathBuf),
    /// A zip, tar or tar.gz archive with the folder layout inside.
    #[schema(value_type = String)]
    Archive(PathBuf),
    /// CSV with a header (`subject,path[,external_id][,name]`), a JSON array or JSON Lines of
    /// objects with those keys; relative paths are relative to the manifest's folder.
    #[schema(value_type = String)]
    Manifest(PathBuf),
    /// Embeddings computed elsewhere, imported without any model run: a `.npy` (`[N, D]`
    /// float32) with a subjects CSV, or JSON Lines (see [`super::embeddings`]).
    Embeddings(EmbeddingsFile),
}

/// An embeddings file and, for a `.npy`, its subjects CSV (default: `FILE.subjects.csv`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingsFile {
    #[schema(value_type = String)]
    pub file: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub subjects: Option<PathBuf>,
}

/// One photo of a job. `name` (its path inside the source) identifies it within the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// Subject id (letters, digits, `._-:@`), derived from the folder name or the manifest.
    pub subject: String,
    /// Display name for a subject the job creates (the folder name as written).
    pub subject_name: String,
    pub external_id: Option<String>,
}

/// Bounds on what an archive may cost, against archive bombs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Bytes an archive may decompress to in all (`enroll.max_archive_bytes`): a tar stream as
    /// it comes out of gzip, or a zip's members as they are read.
    pub bytes: u64,
    /// Entries a zip's central directory may list (`enroll.max_archive_entries`); the directory
    /// may also hold at most 1 KiB per allowed entry. Checked before it is loaded.
    pub entries: u64,
}

impl ArchiveLimits {
    /// No bound (tests, tools reading trusted files).
    pub const NONE: Self = Self { bytes: u64::MAX, entries: u64::MAX };
}

/// What a walk may read: one photo's bytes, and an archive's totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Largest photo (`limits.max_image_bytes`); larger entries are reported, not read.
    pub item_bytes: usize,
    pub archive: ArchiveLimits,
}

/// Why an entry's bytes could not be read (reported per item, the job goes on).
pub type ReadResult = std::result::Result<Vec<u8>, String>;

/// What the walk calls for each entry: given the entry and a reader of its bytes (call it only
/// for entries you will process), return `Break` to stop.
pub type Visit<'a> = dyn FnMut(Entry, &mut dyn FnMut() -> ReadResult) -> ControlFlow<()> + 'a;

const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif", "pgm", "ppm", "pbm"];

/// True when a file name has a photo extension (case-insensitive) and is not hidden.
fn is_photo(path: &Path) -> bool {
    let hidden = path.file_name().and_then(|n| n.to_str()).is_none_or(|n| n.starts_with('.'));
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    !hidden && ext.is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str()))
}

/// The subject a photo belongs to by the folder layout: the name of the folder holding it.
fn subject_of(rel: &Path) -> Option<String> {
    let parent = rel.parent()?.file_name()?.to_str()?;
    Some(parent.to_string())
}

/// A valid subject id from a folder name. A name that is already one is kept; otherwise the
/// characters outside `[A-Za-z0-9._-:@]` become `_` and a hash of the name is appended, so that
/// different names (`王伟`, `李娜`; `a b`, `a_b`) never fall into one subject. Empty for a photo
/// outside any subject folder.
pub fn subject_id(label: &str) -> String {
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '@');
    if label.is_empty() || (label.len() <= 128 && label.chars().all(valid)) {
        return label.to_string();
    }
    let cleaned: String = label.chars().map(|c| if valid(c) { c } else { '_' }).take(119).collect();
    let hash = hex::encode(&sha2::Sha256::digest(label.as_bytes())[..4]);
    format!("{cleaned}-{hash}")
}

fn layout_entry(rel: &Path) -> Entry {
    let name = rel.to_string_lossy().into_owned();
    let label = subject_of(rel).unwrap_or_default();
    Entry { name, subject: subject_id(&label), subject_name: label, external_id: None }
}

/// Reads at most `max` bytes, failing when there are more.
fn read_limited(reader: impl Read, max: usize) -> ReadResult {
    let mut bytes = Vec::new();
    reader.take(max as u64 + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() > max {
        return Err(format!("larger than limits.max_image_bytes ({max} bytes)"));
    }
    Ok(bytes)
}

impl Source {
    /// The path the source was given as.
    pub fn path(&self) -> &Path {
        match self {
            Self::Folder(p) | Self::Archive(p) | Self::Manifest(p) => p,
            Self::Embeddings(e) => &e.file,
        }
    }

    /// Infers the kind from the path: a directory, an archive (`.zip`, `.tar`, `.tar.gz`,
    /// `.tgz`) or a manifest (`.csv`, `.json`, `.jsonl`, `.ndjson`).
    pub fn infer(path: &Path) -> Result<Self> {
        if path.is_dir() {
            return Ok(Self::Folder(path.to_path_buf()));
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_ascii_lowercase();
        if [".zip", ".tar", ".tar.gz", ".tgz"].iter().any(|e| name.ends_with(e)) {
            Ok(Self::Archive(path.to_path_buf()))
        } else if [".csv", ".json", ".jsonl", ".ndjson"].iter().any(|e| name.ends_with(e)) {
            Ok(Self::Manifest(path.to_path_buf()))
        } else {
            Err(VisageError::unprocessable(
                Code::InvalidSource,
                format!(
                    "{}: not a folder, an archive (.zip/.tar/.tar.gz) or a manifest (.csv/.json/.jsonl)",
                    path.display()
                ),
            ))
        }
    }

    /// Checks that the source (and, for a manifest, later each of its paths) lies under one of
    /// `roots`; symbolic links are resolved first. Returns the source with its resolved path, so
    /// that a link changed later cannot redirect it.
    pub fn check_allowed(&self, roots: &[PathBuf]) -> Result<Self> {
        let real = within(self.path(), roots)?;
        Ok(match self {
            Self::Folder(_) => Self::Folder(real),
            Self::Archive(_) => Self::Archive(real),
            Self::Manifest(_) => Self::Manifest(real),
            Self::Embeddings(e) => {
                let beside = super::embeddings::subjects_beside(&e.file);
                let subjects = match &e.subjects {
                    Some(s) => Some(within(s, roots)?),
                    // The default CSV beside the file is read too, so it is confined as well.
                    None if beside.is_file() => Some(within(&beside, roots)?),
                    None => None,
                };
                Self::Embeddings(EmbeddingsFile { file: real, subjects })
            }
        })
    }

    /// Number of entries (a names-only pass, for progress and ETA; a compressed archive is
    /// decompressed, within `archive`). `None` when `stop()` turned true first (a cancelled
    /// job, a shutdown).
    pub fn count(
        &self,
        roots: Option<&[PathBuf]>,
        archive: ArchiveLimits,
        stop: &dyn Fn() -> bool,
    ) -> Result<Option<u64>> {
        if let Self::Embeddings(e) = self {
            return Ok(Some(super::embeddings::Reader::open(&e.file, e.subjects.as_deref())?.count()?));
        }
        let mut n = 0u64;
        let mut stopped = false;
        self.walk(roots, ReadLimits { item_bytes: usize::MAX, archive }, &mut |_, _| {
            stopped = stop();
            n += 1;
            if stopped {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        Ok((!stopped).then_some(n))
    }

    /// Visits every entry in a stable order (sorted names; archive and manifest order).
    /// `roots`, when given, confines a manifest's paths. Entries larger than
    /// `limits.item_bytes` are reported as unreadable without being read; an archive past
    /// `limits.archive` stops the walk with `archive_too_large`. Archive members whose names
    /// would leave the archive (`..`, absolute paths) and links are reported, never read.
    pub fn walk(&self, roots: Option<&[PathBuf]>, limits: ReadLimits, visit: &mut Visit) -> Result<()> {
        let fail = |e: std::io::Error| {
            VisageError::unprocessable(Code::InvalidSource, format!("{}: {e}", self.path().display()))
        };
        let max_bytes = limits.item_bytes;
        match self {
            Self::Folder(root) => walk_folder(root, roots, max_bytes, visit),
            Self::Archive(path) => walk_archive(File::open(path).map_err(fail)?, max_bytes, limits.archive, visit)
                .map_err(|e| match e {
                    ArchiveFailure::Io(e) => fail(e),
                    ArchiveFailure::TooLarge(m) => too_large(path, &m),
                }),
            Self::Manifest(path) => walk_manifest(path, roots, max_bytes, visit),
            Self::Embeddings(e) => Err(VisageError::unprocessable(
                Code::InvalidSource,
                format!("{} holds embeddings, not photos (visage import)", e.file.display()),
            )),
        }
    }
}

/// `path` canonicalised, if it lies under one of `roots`.
fn within(path: &Path, roots: &[PathBuf]) -> Result<PathBuf> {
    let real = path
        .canonicalize()
        .map_err(|e| VisageError::unprocessable(Code::InvalidSource, format!("{}: {e}", path.display())))?;
    if roots.iter().filter_map(|r| r.canonicalize().ok()).any(|r| real.starts_with(r)) {
        Ok(real)
    } else {
        Err(VisageError::Unprocessable {
            code: Code::PathNotAllowed,
            message: format!(
                "{} is outside enroll.allowed_roots; the server reads only folders it is configured to (or upload an archive)",
                path.display()
            ),
        })
    }
}

fn walk_folder(root: &Path, roots: Option<&[PathBuf]>, max_bytes: usize, visit: &mut Visit) -> Result<()> {
    if !root.is_dir() {
        return Err(VisageError::unprocessable(Code::InvalidSource, format!("{} is not a folder", root.display())));
    }
    // Symbolic links (to photos or to subject folders) are followed, as datasets are often
    // assembled from links; with `roots` (a server job) each photo must still resolve inside
    // them, so a link cannot lead a job outside the folders it may read. Link loops are
    // reported as items.
    for item in walkdir::WalkDir::new(root).follow_links(true).sort_by_file_name() {
        let item = match item {
            Ok(item) => item,
            Err(e) => {
                // An unreadable folder or file is reported as an item, not skipped in silence.
                let rel = e.path().and_then(|p| p.strip_prefix(root).ok()).map(Path::to_path_buf).unwrap_or_default();
                let message = e.to_string();
                if visit(layout_entry(&rel), &mut || Err(message.clone())).is_break() {
                    break;
                }
                continue;
            }
        };
        if !item.file_type().is_file() || !is_photo(item.path()) {
            continue;
        }
        let rel = item.path().strip_prefix(root).unwrap_or(item.path());
        let path = item.path().to_path_buf();
        let mut read = || {
            let real = match roots {
                Some(roots) => within(&path, roots).map_err(|_| {
                    let target = path.canonicalize().unwrap_or_else(|_| path.clone());
                    format!(
                        "{} is a link to {}, outside enroll.allowed_roots (links are followed only within them)",
                        rel.display(),
                        target.display()
                    )
                })?,
                None => path.clone(),
            };
            File::open(&real).map_err(|e| e.to_string()).and_then(|f| read_limited(f, max_bytes))
        };
        if visit(layout_entry(rel), &mut read).is_break() {
            break;
        }
    }
    Ok(())
}

/// Bytes an archive may still decompress to; once past, every read fails.
struct Budget {
    left: Cell<u64>,
    exceeded: Cell<bool>,
}

impl Budget {
    fn new(bytes: u64) -> Self {
        Self { left: Cell::new(bytes), exceeded: Cell::new(false) }
    }

    fn check(&self) -> std::io::Result<()> {
        if self.exceeded.get() {
            return Err(std::io::Error::other("the archive decompresses past enroll.max_archive_bytes"));
        }
        Ok(())
    }
}

/// A reader of decompressed archive bytes, charged to a [`Budget`].
struct Capped<'a, R> {
    inner: R,
    budget: &'a Budget,
}

impl<R: Read> Read for Capped<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.budget.check()?;
        let n = self.inner.read(buf)?;
        match self.budget.left.get().checked_sub(n as u64) {
            Some(left) => self.budget.left.set(left),
            None => {
                self.budget.exceeded.set(true);
                self.budget.check()?;
            }
        }
        Ok(n)
    }
}

fn too_large(path: &Path, message: &dyn std::fmt::Display) -> VisageError {
    VisageError::unprocessable(Code::ArchiveTooLarge, format!("{}: {message}", path.display()))
}

/// Refuses a zip whose central directory lists more than `max_entries` entries or is larger
/// than 1 KiB per allowed entry, from its end records (zip64 included), before the `zip` crate
/// loads the directory into memory.
fn check_zip_directory(file: &mut (impl Read + Seek), max_entries: u64) -> std::result::Result<(), String> {
    const EOCD: [u8; 4] = [0x50, 0x4b, 0x05, 0x06];
    const LOCATOR: [u8; 4] = [0x50, 0x4b, 0x06, 0x07];
    const EOCD64: [u8; 4] = [0x50, 0x4b, 0x06, 0x06];
    let io = |e: std::io::Error| e.to_string();
    let len = file.seek(SeekFrom::End(0)).map_err(io)?;
    // The end record (22 bytes and a comment of up to 64 KiB), and the zip64 locator before it.
    let tail_len = len.min(22 + 65_535 + 20);
    file.seek(SeekFrom::Start(len - tail_len)).map_err(io)?;
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact(&mut tail).map_err(io)?;
    let Some(at) = (0..tail.len().saturating_sub(21)).rev().find(|&i| tail[i..i + 4] == EOCD) else {
        return Ok(()); // not a zip the crate can open either: it says why
    };
    let le = |b: &[u8]| b.iter().rev().fold(0u64, |v, &x| (v << 8) | u64::from(x));
    let (mut entries, mut size) = (le(&tail[at + 10..at + 12]), le(&tail[at + 12..at + 16]));
    if (entries == 0xFFFF || size == 0xFFFF_FFFF) && at >= 20 && tail[at - 20..at - 16] == LOCATOR {
        let offset = le(&tail[at - 12..at - 4]);
        let mut record = [0u8; 56];
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        if file.read_exact(&mut record).is_ok() && record[..4] == EOCD64 {
            (entries, size) = (le(&record[32..40]), le(&record[40..48]));
        }
    }
    if entries > max_entries || size > max_entries.saturating_mul(1024) {
        return Err(format!(
            "its central directory lists {entries} entries in {size} bytes; at most {max_entries} entries \
             (enroll.max_archive_entries, 1 KiB each) are read"
        ));
    }
    Ok(())
}

/// Visits one archive member, refusing to read it when its declared size is over the limit.
fn visit_member(rel: &Path, declared: u64, member: impl Read, max_bytes: usize, visit: &mut Visit) -> ControlFlow<()> {
    let mut member = Some(member);
    let mut read = || {
        if declared > max_bytes as u64 {
            return Err(format!("larger than limits.max_image_bytes ({max_bytes} bytes)"));
        }
        member.take().map_or_else(|| Err("read twice".to_string()), |m| read_limited(m, max_bytes))
    };
    visit(layout_entry(rel), &mut read)
}

/// How an archive walk failed: unreadable, or past a limit.
#[derive(Debug)]
pub enum ArchiveFailure {
    Io(std::io::Error),
    /// Past `enroll.max_archive_bytes` or `enroll.max_archive_entries`.
    TooLarge(String),
}

/// Visits the photo members of an archive read from `reader`: zip, tar.gz or tar, told apart by
/// their first bytes. A zip's directory is checked against `limits` before it is loaded, and
/// everything decompressed is charged to them. Members that would land outside the archive's
/// root, and links, are reported, never read.
pub fn walk_archive(
    mut reader: impl Read + Seek,
    max_bytes: usize,
    limits: ArchiveLimits,
    visit: &mut Visit,
) -> std::result::Result<(), ArchiveFailure> {
    use ArchiveFailure::{Io, TooLarge};
    let mut magic = [0u8; 4];
    let n = reader.read(&mut magic).map_err(Io)?;
    reader.rewind().map_err(Io)?;
    let budget = Budget::new(limits.bytes);
    let walked = match &magic[..n] {
        [b'P', b'K', ..] => {
            check_zip_directory(&mut reader, limits.entries).map_err(TooLarge)?;
            reader.rewind().map_err(Io)?;
            walk_zip(reader, max_bytes, &budget, visit).map_err(Io)
        }
        [0x1f, 0x8b, ..] => {
            let gz = flate2::read::GzDecoder::new(BufReader::new(reader));
            walk_tar(Capped { inner: gz, budget: &budget }, max_bytes, visit).map_err(Io)
        }
        _ => walk_tar(Capped { inner: BufReader::new(reader), budget: &budget }, max_bytes, visit).map_err(Io),
    };
    if budget.exceeded.get() {
        return Err(TooLarge(format!("decompresses to more than {} bytes (enroll.max_archive_bytes)", limits.bytes)));
    }
    walked
}

/// Reports a member that is never read: its name leaves the archive, or it is a link.
fn visit_refused(name: &str, why: &str, visit: &mut Visit) -> ControlFlow<()> {
    // Its subject is recorded with the item only: without a face no subject is created.
    let entry = layout_entry(Path::new(name));
    let message = format!("{why}; archive members are read only under their own relative names");
    visit(entry, &mut || Err(message.clone()))
}

/// Whether an archive member's name stays inside the archive: relative, without `..`.
fn enclosed(name: &Path) -> bool {
    name.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

fn walk_zip(reader: impl Read + Seek, max_bytes: usize, budget: &Budget, visit: &mut Visit) -> std::io::Result<()> {
    let mut zip = zip::ZipArchive::new(BufReader::new(reader)).map_err(std::io::Error::other)?;
    for i in 0..zip.len() {
        budget.check()?;
        let member = match zip.by_index(i) {
            Ok(member) => member,
            Err(e) => {
                let message = e.to_string();
                let entry = layout_entry(Path::new(&format!("member {i}")));
                if visit(entry, &mut || Err(message.clone())).is_break() {
                    break;
                }
                continue;
            }
        };
        let raw = member.name().map(|n| n.into_owned()).unwrap_or_else(|_| format!("member {i}"));
        let flow = if member.is_dir() || !is_photo(Path::new(&raw)) {
            continue;
        } else if member.is_symlink() {
            visit_refused(&raw, "a symbolic link", visit)
        } else {
            // `enclosed_name` refuses `..`, absolute and drive paths (both separators).
            match member.enclosed_name().filter(|rel| enclosed(rel)) {
                None => visit_refused(&raw, "its name leaves the archive", visit),
                Some(rel) => {
                    let declared = member.size();
                    visit_member(&rel, declared, Capped { inner: member, budget }, max_bytes, visit)
                }
            }
        };
        if flow.is_break() {
            break;
        }
    }
    Ok(())
}

fn walk_tar(reader: impl Read, max_bytes: usize, visit: &mut Visit) -> std::io::Result<()> {
    let mut archive = tar::Archive::new(reader);
    for member in archive.entries()? {
        let mut member = member?;
        let rel = member.path()?.into_owned();
        let kind = member.header().entry_type();
        if kind.is_dir() || !is_photo(&rel) || kind.is_pax_global_extensions() {
            continue;
        }
        let name = rel.to_string_lossy().into_owned();
        let flow = if kind.is_symlink() || kind.is_hard_link() {
            visit_refused(&name, "a link", visit)
        } else if kind != tar::EntryType::Regular && kind != tar::EntryType::Continuous {
            visit_refused(&name, "not a regular file", visit)
        } else if !enclosed(&rel) {
            visit_refused(&name, "its name leaves the archive", visit)
        } else {
            let declared = member.size();
            visit_member(&rel, declared, &mut member, max_bytes, visit)
        };
        if flow.is_break() {
            break;
        }
    }
    Ok(())
}

/// One manifest row.
#[derive(Debug, Deserialize)]
struct Row {
    subject: String,
    path: String,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

fn walk_manifest(path: &Path, roots: Option<&[PathBuf]>, max_bytes: usize, visit: &mut Visit) -> Result<()> {
    let invalid = |m: String| VisageError::unprocessable(Code::InvalidManifest, format!("{}: {m}", path.display()));
    let base = path.parent().unwrap_or(Path::new("."));
    let file = File::open(path).map_err(|e| invalid(e.to_string()))?;
    let lower = path.to_string_lossy().to_ascii_lowercase();
    let rows: Box<dyn Iterator<Item = std::result::Result<Row, String>>> = if lower.ends_with(".csv") {
        let reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(BufReader::new(file));
        Box::new(reader.into_deserialize::<Row>().map(|r| r.map_err(|e| e.to_string())))
    } else if lower.ends_with(".json") {
        let rows: Vec<Row> = serde_json::from_reader(BufReader::new(file)).map_err(|e| invalid(e.to_string()))?;
        Box::new(rows.into_iter().map(Ok))
    } else {
        let lines = std::io::BufRead::lines(BufReader::new(file));
        Box::new(lines.filter(|l| l.as_ref().map_or(true, |l| !l.trim().is_empty())).map(|l| {
            l.map_err(|e| e.to_string()).and_then(|l| serde_json::from_str::<Row>(&l).map_err(|e| e.to_string()))
        }))
    };
    let mut seen = HashSet::new();
    for (line, row) in rows.enumerate() {
        let row = row.map_err(|e| invalid(format!("row {}: {e}", line + 1)))?;
        let name = if seen.insert(row.path.clone()) { row.path.clone() } else { format!("{}#{}", row.path, line + 1) };
        let entry = Entry {
            name,
            // Ids as folder and archive labels become them (a valid id is kept as it is).
            subject: subject_id(&row.subject),
            subject_name: row.name.clone().unwrap_or_else(|| row.subject.clone()),
            external_id: row.external_id.filter(|e| !e.is_empty()),
        };
        let file_path = base.join(&row.path);
        let mut read = || {
            let real = match roots {
                Some(roots) => within(&file_path, roots).map_err(|e| e.to_string())?,
                None => file_path.clone(),
            };
            File::open(&real)
                .map_err(|e| format!("{}: {e}", file_path.display()))
                .and_then(|f| read_limited(f, max_bytes))
        };
        if visit(entry, &mut read).is_break() {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(source: &Source, roots: Option<&[PathBuf]>) -> Vec<(Entry, ReadResult)> {
        let mut out = Vec::new();
        source
            .walk(roots, ReadLimits { item_bytes: 10, archive: ArchiveLimits::NONE }, &mut |e, read| {
                out.push((e, read()));
                ControlFlow::Continue(())
            })
            .unwrap();
        out
    }

    fn layout(dir: &Path) {
        for (rel, bytes) in [
            ("b/2.jpg", &b"two"[..]),
            ("a b/1.PNG", b"one"),
            ("a b/notes.txt", b"x"),
            ("a b/.hidden.jpg", b"x"),
            ("c/big.jpg", b"0123456789ab"),
            ("loose.jpg", b"l"),
        ] {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
    }

    #[test]
    fn folder_layout_names_subjects_and_skips_non_photos() {
        let dir = tempfile::tempdir().unwrap();
        layout(dir.path());
        let got = collect(&Source::Folder(dir.path().into()), None);
        let names: Vec<_> = got.iter().map(|(e, _)| (e.name.as_str(), e.subject.as_str())).collect();
        let spaced = subject_id("a b");
        assert_eq!(names, [("a b/1.PNG", spaced.as_str()), ("b/2.jpg", "b"), ("c/big.jpg", "c"), ("loose.jpg", "")]);
        assert!(spaced.starts_with("a_b-") && spaced != subject_id("a_b") && subject_id("a_b") == "a_b");
        assert_ne!(subject_id("王伟"), subject_id("李娜"));
        assert_eq!(got[0].0.subject_name, "a b");
        assert_eq!(got[1].1.as_deref(), Ok(&b"two"[..]));
        assert!(got[2].1.as_ref().unwrap_err().contains("larger"));
        assert_eq!(Source::Folder(dir.path().into()).count(None, ArchiveLimits::NONE, &|| false).unwrap(), Some(4));
    }

    #[test]
    fn archives_match_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        layout(&dir.path().join("set"));
        let tar_path = dir.path().join("set.tar.gz");
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            File::create(&tar_path).unwrap(),
            flate2::Compression::fast(),
        ));
        tar.append_dir_all("set", dir.path().join("set")).unwrap();
        tar.into_inner().unwrap().finish().unwrap();
        let zip_path = dir.path().join("set.zip");
        let mut zip = zip::ZipWriter::new(File::create(&zip_path).unwrap());
        for rel in ["b/2.jpg", "../evil/x.jpg", "a b/1.PNG"] {
            zip.start_file(rel, zip::write::SimpleFileOptions::default()).unwrap();
            std::io::Write::write_all(&mut zip, b"z").unwrap();
        }
        zip.finish().unwrap();
        let tar_items = collect(&Source::infer(&tar_path).unwrap(), None);
        let mut subjects: Vec<_> = tar_items.iter().map(|(e, _)| e.subject.clone()).collect();
        subjects.sort();
        assert_eq!(subjects, [subject_id("a b").as_str(), "b", "c", "set"]);
        let zip_items = collect(&Source::infer(&zip_path).unwrap(), None);
        let names: Vec<_> = zip_items.iter().map(|(e, _)| e.name.as_str()).collect();
        assert_eq!(names, ["b/2.jpg", "../evil/x.jpg", "a b/1.PNG"]);
        let refused = zip_items[1].1.as_ref().unwrap_err();
        assert!(refused.contains("leaves the archive"), "{refused}");
    }

    #[test]
    fn manifests_csv_and_jsonl_with_roots() {
        let dir = tempfile::tempdir().unwrap();
        layout(dir.path());
        let csv_path = dir.path().join("m.csv");
        std::fs::write(&csv_path, "subject,path,external_id\nalice,b/2.jpg,x1\nbob,/etc/hostname,\n").unwrap();
        let roots = [dir.path().to_path_buf()];
        let got = collect(&Source::infer(&csv_path).unwrap(), Some(&roots));
        assert_eq!(got[0].0.external_id.as_deref(), Some("x1"));
        assert_eq!(got[0].1.as_deref(), Ok(&b"two"[..]));
        assert_eq!(got[1].0.external_id, None);
        assert!(got[1].1.as_ref().unwrap_err().contains("allowed_roots"));
        let jsonl = dir.path().join("m.jsonl");
        std::fs::write(
            &jsonl,
            "{\"subject\":\"a\",\"path\":\"b/2.jpg\"}\n\n{\"subject\":\"a\",\"path\":\"b/2.jpg\"}\n",
        )
        .unwrap();
        let got = collect(&Source::infer(&jsonl).unwrap(), None);
        assert_eq!(got.len(), 2);
        assert_ne!(got[0].0.name, got[1].0.name, "repeated paths get distinct item names");
        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, "who,where\nx,y\n").unwrap();
        let err = Source::infer(&bad)
            .unwrap()
            .walk(None, ReadLimits { item_bytes: 10, archive: ArchiveLimits::NONE }, &mut |_, _| {
                ControlFlow::Continue(())
            })
            .unwrap_err();
        assert_eq!(err.code(), "invalid_manifest");
    }

    #[cfg(unix)]
    #[test]
    fn folder_links_are_followed_within_the_roots_only() {
        let dir = tempfile::tempdir().unwrap();
        let (store, set, outside) = (dir.path().join("store"), dir.path().join("set"), dir.path().join("outside"));
        layout(&store);
        std::fs::create_dir_all(set.join("b")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.jpg"), b"s").unwrap();
        std::os::unix::fs::symlink(store.join("b/2.jpg"), set.join("b/2.jpg")).unwrap();
        std::os::unix::fs::symlink(store.join("a b"), set.join("a b")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret.jpg"), set.join("b/secret.jpg")).unwrap();
        let source = Source::Folder(set.clone());
        let names = |got: &[(Entry, ReadResult)]| got.iter().map(|(e, _)| e.name.clone()).collect::<Vec<_>>();
        // The CLI reads anything its user can.
        let got = collect(&source, None);
        assert_eq!(names(&got), ["a b/1.PNG", "b/2.jpg", "b/secret.jpg"]);
        assert!(got.iter().all(|(_, r)| r.is_ok()));
        // A server job: links are followed within the allowed roots only.
        let roots = [set.clone(), store.clone()];
        let got = collect(&source, Some(&roots));
        assert_eq!(got[0].1.as_deref(), Ok(&b"one"[..]));
        assert_eq!(got[1].1.as_deref(), Ok(&b"two"[..]));
        let refused = got[2].1.as_ref().unwrap_err();
        assert!(refused.contains("outside enroll.allowed_roots") && refused.contains("secret.jpg"), "{refused}");
    }

    #[test]
    fn roots_confine_sources() {
        let dir = tempfile::tempdir().unwrap();
        let inside = Source::Folder(dir.path().into());
        assert_eq!(
            inside.check_allowed(&[dir.path().into()]).unwrap(),
            Source::Folder(dir.path().canonicalize().unwrap())
        );
        let err = Source::Folder("/etc".into()).check_allowed(&[dir.path().into()]).unwrap_err();
        assert_eq!(err.code(), "path_not_allowed");
        assert!(Source::infer(Path::new("x.docx")).is_err());
    }
}
