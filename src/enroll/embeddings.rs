//! Embedding files: what `visage import` and an embeddings job read, what `visage export`
//! writes, and what `visage eval --distractors-file` reads. Two formats:
//!
//! - **NumPy** `.npy`: a float32 (or float64) `[N, D]` array in C order, with a CSV of exactly N
//!   rows beside it (header `subject[,external_id][,name]`, row i labels `array[i]`). Rows are
//!   numbered from 0, as numpy indexes them.
//! - **JSON Lines** (`.jsonl`, `.ndjson`): one object per line, `{"subject": "...", "embedding":
//!   [...], "external_id"?: "...", "name"?: "...", "model"?: "..."}`. Lines are numbered from
//!   1, as editors count them; blank lines are no rows.
//!
//! Both are streamed in batches: memory holds one batch of rows, whatever the file's size.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use npyz::WriterBuilder;
use serde::{Deserialize, Serialize};

use crate::error::{Code, Result, VisageError};

/// The file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Npy,
    Jsonl,
}

impl Format {
    /// The format a file's extension names.
    pub fn of(path: &Path) -> Result<Self> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
        match ext.as_str() {
            "npy" => Ok(Self::Npy),
            "jsonl" | "ndjson" => Ok(Self::Jsonl),
            _ => Err(invalid(path, "not an embeddings file: expected .npy (with a subjects CSV) or .jsonl")),
        }
    }

    /// What a position in the file is called in reports: `row` (npy) or `line` (jsonl).
    pub fn unit(self) -> &'static str {
        match self {
            Self::Npy => "row",
            Self::Jsonl => "line",
        }
    }
}

fn invalid(path: &Path, message: impl std::fmt::Display) -> VisageError {
    VisageError::unprocessable(Code::InvalidSource, format!("{}: {message}", path.display()))
}

/// The subjects CSV expected beside `FILE.npy` when none is named: `FILE.subjects.csv`.
pub fn subjects_beside(npy: &Path) -> PathBuf {
    npy.with_extension("subjects.csv")
}

/// One row as read, before any check.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Row {
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(rename = "embedding")]
    pub vector: Vec<f32>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
}

/// A row with its position in the file (see [`Format::unit`]), or why it cannot be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Numbered {
    pub at: u64,
    pub row: std::result::Result<Row, String>,
}

/// The vector as stored: `dim` finite values of non-zero length, L2-normalised (a vector that
/// is already unit length within float precision is kept bit for bit, so an exported gallery
/// imports to the same vectors). The error is the row's reason.
pub fn unit(mut v: Vec<f32>, dim: usize) -> std::result::Result<Vec<f32>, String> {
    if v.len() != dim {
        return Err(format!("{} values, expected {dim}", v.len()));
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(format!("value {i} is {} (not finite)", v[i]));
    }
    let norm = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    if !norm.is_normal() {
        return Err("zero vector (no direction to compare)".into());
    }
    if (norm - 1.0).abs() > 1e-6 {
        for x in &mut v {
            *x = (f64::from(*x) / norm) as f32;
        }
    }
    Ok(v)
}

/// One subjects-CSV row.
#[derive(Debug, Deserialize)]
struct Label {
    subject: String,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

type Labels = csv::DeserializeRecordsIntoIter<BufReader<File>, Label>;

/// How a `.npy` stores its numbers.
#[derive(Debug, Clone, Copy)]
struct Element {
    bytes: usize,
    little: bool,
}

impl Element {
    fn decode(self, raw: &[u8], out: &mut Vec<f32>) {
        out.clear();
        match (self.bytes, self.little) {
            (4, true) => out.extend(raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
            (4, false) => out.extend(raw.chunks_exact(4).map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]]))),
            (_, little) => out.extend(raw.chunks_exact(8).map(|c| {
                let b: [u8; 8] = c.try_into().unwrap_or_default();
                (if little { f64::from_le_bytes(b) } else { f64::from_be_bytes(b) }) as f32
            })),
        }
    }
}

enum Inner {
    Npy { file: File, data_start: u64, rows: u64, dim: usize, element: Element, labels: Option<Labels>, raw: Vec<u8> },
    Jsonl { file: BufReader<File>, line: Vec<u8> },
}

