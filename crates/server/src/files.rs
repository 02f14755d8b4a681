//! Where delivered copies live: object storage (a folder in the data dir by default, or an
//! S3-compatible bucket by configuration), what may be stored (checked by content, not by
//! name) and how big.

use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
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
