//! Where delivered copies live: object storage (a folder in the data dir by default, or an
//! S3-compatible bucket by configuration), what may be stored (checked by content, not by
//! name) and how big.

use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};

/// The types a delivered copy may have, recognised by their first bytes.
pub const ACCEPTED: &str = "PDF, TIFF, JPEG, PNG or EPUB";

/// The content type of `bytes`, when it is one librelay delivers.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        Some("image/tiff")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"PK\x03\x04")
        && bytes.get(30..58) == Some(b"mimetypeapplication/epub+zip".as_slice())
    {
        Some("application/epub+zip")
    } else {
        None
    }
}

/// The usual file name extension of a type `sniff` returns.
pub fn extension(content_type: &str) -> &'static str {
    match content_type {
        "application/pdf" => "pdf",
        "image/tiff" => "tif",
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "application/epub+zip" => "epub",
        _ => "bin",
    }
}

/// A file name safe to put in a header and show: no path, no control or quote characters,
/// at most 120 characters, with the extension of its real type.
pub fn clean_filename(given: &str, content_type: &str) -> String {
    let base = given.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut name: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | ';' | '\\'))
        .take(120)
        .collect();
    let name_trimmed = name.trim().trim_matches('.').to_owned();
    name = if name_trimmed.is_empty() {
        "copy".to_owned()
    } else {
        name_trimmed
    };
    let ext = extension(content_type);
    if !name.to_lowercase().ends_with(&format!(".{ext}")) {
        name = format!("{name}.{ext}");
    }
    name
}

/// The size of one part of a multipart upload: S3's smallest (every part but the last must
/// have at least 5 MiB). A copy no larger is stored in one request.
pub const PART_BYTES: usize = 5 * 1024 * 1024;
/// Parts sent at once: memory held for one upload stays near this many parts.
const PARTS_IN_FLIGHT: usize = 2;
/// The bytes that tell a type apart (an EPUB's `mimetype` entry ends at byte 58).
const SNIFF_BYTES: usize = 58;

/// A copy as it was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub content_type: &'static str,
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// Why a streamed copy was not stored; nothing of it remains in the store.
#[derive(Debug)]
pub enum PutRefused {
    Empty,
    /// More bytes came than the limit allows.
    TooLarge,
    /// Not a type librelay delivers (judged by the first bytes).
    NotAccepted,
    /// The sender's stream broke off: what it said.
    Body(String),
    /// The store failed.
    Store(anyhow::Error),
}

/// A request body that broke off, or was cut at the server's limit on bodies.
impl From<axum::Error> for PutRefused {
    fn from(e: axum::Error) -> Self {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(c) = cause {
            if c.is::<http_body_util::LengthLimitError>() {
                return PutRefused::TooLarge;
            }
            cause = c.source();
        }
        PutRefused::Body(e.to_string())
    }
}

/// A file field of a browser's form that broke off, or passed the route's limit on bodies.
impl From<axum::extract::multipart::MultipartError> for PutRefused {
    fn from(e: axum::extract::multipart::MultipartError) -> Self {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            return PutRefused::TooLarge;
        }
        PutRefused::Body(e.body_text())
    }
}

/// A copy fetched from a partner's node that broke off.
impl From<reqwest::Error> for PutRefused {
    fn from(e: reqwest::Error) -> Self {
        PutRefused::Body(e.to_string())
    }
}

/// Where a streamed copy is being written: nowhere yet (its first part is still in memory),
/// or a multipart upload under way.
enum Sink {
    Buffered(Vec<Bytes>, usize),
    Parts(WriteMultipart),
}

#[derive(Clone)]
pub struct Files {
    inner: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Files({})", self.inner)
    }
}