/// Streams the rows of an embeddings file.
pub struct Reader {
    path: PathBuf,
    format: Format,
    inner: Inner,
    /// Position of the next row (npy row index; jsonl: the last line read).
    next: u64,
    total: Option<u64>,
}

impl Reader {
    /// Opens `path`; an `.npy` takes its labels from `subjects` (which must hold exactly one row
    /// per vector) or, when none is given, from `FILE.subjects.csv` if it exists, else has none.
    pub fn open(path: &Path, subjects: Option<&Path>) -> Result<Self> {
        let format = Format::of(path)?;
        let file = File::open(path).map_err(|e| invalid(path, e))?;
        let (inner, total) = match format {
            Format::Npy => {
                let (inner, rows) = open_npy(path, file, subjects)?;
                (inner, Some(rows))
            }
            Format::Jsonl => (Inner::Jsonl { file: BufReader::with_capacity(1 << 20, file), line: Vec::new() }, None),
        };
        Ok(Self { path: path.to_path_buf(), format, inner, next: 0, total })
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Length of every vector, when the file declares it (`.npy`).
    pub fn dim(&self) -> Option<usize> {
        match &self.inner {
            Inner::Npy { dim, .. } => Some(*dim),
            Inner::Jsonl { .. } => None,
        }
    }

    /// Whether every row carries its subject (a `.npy` without a subjects CSV does not).
    pub fn labelled(&self) -> bool {
        !matches!(&self.inner, Inner::Npy { labels: None, .. })
    }

    /// Number of rows: from the header (`.npy`), or by counting non-blank lines (`.jsonl`, a
    /// pass over the file that leaves this reader where it was).
    pub fn count(&mut self) -> Result<u64> {
        if let Some(t) = self.total {
            return Ok(t);
        }
        let file = File::open(&self.path).map_err(|e| invalid(&self.path, e))?;
        let mut n = 0u64;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::new();
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).map_err(|e| invalid(&self.path, e))? == 0 {
                break;
            }
            n += u64::from(!line.trim_ascii().is_empty());
        }
        self.total = Some(n);
        Ok(n)
    }

    /// Skips the next `n` rows (a resumed import: the rows recorded already).
    pub fn skip(&mut self, n: u64) -> Result<()> {
        match &mut self.inner {
            Inner::Npy { file, data_start, rows, dim, element, labels, .. } => {
                let to = (self.next + n).min(*rows);
                let offset = *data_start + to * (*dim * element.bytes) as u64;
                file.seek(SeekFrom::Start(offset)).map_err(|e| invalid(&self.path, e))?;
                if let Some(labels) = labels {
                    for _ in self.next..to {
                        labels.next();
                    }
                }
                self.next = to;
            }
            Inner::Jsonl { .. } => {
                let mut skipped = 0;
                while skipped < n && self.next_jsonl()?.is_some() {
                    skipped += 1;
                }
            }
        }
        Ok(())
    }

    /// Appends up to `max` rows to `out`; `false` once the file is exhausted and none was added.
    pub fn read_batch(&mut self, max: usize, out: &mut Vec<Numbered>) -> Result<bool> {
        let before = out.len();
        match self.format {
            Format::Npy => self.npy_batch(max, out)?,
            Format::Jsonl => {
                while out.len() - before < max {
                    match self.next_jsonl()? {
                        Some(row) => out.push(row),
                        None => break,
                    }
                }
            }
        }
        Ok(out.len() > before)
    }

    fn npy_batch(&mut self, max: usize, out: &mut Vec<Numbered>) -> Result<()> {
        let Inner::Npy { file, rows, dim, element, labels, raw, .. } = &mut self.inner else { return Ok(()) };
        let n = (*rows - self.next).min(max as u64) as usize;
        if n == 0 {
            return Ok(());
        }
        let row_bytes = *dim * element.bytes;
        raw.resize(n * row_bytes, 0);
        file.read_exact(raw).map_err(|e| invalid(&self.path, format!("row {}: {e}", self.next)))?;
        let mut values = Vec::with_capacity(*dim);
        for chunk in raw.chunks_exact(row_bytes) {
            element.decode(chunk, &mut values);
            let row = match labels.as_mut().map(|l| l.next()) {
                None => Ok(Row { vector: values.clone(), ..Row::default() }),
                Some(Some(Ok(label))) => Ok(Row {
                    subject: Some(label.subject),
                    vector: values.clone(),
                    external_id: label.external_id.filter(|e| !e.is_empty()),
                    name: label.name.filter(|n| !n.is_empty()),
                    model: None,
                }),
                Some(Some(Err(e))) => Err(format!("subjects CSV: {e}")),
                Some(None) => Err("subjects CSV: no row for this vector".into()),
            };
            out.push(Numbered { at: self.next, row });
            self.next += 1;
        }
        Ok(())
    }

    /// The next non-blank line, parsed.
    fn next_jsonl(&mut self) -> Result<Option<Numbered>> {
        let Inner::Jsonl { file, line } = &mut self.inner else { return Ok(None) };
        loop {
            line.clear();
            let read = file.read_until(b'\n', line).map_err(|e| invalid(&self.path, e))?;
            if read == 0 {
                return Ok(None);
            }
            self.next += 1;
            let text = line.trim_ascii();
            if text.is_empty() {
                continue;
            }
            let row = serde_json::from_slice::<Row>(text).map_err(|e| format!("not a JSON row: {e}"));
            return Ok(Some(Numbered { at: self.next, row }));
        }
    }

    /// Appends up to `max` vectors to `out`, each checked and normalised by [`unit`], and
    /// returns how many (0: the file is exhausted). Fails at the first row that cannot be used
    /// or names another model than `model`.
    pub fn read_vectors(
        &mut self,
        max: usize,
        dim: usize,
        model: Option<&str>,
        out: &mut Vec<Vec<f32>>,
    ) -> Result<usize> {
        let mut batch = Vec::new();
        self.read_batch(max, &mut batch)?;
        let (count, unit_name) = (batch.len(), self.format.unit());
        for n in batch {
            let at = n.at;
            let row = n.row.map_err(|e| invalid(&self.path, format!("{unit_name} {at}: {e}")))?;
            if let (Some(theirs), Some(ours)) = (row.model.as_deref(), model) {
                if theirs != ours {
                    return Err(VisageError::conflict(
                        Code::IncompatibleEmbeddings,
                        format!("{}: {unit_name} {at} is of model {theirs}, not {ours}", self.path.display()),
                    ));
                }
            }
            out.push(unit(row.vector, dim).map_err(|e| invalid(&self.path, format!("{unit_name} {at}: {e}")))?);
        }
        Ok(count)
    }
}

