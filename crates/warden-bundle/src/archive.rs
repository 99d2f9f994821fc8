//! Bundle archives: gzipped tar files whose entries are named like `opa build` names them
//! (`/.manifest`, `/data.json`, `/warden/main.rego`, `/.signatures.json`).

use std::io::{Read, Write};

/// Largest file accepted in a bundle (OPA's default limit is 1 GiB; policies are far smaller).
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Most files accepted in a bundle.
pub const MAX_FILES: usize = 100_000;
/// Most bytes a bundle's files may hold together, unpacked: with only the per-file limit, a
/// 2 MB archive of a few 200 MiB files would be unpacked whole (gigabytes) before its signature
/// is checked. The 10,000-agent benchmark bundle holds 36 MB.
pub const MAX_TOTAL_BYTES: u64 = 512 * 1024 * 1024;
/// Largest bundle archive accepted (compressed), from a file or a bundle service.
pub const MAX_ARCHIVE_BYTES: u64 = 128 * 1024 * 1024;

/// Why an archive cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Not gzip, or not tar, or truncated.
    #[error("not a readable bundle archive: {0}")]
    Corrupt(String),
    /// An entry escapes the bundle or is not a regular file.
    #[error("unsafe entry `{0}` in bundle: {1}")]
    Unsafe(String, &'static str),
    /// Over a size or count limit.
    #[error("bundle too large: {0}")]
    TooLarge(String),
}

/// Writes `files` (names without a leading `/`) as a `.tar.gz` with OPA's entry names.
pub fn write_archive(files: &[(String, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (name, bytes) in files {
        let full = format!("/{name}");
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        // tar-rs refuses absolute names in set_path; OPA writes them, so set the raw name bytes.
        let raw = full.as_bytes();
        if raw.len() > 100 {
            // Long names need a GNU long-name entry, which append_data writes for relative paths.
            h.set_path(name)?;
        } else {
            let field = &mut h.as_old_mut().name;
            field.fill(0);
            field[..raw.len()].copy_from_slice(raw);
        }
        h.set_cksum();
        tar.append(&h, bytes.as_slice())?;
    }
    let gz = tar.into_inner()?;
    let mut out = gz.finish()?;
    out.flush()?;
    Ok(out)
}

/// Reads a `.tar.gz` bundle into (name without leading `/`, bytes) pairs in archive order.
/// Rejects links, devices, `..` and absolute escapes, and anything over the limits.
pub fn read_archive(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, ArchiveError> {
    read_archive_with(bytes, || {})
}

/// [`read_archive`] that calls `pause_point` before every [`PAUSE_CHUNK`] bytes of
/// decompressed output: a background loader uses it to give up the CPU now and then. (Metering
/// the compressed input would not do: a policy bundle is so repetitive that 1 KB of it can
/// inflate to a megabyte, ~4 ms of work.)
pub fn read_archive_with(
    bytes: &[u8],
    pause_point: fn(),
) -> Result<Vec<(String, Vec<u8>)>, ArchiveError> {
    read_limited(bytes, pause_point, MAX_TOTAL_BYTES)
}

/// [`read_archive_with`] with `max_total` unpacked bytes in all.
fn read_limited(
    bytes: &[u8],
    pause_point: fn(),
    max_total: u64,
) -> Result<Vec<(String, Vec<u8>)>, ArchiveError> {
    let gz = Paced {
        inner: flate2::read::GzDecoder::new(bytes),
        pause_point,
    };
    let mut tar = tar::Archive::new(gz);
    let mut out = Vec::new();
    let mut total = 0u64;
    let entries = tar
        .entries()
        .map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if !(kind.is_file() || kind == tar::EntryType::Continuous) {
            return Err(ArchiveError::Unsafe(raw, "not a regular file"));
        }
        let name = raw
            .trim_start_matches('/')
            .trim_start_matches("./")
            .to_string();
        if name.is_empty()
            || name.split('/').any(|p| p == ".." || p.is_empty())
            || name.contains('\\')
        {
            return Err(ArchiveError::Unsafe(raw, "path escapes the bundle"));
        }
        let size = entry
            .header()
            .size()
            .map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        if size > MAX_FILE_BYTES {
            return Err(ArchiveError::TooLarge(format!("{name} is {size} bytes")));
        }
        if total + size > max_total {
            return Err(ArchiveError::TooLarge(format!(
                "its files hold more than {max_total} bytes unpacked"
            )));
        }
        let mut data = Vec::with_capacity(size as usize);
        entry
            .by_ref()
            .take(size.min(MAX_FILE_BYTES) + 1)
            .read_to_end(&mut data)
            .map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        total += data.len() as u64;
        out.push((name, data));
        if out.len() > MAX_FILES {
            return Err(ArchiveError::TooLarge(format!(
                "more than {MAX_FILES} files"
            )));
        }
    }
    Ok(out)
}

/// Most decompressed bytes handed out per read by [`Paced`] (~0.1–0.3 ms of inflating).
pub const PAUSE_CHUNK: usize = 64 * 1024;

/// A reader that hands out at most [`PAUSE_CHUNK`] bytes per read, calling its pause point
/// before each read.
struct Paced<R> {
    inner: R,
    pause_point: fn(),
}

impl<R: Read> Read for Paced<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        (self.pause_point)();
        let n = buf.len().min(PAUSE_CHUNK);
        self.inner.read(&mut buf[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    static POINTS: AtomicUsize = AtomicUsize::new(0);

    #[test]
    fn files_that_together_pass_the_unpacked_limit_are_refused_before_the_rest_is_read() {
        let files: Vec<(String, Vec<u8>)> = (0..3)
            .map(|i| (format!("f{i}.json"), vec![b' '; 600]))
            .collect();
        let archive = write_archive(&files).unwrap();
        assert_eq!(read_limited(&archive, || {}, 2000).unwrap().len(), 3);
        match read_limited(&archive, || {}, 1000) {
            Err(ArchiveError::TooLarge(why)) => {
                assert!(why.contains("1000 bytes unpacked"), "{why}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_paced_read_reaches_a_pause_point_per_chunk_of_output_and_reads_the_same_files() {
        fn count() {
            POINTS.fetch_add(1, Relaxed);
        }
        // 4 MB that deflate squeezes to a few KB, as repetitive policy data does.
        let data = "{\"agent\": {\"tools\": {}}},".repeat(4 * 1024 * 1024 / 26);
        let files = vec![
            (".manifest".to_string(), b"{}".to_vec()),
            ("data.json".to_string(), data.into_bytes()),
        ];
        let archive = write_archive(&files).unwrap();
        assert!(archive.len() < 64 * 1024, "{} bytes", archive.len());
        let paced = read_archive_with(&archive, count).unwrap();
        assert_eq!(paced, read_archive(&archive).unwrap());
        assert_eq!(paced, files);
        let points = POINTS.load(Relaxed);
        assert!(
            points >= 4 * 1024 * 1024 / PAUSE_CHUNK,
            "{points} pause points"
        );
    }
}