impl Files {
    /// Files in `dir` on the local file system (created if missing).
    pub fn local(dir: &std::path::Path) -> anyhow::Result<Files> {
        std::fs::create_dir_all(dir)?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)?;
        Ok(Files {
            inner: Arc::new(fs),
        })
    }

    /// The store the configuration names: an S3-compatible bucket when `s3_bucket` is set
    /// (checked by writing and deleting a small object, so a wrong setting stops the start with
    /// its reason), else the local folder.
    pub async fn from_config(config: &crate::Config) -> anyhow::Result<Files> {
        let settings = crate::files_s3::S3Settings::from_config(config, |k| std::env::var(k).ok())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        match settings {
            Some(s3) => {
                let inner = crate::files_s3::open(&s3).await?;
                Ok(Files { inner })
            }
            None => {
                let dir = config.files_path();
                Files::local(&dir).map_err(|e| {
                    anyhow::anyhow!(
                        "opening the file store {d}: {e} / 无法打开文件存储目录 {d}：{e}",
                        d = dir.display()
                    )
                })
            }
        }
    }

    /// Store `bytes` under `key`; returns its SHA-256 (hex). The object appears whole or not at
    /// all: the local store writes a temporary file and renames it, S3 takes a single PUT.
    pub async fn put(&self, key: &str, bytes: bytes::Bytes) -> anyhow::Result<String> {
        let digest = Sha256::digest(&bytes);
        let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.inner
            .put(&ObjectPath::from(key), PutPayload::from(bytes))
            .await?;
        Ok(hex)
    }

    /// Store what `body` streams under `key`, checking it as it comes: its type by its first
    /// bytes, its size against `max` (refused as soon as it is passed). Memory stays near
    /// [`PART_BYTES`] times [`PARTS_IN_FLIGHT`] whatever the size: a copy up to one part is
    /// stored in one request, a larger one as a multipart upload. The object appears under
    /// `key` whole when the last part is in, or not at all: a refused or failed upload is
    /// aborted (the local store writes a staging file and renames it; S3 drops the parts).
    pub async fn put_stream<S, E>(
        &self,
        key: &str,
        body: &mut S,
        max: u64,
    ) -> Result<Stored, PutRefused>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<PutRefused>,
    {
        let path = ObjectPath::from(key);
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut content_type: Option<&'static str> = None;
        let mut sink = Sink::Buffered(Vec::new(), 0);
        let refused = |sink: Sink, why: PutRefused| async move {
            if let Sink::Parts(upload) = sink
                && let Err(e) = upload.abort().await
            {
                tracing::warn!(error = %e, "could not abort a refused multipart upload");
            }
            Err(why)
        };
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => return refused(sink, e.into()).await,
            };
            size += chunk.len() as u64;
            if size > max {
                return refused(sink, PutRefused::TooLarge).await;
            }
            hasher.update(&chunk);
            sink = match sink {
                Sink::Buffered(mut chunks, len) => {
                    let len = len + chunk.len();
                    chunks.push(chunk);
                    if content_type.is_none() && len >= SNIFF_BYTES {
                        match sniff(&first_bytes(&chunks, SNIFF_BYTES)) {
                            Some(t) => content_type = Some(t),
                            None => return Err(PutRefused::NotAccepted),
                        }
                    }
                    if len > PART_BYTES {
                        // Larger than one part: from here on, a multipart upload.
                        let upload = match self.inner.put_multipart(&path).await {
                            Ok(u) => u,
                            Err(e) => return Err(PutRefused::Store(e.into())),
                        };
                        let mut upload = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
                        for c in chunks {
                            upload.put(c);
                        }
                        Sink::Parts(upload)
                    } else {
                        Sink::Buffered(chunks, len)
                    }
                }
                Sink::Parts(mut upload) => {
                    if let Err(e) = upload.wait_for_capacity(PARTS_IN_FLIGHT).await {
                        return refused(Sink::Parts(upload), PutRefused::Store(e.into())).await;
                    }
                    upload.put(chunk);
                    Sink::Parts(upload)
                }
            };
        }
        if size == 0 {
            return Err(PutRefused::Empty);
        }
        let content_type = match content_type {
            Some(t) => t,
            None => {
                let Sink::Buffered(chunks, _) = &sink else {
                    return refused(sink, PutRefused::NotAccepted).await;
                };
                match sniff(&first_bytes(chunks, SNIFF_BYTES)) {
                    Some(t) => t,
                    None => return Err(PutRefused::NotAccepted),
                }
            }
        };
        match sink {
            Sink::Buffered(chunks, _) => {
                let payload: PutPayload = chunks.into_iter().collect();
                self.inner
                    .put(&path, payload)
                    .await
                    .map_err(|e| PutRefused::Store(e.into()))?;
            }
            Sink::Parts(upload) => {
                // `finish` aborts the upload itself when a part or the completion fails.
                upload
                    .finish()
                    .await
                    .map_err(|e| PutRefused::Store(e.into()))?;
            }
        }
        let sha256 = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Stored {
            content_type,
            size,
            sha256,
        })
    }

    /// `len` bytes of `key` from offset `at` (fewer at its end).
    pub async fn get_range(&self, key: &str, at: u64, len: u64) -> anyhow::Result<Bytes> {
        Ok(self
            .inner
            .get_range(&ObjectPath::from(key), at..at.saturating_add(len))
            .await?)
    }

    pub async fn get(&self, key: &str) -> anyhow::Result<bytes::Bytes> {
        Ok(self
            .inner
            .get(&ObjectPath::from(key))
            .await?
            .bytes()
            .await?)
    }

    /// The stored bytes of `key` as a stream, with their length: a large copy is sent on
    /// without being held in memory.
    pub async fn get_stream(
        &self,
        key: &str,
    ) -> anyhow::Result<(
        u64,
        futures::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>,
    )> {
        let got = self.inner.get(&ObjectPath::from(key)).await?;
        Ok((got.meta.size, got.into_stream()))
    }

    /// Whether `key` is stored.
    pub async fn exists(&self, key: &str) -> anyhow::Result<bool> {
        match self.inner.head(&ObjectPath::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Delete `key`; a key already gone is not an error.
    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        match self.inner.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// A guard for `key` while it is being stored and recorded: see [`Unrecorded`].
    pub fn unrecorded(&self, key: &str) -> Unrecorded {
        Unrecorded {
            files: self.clone(),
            key: Some(key.to_owned()),
        }
    }
}

/// An object being stored whose row is not written yet. When the work is dropped half-way (the
/// sender went away and the server stopped the request's handler, or the node shut down), the
/// guard deletes the key in the background, so no copy is left that no row names. Whoever
/// finishes the work, recorded or cleaned up, calls [`Unrecorded::settled`].
pub struct Unrecorded {
    files: Files,
    key: Option<String>,
}

impl Unrecorded {
    /// The object is recorded, or was already removed: nothing left to do.
    pub fn settled(mut self) {
        self.key = None;
    }
}

impl Drop for Unrecorded {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let files = self.files.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    if let Err(e) = files.delete(&key).await {
                        tracing::warn!(error = %e, key, "could not remove an abandoned copy");
                    }
                });
            }
            Err(_) => tracing::warn!(key, "an abandoned copy is left in the file store"),
        }
    }
}