/// Longest `.npy` header dictionary read (a plain array's is about 100 bytes).
const NPY_HEADER_MAX: usize = 64 * 1024;

/// Refuses a `.npy` header that a plain `[N, D]` float array never has: longer than
/// [`NPY_HEADER_MAX`], or nesting brackets deeper than a dict holding a tuple (the header parser
/// takes exponential time on deep nesting, so such a file would hang an import). Leaves the file
/// at its start.
fn check_npy_header(path: &Path, file: &mut File) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut fixed = [0u8; 12];
    let got = file.read(&mut fixed).map_err(|e| invalid(path, e))?;
    let text_len = match (got >= 10 && fixed.starts_with(b"\x93NUMPY"), fixed[6]) {
        (true, 1) => Some((10, u16::from_le_bytes([fixed[8], fixed[9]]) as usize)),
        (true, _) if got >= 12 => Some((12, u32::from_le_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]) as usize)),
        _ => None, // npyz reports what is wrong
    };
    if let Some((start, len)) = text_len {
        if len > NPY_HEADER_MAX {
            return Err(invalid(path, format!("the .npy header is {len} bytes long (at most {NPY_HEADER_MAX})")));
        }
        let mut text = vec![0u8; len];
        file.seek(SeekFrom::Start(start)).map_err(|e| invalid(path, e))?;
        file.read_exact(&mut text).map_err(|e| invalid(path, format!("not a .npy file: {e}")))?;
        let (mut depth, mut deepest) = (0i32, 0i32);
        for c in text {
            depth += match c {
                b'(' | b'[' | b'{' => 1,
                b')' | b']' | b'}' => -1,
                _ => 0,
            };
            deepest = deepest.max(depth);
        }
        if deepest > 2 {
            return Err(invalid(path, "the .npy header nests brackets too deep for a plain [N, D] float array"));
        }
    }
    file.seek(SeekFrom::Start(0)).map_err(|e| invalid(path, e))?;
    Ok(())
}

