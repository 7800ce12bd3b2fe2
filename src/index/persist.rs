//! File plumbing for the index formats: atomic writes (temporary file, fsync, rename, fsync of
//! the directory), a SHA-256 trailer over every file we write, and a bounds-checked reader that
//! turns truncation and bad checksums into [`IndexError::Corrupt`] instead of panics or huge
//! allocations.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{IndexError, Result};

/// Length of the SHA-256 trailer.
pub(crate) const DIGEST_LEN: u64 = 32;

/// A writer that hashes what passes through it.
pub(crate) struct HashWriter<W: Write> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> HashWriter<W> {
    pub(crate) fn u32(&mut self, v: u32) -> io::Result<()> {
        self.write_all(&v.to_le_bytes())
    }

    pub(crate) fn u64(&mut self, v: u64) -> io::Result<()> {
        self.write_all(&v.to_le_bytes())
    }

    pub(crate) fn u64s(&mut self, vs: &[u64]) -> io::Result<()> {
        self.bytes(vs.iter().flat_map(|v| v.to_le_bytes()))
    }

    pub(crate) fn f32s(&mut self, vs: &[f32]) -> io::Result<()> {
        self.bytes(vs.iter().flat_map(|v| v.to_le_bytes()))
    }

    /// Writes a byte stream in 64 KiB pieces (one hash update per piece, not per value).
    pub(crate) fn bytes(&mut self, bytes: impl Iterator<Item = u8>) -> io::Result<()> {
        let mut buf = Vec::with_capacity(1 << 16);
        for b in bytes {
            buf.push(b);
            if buf.len() == buf.capacity() {
                self.write_all(&buf)?;
                buf.clear();
            }
        }
        self.write_all(&buf)
    }
}

/// Writes the header every index file starts with: magic, format version, dimension.
pub(crate) fn write_header<W: Write>(
    w: &mut HashWriter<W>,
    magic: &[u8; 8],
    version: u32,
    dim: usize,
) -> io::Result<()> {
    w.write_all(magic)?;
    w.u32(version)?;
    w.u32(dim as u32)
}

/// Writes `path` atomically: `body` writes into `path.tmp`, a SHA-256 trailer is appended, the
/// file is fsynced and renamed over `path`, and the directory is fsynced.
pub(crate) fn write_atomic(
    path: &Path,
    body: impl FnOnce(&mut HashWriter<BufWriter<File>>) -> io::Result<()>,
) -> Result<()> {
    let tmp = tmp_path(path);
    let result = (|| -> io::Result<()> {
        let mut w = HashWriter { inner: BufWriter::with_capacity(1 << 20, File::create(&tmp)?), hasher: Sha256::new() };
        body(&mut w)?;
        let digest = w.hasher.finalize();
        w.inner.write_all(&digest)?;
        let file = w.inner.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(IndexError::io(path, e));
    }
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Makes a rename or a new file in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| IndexError::io(dir, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Creates `dir` (and parents) if needed.
pub(crate) fn ensure_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| IndexError::io(dir, e))
}

/// Removes a file, ignoring "not found".
pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(IndexError::io(path, e)),
        _ => Ok(()),
    }
}

/// Length and SHA-256 of a whole file (used for the files `hnsw_rs` writes, which carry no
/// checksum of their own).
pub(crate) fn hash_file(path: &Path) -> Result<(u64, [u8; 32])> {
    let mut file = File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => IndexError::corrupt(path, "file missing"),
        _ => IndexError::io(path, e),
    })?;
    let mut hasher = Sha256::new();
    let len = io::copy(&mut file, &mut hasher).map_err(|e| IndexError::io(path, e))?;
    Ok((len, hasher.finalize().into()))
}

/// Fsyncs a file written by someone else (`hnsw_rs`).
pub(crate) fn sync_file(path: &Path) -> Result<()> {
    File::open(path).and_then(|f| f.sync_all()).map_err(|e| IndexError::io(path, e))
}

/// Reads a file written by [`write_atomic`]: trailer first, then fields with bounds checks.
pub(crate) struct Reader {
    path: PathBuf,
    inner: BufReader<File>,
    /// Bytes left before the trailer.
    remaining: u64,
}