/// The first `n` bytes of `chunks` (fewer if they hold fewer), in one piece.
fn first_bytes(chunks: &[Bytes], n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    for c in chunks {
        let take = (n - out.len()).min(c.len());
        out.extend_from_slice(&c[..take]);
        if out.len() == n {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_told_by_content() {
        assert_eq!(sniff(b"%PDF-1.7\n..."), Some("application/pdf"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff(b"II*\0...."), Some("image/tiff"));
        let mut epub = b"PK\x03\x04".to_vec();
        epub.resize(30, 0);
        epub.extend_from_slice(b"mimetypeapplication/epub+zip");
        assert_eq!(sniff(&epub), Some("application/epub+zip"));
        assert_eq!(sniff(b"PK\x03\x04 a plain zip"), None);
        assert_eq!(sniff(b"<html>%PDF-"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn file_names_are_made_safe() {
        assert_eq!(
            clean_filename("../../etc/passwd", "application/pdf"),
            "passwd.pdf"
        );
        assert_eq!(
            clean_filename("Smith 2021.PDF", "application/pdf"),
            "Smith 2021.PDF"
        );
        assert_eq!(
            clean_filename("a\"b;c\r\n.pdf", "application/pdf"),
            "abc.pdf"
        );
        assert_eq!(clean_filename("", "image/png"), "copy.png");
        assert_eq!(clean_filename("scan.pdf", "image/tiff"), "scan.pdf.tif");
    }
}