fn open_npy(path: &Path, mut file: File, subjects: Option<&Path>) -> Result<(Inner, u64)> {
    check_npy_header(path, &mut file)?;
    let header = npyz::NpyHeader::from_reader(&mut file).map_err(|e| invalid(path, format!("not a .npy file: {e}")))?;
    let data_start = file.stream_position().map_err(|e| invalid(path, e))?;
    let element = match header.dtype() {
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && matches!(t.size_field(), 4 | 8) => {
            Element { bytes: t.size_field() as usize, little: t.endianness() != npyz::Endianness::Big }
        }
        other => return Err(invalid(path, format!("dtype {} is not float32 (or float64)", other.descr()))),
    };
    let (rows, dim) = match header.shape() {
        [rows, dim] if *dim > 0 => (*rows, *dim as usize),
        shape => return Err(invalid(path, format!("shape {shape:?} is not [N, D]"))),
    };
    if header.order() != npyz::Order::C && rows > 1 && dim > 1 {
        return Err(invalid(path, "Fortran order; save it in C order (numpy.ascontiguousarray)"));
    }
    // A header may announce any shape: one whose size does not even fit in 64 bits is refused,
    // not wrapped around into a small one.
    let expected = (dim.checked_mul(element.bytes))
        .and_then(|row| rows.checked_mul(row as u64))
        .and_then(|data| data.checked_add(data_start))
        .ok_or_else(|| invalid(path, format!("shape [{rows}, {dim}] is too large")))?;
    let size = file.metadata().map_err(|e| invalid(path, e))?.len();
    if size < expected {
        return Err(invalid(path, format!("truncated: {size} bytes, the header announces {expected}")));
    }
    let beside = subjects_beside(path);
    let subjects = subjects.map(Path::to_path_buf).or_else(|| beside.is_file().then_some(beside));
    let labels = match subjects {
        Some(csv_path) => {
            let open = || {
                csv::ReaderBuilder::new().trim(csv::Trim::All).from_path(&csv_path).map_err(|e| invalid(&csv_path, e))
            };
            let mut counter = open()?;
            let headers = counter.headers().map_err(|e| invalid(&csv_path, e))?.clone();
            if !headers.iter().any(|h| h == "subject") {
                return Err(invalid(&csv_path, "no `subject` column (header: subject[,external_id][,name])"));
            }
            let n = counter.records().count() as u64;
            if n != rows {
                return Err(invalid(&csv_path, format!("{n} rows, but {} holds {rows} vectors", path.display())));
            }
            let reader = csv::ReaderBuilder::new()
                .trim(csv::Trim::All)
                .from_reader(BufReader::new(File::open(&csv_path).map_err(|e| invalid(&csv_path, e))?));
            Some(reader.into_deserialize())
        }
        None => None,
    };
    Ok((Inner::Npy { file, data_start, rows, dim, element, labels, raw: Vec::new() }, rows))
}

/// One face as written by [`Writer`] (and read back as a [`Row`]).
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    pub subject: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<&'a str>,
    pub name: &'a str,
    pub model: &'a str,
    #[serde(rename = "embedding")]
    pub vector: &'a [f32],
}

enum Output {
    /// The header written, then the rows as the little-endian `f32` it announces: a plain
    /// writer, so that its last flush (and a full disk) is seen at the end.
    Npy {
        npy: BufWriter<File>,
        labels: Box<csv::Writer<BufWriter<File>>>,
    },
    Jsonl(BufWriter<File>),
}

/// Writes an embeddings file (and, for `.npy`, its subjects CSV) into temporary files that
/// [`Writer::finish`] syncs and renames into place: a reader never sees half a file.
pub struct Writer {
    output: Output,
    /// (temporary, final) paths.
    files: Vec<(PathBuf, PathBuf)>,
    rows: u64,
    /// Values per row (checked for `.npy`, whose header announces it).
    dim: usize,
    written: u64,
}

fn part(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.part"))
}

