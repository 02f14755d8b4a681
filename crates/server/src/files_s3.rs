//! S3-compatible storage for delivered copies (AWS S3, MinIO, Ceph RGW, …): the settings, their
//! checks, and the HTTP client object_store's S3 client sends its requests through.
//!
//! object_store's own HTTP stack (its `aws` feature) would build a second reqwest and the
//! aws-lc-sys C library; here its `aws-base` client signs with ring and talks through the
//! reqwest 0.12 + rustls already in the build.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http_body_util::BodyExt as _;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse,
    HttpResponseBody, HttpService,
};
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ClientOptions, ObjectStoreExt, PutPayload, RetryConfig};

/// How long the start waits for the bucket to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// The S3 settings after their checks: everything needed to open the bucket.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Settings {
    pub bucket: String,
    /// The service's address; `None`: AWS itself, from the region.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    /// `https://host/bucket/key` (true) or `https://bucket.host/key` (false).
    pub path_style: bool,
    /// Objects are kept under this folder of the bucket; empty: at its root.
    pub prefix: String,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A configuration mistake, said in English and Chinese (the start prints both).
fn bad(en: impl std::fmt::Display, zh: impl std::fmt::Display) -> String {
    format!("S3 storage: {en} / S3 存储：{zh}")
}

impl S3Settings {
    /// The S3 settings of `config`, `None` when `s3_bucket` is empty (files stay on the local
    /// file system). `env` reads an environment variable: the access key, secret, session
    /// token, region and endpoint fall back to the standard `AWS_*` variables.
    pub fn from_config(
        config: &crate::Config,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<S3Settings>, String> {
        let env = |k: &str| {
            env(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let bucket = config.s3_bucket.trim();
        if bucket.is_empty() {
            let given = [
                ("s3_endpoint", config.s3_endpoint.trim()),
                ("s3_region", config.s3_region.trim()),
                ("s3_access_key_id", config.s3_access_key_id.trim()),
                ("s3_secret_access_key", config.s3_secret_access_key.trim()),
                ("s3_prefix", config.s3_prefix.trim()),
            ];
            if let Some((key, _)) = given.iter().find(|(_, v)| !v.is_empty()) {
                return Err(bad(
                    format!(
                        "{key} is set but s3_bucket is not; set s3_bucket to store copies in S3, or remove {key}"
                    ),
                    format!(
                        "已设置 {key}，但未设置 s3_bucket；要把复制件存入 S3 请设置 s3_bucket，否则请删除 {key}"
                    ),
                ));
            }
            return Ok(None);
        }
        if !valid_bucket(bucket) {
            return Err(bad(
                format!(
                    "s3_bucket {bucket:?} is not a bucket name (3–63 lower-case letters, digits, '.' and '-')"
                ),
                format!(
                    "s3_bucket {bucket:?} 不是有效的存储桶名称（3–63 个小写字母、数字、“.”或“-”）"
                ),
            ));
        }
        if !config.files_dir.trim().is_empty() {
            return Err(bad(
                "files_dir and s3_bucket are both set: copies are kept in one place; remove one of them",
                "同时设置了 files_dir 和 s3_bucket：复制件只能存放在一处，请删除其中一项",
            ));
        }
        let endpoint = match config.s3_endpoint.trim() {
            "" => env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL")),
            e => Some(e.to_owned()),
        };
        let endpoint = match endpoint {
            None => None,
            Some(e) => {
                let url = reqwest::Url::parse(&e).ok().filter(|u| {
                    matches!(u.scheme(), "http" | "https")
                        && u.host_str().is_some()
                        && u.query().is_none()
                });
                if url.is_none() {
                    return Err(bad(
                        format!(
                            "s3_endpoint {e:?} is not an http:// or https:// address, e.g. http://127.0.0.1:9000"
                        ),
                        format!(
                            "s3_endpoint {e:?} 不是 http:// 或 https:// 地址，例如 http://127.0.0.1:9000"
                        ),
                    ));
                }
                Some(e.trim_end_matches('/').to_owned())
            }
        };
        let region = match config.s3_region.trim() {
            "" => env("AWS_REGION")
                .or_else(|| env("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".to_owned()),
            r => r.to_owned(),
        };
        let (key, secret) = (
            config.s3_access_key_id.trim(),
            config.s3_secret_access_key.trim(),
        );
        let (access_key_id, secret_access_key, session_token) = match (key, secret) {
            ("", "") => match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
                (Some(k), Some(s)) => (k, s, env("AWS_SESSION_TOKEN")),
                (Some(_), None) => {
                    return Err(bad(
                        "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not",
                        "已设置 AWS_ACCESS_KEY_ID，但未设置 AWS_SECRET_ACCESS_KEY",
                    ));
                }
                (None, Some(_)) => {
                    return Err(bad(
                        "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not",
                        "已设置 AWS_SECRET_ACCESS_KEY，但未设置 AWS_ACCESS_KEY_ID",
                    ));
                }
                (None, None) => {
                    return Err(bad(
                        "no credentials: set s3_access_key_id and s3_secret_access_key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
                        "缺少凭据：请设置 s3_access_key_id 和 s3_secret_access_key（或 AWS_ACCESS_KEY_ID 和 AWS_SECRET_ACCESS_KEY）",
                    ));
                }
            },
            (k, "") if !k.is_empty() => {
                return Err(bad(
                    "s3_access_key_id is set but s3_secret_access_key is not",
                    "已设置 s3_access_key_id，但未设置 s3_secret_access_key",
                ));
            }
            ("", _) => {
                return Err(bad(
                    "s3_secret_access_key is set but s3_access_key_id is not",
                    "已设置 s3_secret_access_key，但未设置 s3_access_key_id",
                ));
            }
            (k, s) => (k.to_owned(), s.to_owned(), None),
        };
        let prefix = config.s3_prefix.trim().trim_matches('/').to_owned();
        if !prefix.is_empty() && ObjectPath::parse(&prefix).is_err() {
            return Err(bad(
                format!("s3_prefix {prefix:?} is not a folder name (no empty parts, '.' or '..')"),
                format!("s3_prefix {prefix:?} 不是有效的目录名（不能有空的部分、“.”或“..”）"),
            ));
        }
        Ok(Some(S3Settings {
            bucket: bucket.to_owned(),
            endpoint,
            region,
            access_key_id,
            secret_access_key,
            session_token,
            path_style: config.s3_path_style,
            prefix,
        }))
    }

    /// Where requests go, for messages: the endpoint, or AWS's address for the region.
    pub fn address(&self) -> String {
        match &self.endpoint {
            Some(e) => e.clone(),
            None => format!("https://s3.{}.amazonaws.com", self.region),
        }
    }

    /// The endpoint as object_store wants it: with the bucket in the host name for
    /// virtual-hosted-style addressing.
    fn builder_endpoint(&self) -> Option<String> {
        let e = self.endpoint.as_ref()?;
        if self.path_style {
            return Some(e.clone());
        }
        match reqwest::Url::parse(e) {
            Ok(mut u) => {
                let host = u.host_str().unwrap_or_default().to_owned();
                if u.set_host(Some(&format!("{}.{host}", self.bucket))).is_ok() {
                    Some(u.as_str().trim_end_matches('/').to_owned())
                } else {
                    Some(e.clone())
                }
            }
            Err(_) => Some(e.clone()),
        }
    }
}

/// S3's bucket naming rules, roughly: 3–63 characters of `a-z0-9.-`, starting and ending with
/// a letter or digit.
fn valid_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && b.bytes().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.bytes().last().is_some_and(|c| c.is_ascii_alphanumeric())
}

/// Open the bucket and prove it can be written: a small object is stored and deleted. Any
/// failure stops with the address, the bucket and the reason, in both languages.
pub async fn open(s3: &S3Settings) -> anyhow::Result<Arc<dyn ObjectStore>> {
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&s3.bucket)
        .with_region(&s3.region)
        .with_access_key_id(&s3.access_key_id)
        .with_secret_access_key(&s3.secret_access_key)
        .with_virtual_hosted_style_request(!s3.path_style)
        .with_http_connector(Connector)
        .with_retry(RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
            ..RetryConfig::default()
        });
    if let Some(t) = &s3.session_token {
        builder = builder.with_token(t);
    }
    if let Some(e) = s3.builder_endpoint() {
        builder = builder.with_endpoint(e).with_allow_http(
            s3.endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://")),
        );
    }
    let store = builder.build().map_err(|e| {
        anyhow::anyhow!(
            "{}",
            bad(
                format!("the settings are not usable: {e}"),
                format!("设置无法使用：{e}")
            )
        )
    })?;
    let store: Arc<dyn ObjectStore> = if s3.prefix.is_empty() {
        Arc::new(store)
    } else {
        Arc::new(PrefixStore::new(store, s3.prefix.as_str()))
    };
    let probe = ObjectPath::from(format!(
        ".librelay-probe-{}",
        uuid::Uuid::now_v7().as_simple()
    ));
    let check = async {
        store
            .put(&probe, PutPayload::from_static(b"librelay"))
            .await?;
        store.delete(&probe).await
    };
    let unreachable = |why: String| {
        anyhow::anyhow!(
            "{}",
            bad(
                format!(
                    "bucket {} at {} cannot be reached or written ({why}); check s3_endpoint, s3_region, the credentials and that the bucket exists",
                    s3.bucket,
                    s3.address()
                ),
                format!(
                    "无法访问或写入 {} 上的存储桶 {}（{why}）；请检查 s3_endpoint、s3_region、凭据以及存储桶是否存在",
                    s3.address(),
                    s3.bucket
                )
            )
        )
    };
    match tokio::time::timeout(PROBE_TIMEOUT, check).await {
        Ok(Ok(())) => Ok(store),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable(format!(
            "no answer in {} s",
            PROBE_TIMEOUT.as_secs()
        ))),
    }
}