impl Reader {
    /// Opens `path` and verifies its SHA-256 trailer before anything is parsed, so that damage
    /// anywhere (even in a version field) reads as corruption. A missing file is
    /// [`IndexError::Missing`].
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let open = || {
            File::open(path).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => IndexError::Missing { path: path.to_path_buf() },
                _ => IndexError::io(path, e),
            })
        };
        let mut file = open()?;
        let len = file.metadata().map_err(|e| IndexError::io(path, e))?.len();
        if len < DIGEST_LEN {
            return Err(IndexError::corrupt(path, format!("truncated ({len} bytes)")));
        }
        let body = len - DIGEST_LEN;
        let mut hasher = Sha256::new();
        let hashed = io::copy(&mut (&mut file).take(body), &mut hasher).map_err(|e| IndexError::io(path, e))?;
        let mut digest = [0u8; DIGEST_LEN as usize];
        file.read_exact(&mut digest).map_err(|e| IndexError::io(path, e))?;
        if hashed != body || digest[..] != hasher.finalize()[..] {
            return Err(IndexError::corrupt(path, "checksum mismatch"));
        }
        Ok(Self { path: path.to_path_buf(), inner: BufReader::with_capacity(1 << 20, open()?), remaining: body })
    }

    /// Checks the header written by [`write_header`]: another magic is corruption (`what` names
    /// the kind of file expected), another format version or dimension a stale index.
    pub(crate) fn header(&mut self, magic: &[u8; 8], version: u32, dim: usize, what: &str) -> Result<()> {
        if &self.bytes::<8>()? != magic {
            return Err(self.corrupt(format!("not {what} (bad magic)")));
        }
        let found = self.u32()?;
        if found != version {
            return Err(IndexError::stale(&self.path, format!("format version {found}, this build reads {version}")));
        }
        let file_dim = self.u32()? as usize;
        if file_dim != dim {
            return Err(IndexError::stale(
                &self.path,
                format!("holds {file_dim}-d vectors, {dim}-d asked (embedding model changed?)"),
            ));
        }
        Ok(())
    }

    /// Bytes left before the trailer.
    pub(crate) fn remaining(&self) -> u64 {
        self.remaining
    }

    pub(crate) fn corrupt(&self, reason: impl Into<String>) -> IndexError {
        IndexError::corrupt(&self.path, reason)
    }

    fn fill(&mut self, buf: &mut [u8]) -> Result<()> {
        if (buf.len() as u64) > self.remaining {
            return Err(self.corrupt("truncated"));
        }
        self.inner.read_exact(buf).map_err(|e| IndexError::io(&self.path, e))?;
        self.remaining -= buf.len() as u64;
        Ok(())
    }

    pub(crate) fn bytes<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        self.fill(&mut b)?;
        Ok(b)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes::<1>()?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }

    /// `n` values of `W` bytes each, decoded by `decode`, read in blocks (no whole-file buffer)
    /// after checking that the file holds them.
    fn array<const W: usize, T>(&mut self, n: u64, decode: impl Fn([u8; W]) -> T) -> Result<Vec<T>> {
        let total = n.checked_mul(W as u64).filter(|t| *t <= self.remaining).ok_or_else(|| {
            self.corrupt(format!("truncated: {n} values of {W} bytes expected, {} bytes left", self.remaining))
        })?;
        let mut out = Vec::with_capacity(n as usize);
        let mut buf = vec![0u8; (1 << 16) / W * W];
        let mut left = total as usize;
        while left > 0 {
            let m = left.min(buf.len());
            self.fill(&mut buf[..m])?;
            let (chunks, _) = buf[..m].as_chunks::<W>();
            out.extend(chunks.iter().map(|c| decode(*c)));
            left -= m;
        }
        Ok(out)
    }

    pub(crate) fn array_u8(&mut self, n: u64) -> Result<Vec<u8>> {
        self.array(n, |[b]: [u8; 1]| b)
    }

    pub(crate) fn u64s(&mut self, n: u64) -> Result<Vec<u64>> {
        self.array(n, u64::from_le_bytes)
    }

    pub(crate) fn f32s(&mut self, n: u64) -> Result<Vec<f32>> {
        self.array(n, f32::from_le_bytes)
    }

    /// Checks that everything before the trailer was read.
    pub(crate) fn finish(self) -> Result<()> {
        if self.remaining != 0 {
            return Err(self.corrupt(format!("{} unexpected bytes before the checksum", self.remaining)));
        }
        Ok(())
    }
}