/// A CSV write failure as the I/O error under it (its kind kept: a full disk stays one).
fn csv_io(e: csv::Error) -> std::io::Error {
    if !e.is_io_error() {
        return std::io::Error::other(e);
    }
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

impl Writer {
    /// Starts `path` for `rows` vectors of `dim` values.
    pub fn create(path: &Path, rows: u64, dim: usize) -> Result<Self> {
        let fail = |p: &Path, e: std::io::Error| VisageError::io(p.display(), e);
        let create =
            |p: &Path| File::create(part(p)).map(|f| BufWriter::with_capacity(1 << 20, f)).map_err(|e| fail(p, e));
        let (output, files) = match Format::of(path)? {
            Format::Npy => {
                let csv_path = subjects_beside(path);
                let npy = npyz::WriteOptions::new_header_only()
                    .dtype(<f32 as npyz::AutoSerialize>::default_dtype())
                    .shape(&[rows, dim as u64])
                    .writer(create(path)?)
                    .write_header_only()
                    .map_err(|e| fail(path, e))?;
                let mut labels = csv::Writer::from_writer(create(&csv_path)?);
                labels.write_record(["subject", "external_id", "name"]).map_err(|e| fail(&csv_path, csv_io(e)))?;
                (
                    Output::Npy { npy, labels: Box::new(labels) },
                    vec![(part(path), path.to_path_buf()), (part(&csv_path), csv_path)],
                )
            }
            Format::Jsonl => (Output::Jsonl(create(path)?), vec![(part(path), path.to_path_buf())]),
        };
        Ok(Self { output, files, rows, dim, written: 0 })
    }

    /// Appends one face.
    pub fn write(&mut self, r: &Record) -> Result<()> {
        let path = self.files[0].1.clone();
        let fail = |e: std::io::Error| VisageError::io(path.display(), e);
        match &mut self.output {
            Output::Npy { npy, labels } => {
                if r.vector.len() != self.dim {
                    return Err(VisageError::Store(format!(
                        "{} values for a row of {} in {}",
                        r.vector.len(),
                        self.dim,
                        path.display()
                    )));
                }
                let bytes: Vec<u8> = r.vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                npy.write_all(&bytes).map_err(fail)?;
                labels
                    .write_record([r.subject, r.external_id.unwrap_or_default(), r.name])
                    .map_err(|e| fail(csv_io(e)))?;
            }
            Output::Jsonl(out) => {
                serde_json::to_writer(&mut *out, r).map_err(|e| fail(e.into()))?;
                out.write_all(b"\n").map_err(fail)?;
            }
        }
        self.written += 1;
        Ok(())
    }

    /// Completes the files (synced) and moves them into place; returns their paths.
    pub fn finish(self) -> Result<Vec<PathBuf>> {
        let path = self.files[0].1.clone();
        let fail = |e: std::io::Error| VisageError::io(path.display(), e);
        if self.written != self.rows {
            return Err(VisageError::Store(format!("{} rows written, {} announced", self.written, self.rows)));
        }
        let outputs = match self.output {
            Output::Npy { npy, labels } => vec![npy, labels.into_inner().map_err(|e| fail(e.into_error()))?],
            Output::Jsonl(out) => vec![out],
        };
        for out in outputs {
            out.into_inner().map_err(|e| fail(e.into_error()))?.sync_all().map_err(fail)?;
        }
        for (tmp, dest) in &self.files {
            std::fs::rename(tmp, dest).map_err(fail)?;
        }
        Ok(self.files.into_iter().map(|(_, dest)| dest).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_checks_and_normalises() {
        assert_eq!(unit(vec![3.0, 4.0], 2).unwrap(), [0.6, 0.8]);
        assert!(unit(vec![1.0], 2).unwrap_err().contains("expected 2"));
        assert!(unit(vec![f32::NAN, 1.0], 2).unwrap_err().contains("not finite"));
        assert!(unit(vec![0.0, 0.0], 2).unwrap_err().contains("zero"));
        let v = unit(vec![0.3, 0.7, 0.1], 3).unwrap();
        assert_eq!(unit(v.clone(), 3).unwrap(), v, "a unit vector is kept bit for bit");
    }

    #[test]
    fn npy_and_jsonl_round_trip_through_writer_and_reader() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["e.npy", "e.jsonl"] {
            let path = dir.path().join(name);
            let vectors = [unit(vec![1.0, 2.0, 3.0], 3).unwrap(), unit(vec![-1.0, 0.5, 0.25], 3).unwrap()];
            let mut w = Writer::create(&path, 2, 3).unwrap();
            for (i, v) in vectors.iter().enumerate() {
                let ext = format!("x{i}");
                let r = Record {
                    subject: "s",
                    external_id: (i == 0).then_some(&ext),
                    name: "S s",
                    model: "m@1",
                    vector: v,
                };
                w.write(&r).unwrap();
            }
            w.finish().unwrap();
            let mut reader = Reader::open(&path, None).unwrap();
            assert_eq!(reader.count().unwrap(), 2);
            let mut rows = Vec::new();
            while reader.read_batch(1, &mut rows).unwrap() {}
            let first = rows[0].row.as_ref().unwrap();
            assert_eq!(first.vector, vectors[0]);
            assert_eq!((first.subject.as_deref(), first.external_id.as_deref()), (Some("s"), Some("x0")));
            assert_eq!(first.name.as_deref(), Some("S s"));
            assert_eq!(rows[1].row.as_ref().unwrap().external_id, None);
            let at: Vec<u64> = rows.iter().map(|r| r.at).collect();
            assert_eq!(at, if name.ends_with("npy") { [0, 1] } else { [1, 2] });
            let mut resumed = Reader::open(&path, None).unwrap();
            resumed.skip(1).unwrap();
            let mut rest = Vec::new();
            resumed.read_batch(10, &mut rest).unwrap();
            assert_eq!(rest, rows[1..]);
        }
    }

    /// The error opening a fuzz regression input (after its 2-byte selector) as a `.npy`.
    fn regression_error(input: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.npy");
        std::fs::write(&path, &input[2..]).unwrap();
        Reader::open(&path, None).err().unwrap().to_string()
    }

    #[test]
    fn a_shape_too_large_for_64_bits_is_refused() {
        // Shape [1, 2^62] of float32: its size wrapped around to 0 bytes and passed for complete.
        let err = regression_error(include_bytes!("../../tests/fuzz_regressions/embeddings_npy/dim_overflow.npy.bin"));
        assert!(err.contains("shape [1, 4611686018427387904] is too large"), "{err}");
    }

    #[test]
    fn a_header_nesting_too_deep_is_refused_before_it_is_parsed() {
        // `'shape': ([[[[[[[[[[[[[[3,True }`: the header parser never finished on it.
        let err =
            regression_error(include_bytes!("../../tests/fuzz_regressions/embeddings_npy/nested_shape_hang.npy.bin"));
        assert!(err.contains("nests brackets too deep"), "{err}");
    }

    #[test]
    fn a_subjects_csv_must_match_the_array() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.npy");
        npyz::to_file_1d(&path, [0f32; 4]).unwrap();
        assert!(Reader::open(&path, None).err().unwrap().to_string().contains("not [N, D]"));
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[2, 2])
            .writer(BufWriter::new(File::create(&path).unwrap()))
            .begin_nd()
            .unwrap();
        w.extend([1f32, 0.0, 0.0, 1.0]).unwrap();
        w.finish().unwrap();
        let csv_path = dir.path().join("labels.csv");
        std::fs::write(&csv_path, "subject\na\n").unwrap();
        let err = Reader::open(&path, Some(&csv_path)).err().unwrap();
        assert!(err.to_string().contains("1 rows, but"), "{err}");
        std::fs::write(&csv_path, "who\na\nb\n").unwrap();
        assert!(Reader::open(&path, Some(&csv_path)).err().unwrap().to_string().contains("no `subject`"));
        let jsonl = dir.path().join("e.jsonl");
        std::fs::write(&jsonl, "{\"subject\":\"a\",\"embedding\":[1,0]}\n\nnot json\n").unwrap();
        let mut rows = Vec::new();
        Reader::open(&jsonl, None).unwrap().read_batch(10, &mut rows).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].at, 3);
        assert!(rows[1].row.as_ref().unwrap_err().starts_with("not a JSON row"));
    }
}