/// Makes object_store's S3 client send through reqwest 0.12.
#[derive(Debug)]
struct Connector;

impl HttpConnector for Connector {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            // Between reads, not for the whole body: a large copy streams to a slow reader.
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            })?;
        Ok(HttpClient::new(Service(client)))
    }
}

#[derive(Debug)]
struct Service(reqwest::Client);

fn http_error(e: reqwest::Error) -> HttpError {
    let kind = if e.is_timeout() {
        HttpErrorKind::Timeout
    } else if e.is_connect() {
        HttpErrorKind::Connect
    } else if e.is_decode() {
        HttpErrorKind::Decode
    } else if e.is_body() || e.is_request() {
        HttpErrorKind::Request
    } else {
        HttpErrorKind::Unknown
    };
    HttpError::new(kind, e.without_url())
}

#[async_trait]
impl HttpService for Service {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (parts, body) = req.into_parts();
        let url = reqwest::Url::parse(&parts.uri.to_string())
            .map_err(|e| HttpError::new(HttpErrorKind::Unknown, e))?;
        let mut out = reqwest::Request::new(parts.method, url);
        *out.headers_mut() = parts.headers;
        let length = body.content_length();
        let body = match body.as_bytes() {
            Some(b) => reqwest::Body::from(b.clone()),
            // A payload of several chunks is sent as it is, with its length.
            None => reqwest::Body::wrap(body),
        };
        if !out.headers().contains_key(http::header::CONTENT_LENGTH) && length > 0 {
            out.headers_mut().insert(
                http::header::CONTENT_LENGTH,
                http::HeaderValue::from(length),
            );
        }
        *out.body_mut() = Some(body);
        let resp = self.0.execute(out).await.map_err(http_error)?;
        let resp: http::Response<reqwest::Body> = resp.into();
        let (parts, body) = resp.into_parts();
        // The body streams: a stored copy is never read whole to be passed on.
        let body = HttpResponseBody::new(body.map_err(http_error));
        Ok(HttpResponse::from_parts(parts, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_none(_: &str) -> Option<String> {
        None
    }

    fn with(change: impl FnOnce(&mut crate::Config)) -> crate::Config {
        let mut c = crate::Config::default();
        change(&mut c);
        c
    }

    #[test]
    fn no_bucket_is_the_local_store() {
        assert_eq!(
            S3Settings::from_config(&crate::Config::default(), env_none),
            Ok(None)
        );
    }

    #[test]
    fn incomplete_settings_are_refused_in_both_languages() {
        let cases: Vec<(crate::Config, &str)> = vec![
            (
                with(|c| c.s3_endpoint = "http://127.0.0.1:9000".into()),
                "s3_endpoint is set but s3_bucket is not",
            ),
            (with(|c| c.s3_bucket = "copies".into()), "no credentials"),
            (
                with(|c| {
                    c.s3_bucket = "copies".into();
                    c.s3_access_key_id = "k".into();
                }),
                "s3_secret_access_key is not",
            ),
            (
                with(|c| {
                    c.s3_bucket = "Bad_Bucket".into();
                }),
                "not a bucket name",
            ),
            (
                with(|c| {
                    c.s3_bucket = "copies".into();
                    c.s3_access_key_id = "k".into();
                    c.s3_secret_access_key = "s".into();
                    c.s3_endpoint = "ftp://x".into();
                }),
                "not an http:// or https:// address",
            ),
            (
                with(|c| {
                    c.s3_bucket = "copies".into();
                    c.s3_access_key_id = "k".into();
                    c.s3_secret_access_key = "s".into();
                    c.s3_prefix = "a/../b".into();
                }),
                "not a folder name",
            ),
            (
                with(|c| {
                    c.s3_bucket = "copies".into();
                    c.files_dir = "/srv/files".into();
                }),
                "both set",
            ),
        ];
        for (config, want) in cases {
            let err = S3Settings::from_config(&config, env_none).unwrap_err();
            assert!(err.contains(want), "{err}");
            assert!(err.contains("S3 存储"), "{err}");
        }
    }

    #[test]
    fn credentials_region_and_endpoint_come_from_the_aws_variables() {
        let config = with(|c| c.s3_bucket = "copies".into());
        let env = |k: &str| match k {
            "AWS_ACCESS_KEY_ID" => Some("AKID".to_owned()),
            "AWS_SECRET_ACCESS_KEY" => Some("SECRET".to_owned()),
            "AWS_SESSION_TOKEN" => Some("TOKEN".to_owned()),
            "AWS_REGION" => Some("cn-north-1".to_owned()),
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:9000/".to_owned()),
            _ => None,
        };
        let s = S3Settings::from_config(&config, env).unwrap().unwrap();
        assert_eq!(s.access_key_id, "AKID");
        assert_eq!(s.secret_access_key, "SECRET");
        assert_eq!(s.session_token.as_deref(), Some("TOKEN"));
        assert_eq!(s.region, "cn-north-1");
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(!format!("{s:?}").contains("SECRET"));
        // The file's settings win over the variables.
        let config = with(|c| {
            c.s3_bucket = "copies".into();
            c.s3_access_key_id = "mine".into();
            c.s3_secret_access_key = "my-secret".into();
            c.s3_region = "eu-west-1".into();
            c.s3_prefix = "/ill/copies/".into();
        });
        let s = S3Settings::from_config(&config, env).unwrap().unwrap();
        assert_eq!(
            (s.access_key_id.as_str(), s.session_token, s.region.as_str()),
            ("mine", None, "eu-west-1")
        );
        assert_eq!(s.prefix, "ill/copies");
    }

    #[test]
    fn virtual_hosted_style_puts_the_bucket_in_the_host() {
        let mut s = S3Settings {
            bucket: "copies".into(),
            endpoint: Some("https://minio.example.org:9000".into()),
            region: "us-east-1".into(),
            access_key_id: "k".into(),
            secret_access_key: "s".into(),
            session_token: None,
            path_style: true,
            prefix: String::new(),
        };
        assert_eq!(
            s.builder_endpoint().as_deref(),
            Some("https://minio.example.org:9000")
        );
        s.path_style = false;
        assert_eq!(
            s.builder_endpoint().as_deref(),
            Some("https://copies.minio.example.org:9000")
        );
    }
}
