//! AWS SDK configuration, built from the environment alone: the region, the credentials Lambda
//! puts in the environment, and endpoints from the SDK's own standard variables
//! (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`, …), so the same binary talks to AWS, to
//! moto, or to whatever `sam local` points it at.
//!
//! aws-config's default chain (profile files, SSO, web identity, the instance metadata service)
//! costs about 2 ms of every cold start and finds nothing in Lambda that the environment does not
//! already hold, so it is not used.
//!
//! The SDK trusts only the roots of Amazon Trust Services, which issues the certificate of every
//! AWS endpoint: the fewer authorities trusted, the fewer that could vouch for a false DynamoDB,
//! and parsing five roots instead of the system's ~140 takes about 5 ms off a cold function's
//! first request. `AWS_CA_BUNDLE` (the SDKs' standard variable: a PEM file) replaces them, for an
//! HTTPS endpoint elsewhere.

use std::borrow::Cow;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{HttpClient, SharedHttpClient, http_client_fn};
use aws_types::region::Region;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use rustls::pki_types::{CertificateDer, pem::PemObject};

use crate::config::ConfigError;

pub use aws_config::SdkConfig;

/// The five roots Amazon Trust Services recommends a custom trust store hold.
const AMAZON_TRUST_SERVICES: &[u8] = include_bytes!("../certs/amazon-trust-services.pem");

/// The roots the SDK trusts, as PEM: `AWS_CA_BUNDLE`'s certificates when it is set, else Amazon
/// Trust Services'. A bundle from the environment is parsed here as the TLS client will parse it,
/// so a bad one fails the init rather than the first request; the built-in one is held by a test.
fn trusted_roots(bundle: Option<String>) -> Result<Cow<'static, [u8]>, ConfigError> {
    let Some(path) = bundle else {
        return Ok(Cow::Borrowed(AMAZON_TRUST_SERVICES));
    };
    let invalid = |reason: String| ConfigError::Invalid {
        name: "AWS_CA_BUNDLE",
        reason,
    };
    let pem = std::fs::read(&path).map_err(|err| invalid(format!("{path}: {err}")))?;
    roots(&pem).map_err(invalid)?;
    Ok(Cow::Owned(pem))
}

/// The root certificates of a PEM bundle, parsed as rustls takes them.
fn roots(pem: &[u8]) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(pem) {
        let certificate = certificate.map_err(|err| format!("not PEM: {err}"))?;
        roots
            .add(certificate)
            .map_err(|err| format!("not a root certificate: {err}"))?;
    }
    if roots.is_empty() {
        return Err("no certificate in the file".into());
    }
    Ok(roots)
}

/// The SDK's own HTTPS client (rustls with aws-lc) trusting `roots`, made with its TLS context
/// when the first request needs a connection rather than during init, which requests without a
/// DynamoDB or SNS call skip.
fn lazy_https_client(roots: Cow<'static, [u8]>) -> SharedHttpClient {
    let client = std::sync::OnceLock::<SharedHttpClient>::new();
    http_client_fn(move |settings, components| {
        client
            .get_or_init(|| {
                let tls = TlsContext::builder()
                    .with_trust_store(TrustStore::empty().with_pem_certificate(roots.to_vec()))
                    .build()
                    .expect("a TLS context of a trust store alone always builds");
                aws_smithy_http_client::Builder::new()
                    .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                    .tls_context(tls)
                    .build_https()
            })
            .http_connector(settings, components)
    })
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

/// Per-service settings from the environment, as the SDK names them: `AWS_ENDPOINT_URL_<SERVICE>`
/// (the service id upper-cased, spaces as underscores) before `AWS_ENDPOINT_URL`.
#[derive(Debug)]
struct EnvironmentServiceConfig;

impl LoadServiceConfig for EnvironmentServiceConfig {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        let service = key.service_id().to_uppercase().replace(' ', "_");
        env(&format!("{}_{service}", key.env())).or_else(|| env(key.env()))
    }
}

/// The configuration every client is built from; fails only on a bad `AWS_CA_BUNDLE`.
pub fn load() -> Result<SdkConfig, ConfigError> {
    Ok(config(trusted_roots(env("AWS_CA_BUNDLE"))?))
}

fn config(roots: Cow<'static, [u8]>) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(
            env("AWS_REGION")
                .or_else(|| env("AWS_DEFAULT_REGION"))
                .map(Region::new),
        )
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .service_config(EnvironmentServiceConfig)
        .http_client(lazy_https_client(roots))
        .sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep().expect("tokio is enabled"))
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_endpoint_comes_before_the_global_one() {
        let key = |service| {
            ServiceConfigKey::builder()
                .service_id(service)
                .profile("endpoint_url")
                .env("CLIENT_PORTAL_TEST_ENDPOINT")
                .build()
                .unwrap()
        };
        // SAFETY: no other test reads or writes these variables.
        unsafe {
            std::env::set_var("CLIENT_PORTAL_TEST_ENDPOINT", "http://global");
            std::env::set_var("CLIENT_PORTAL_TEST_ENDPOINT_DYNAMODB", "http://dynamo");
        }
        assert_eq!(
            EnvironmentServiceConfig
                .load_config(key("DynamoDB"))
                .as_deref(),
            Some("http://dynamo")
        );
        assert_eq!(
            EnvironmentServiceConfig.load_config(key("SNS")).as_deref(),
            Some("http://global")
        );
    }

    /// The SHA-256 of each root's SubjectPublicKeyInfo, as amazontrust.com/repository lists them.
    const ATS_SPKI_SHA256: [&str; 5] = [
        "fbe3018031f9586bcbf41727e417b7d1c45c2f47f93be372a17b96b50757d5a2",
        "7f4296fc5b6a4e3b35d3c369623e364ab1af381d8fa7121533c9d6c633ea2461",
        "36abc32656acfc645c61b71613c4bf21c787f5cabbee48348d58597803d7abc9",
        "f7ecded5c66047d28ed6466b543c40e0743abe81d109254dcf845d4c2c7853c5",
        "2b071c59a0a0ae76b0eadb2bad23bad4580b69c3601b630c2eaf0613afa83f92",
    ];

    /// A DER SEQUENCE around `contents`: a trust anchor keeps the key info without it.
    fn der_sequence(contents: &[u8]) -> Vec<u8> {
        let mut der = vec![0x30];
        if contents.len() < 0x80 {
            der.push(contents.len() as u8);
        } else {
            let length = contents.len().to_be_bytes();
            let significant = &length[length.iter().take_while(|byte| **byte == 0).count()..];
            der.push(0x80 | significant.len() as u8);
            der.extend_from_slice(significant);
        }
        der.extend_from_slice(contents);
        der
    }

    #[test]
    fn the_sdk_trusts_the_five_roots_amazon_trust_services_publishes_and_no_other() {
        use crate::auth::otp::hex;
        use sha2::{Digest, Sha256};
        let mut hashes: Vec<String> = roots(AMAZON_TRUST_SERVICES)
            .unwrap()
            .roots
            .iter()
            .map(|anchor| {
                hex(&Sha256::digest(der_sequence(
                    &anchor.subject_public_key_info,
                )))
            })
            .collect();
        hashes.sort();
        let mut published = ATS_SPKI_SHA256.map(str::to_owned).to_vec();
        published.sort();
        assert_eq!(hashes, published);
    }

    fn fixture(name: &str) -> String {
        format!("{}/tests/fixtures/tls/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    fn written(name: &str, contents: &str) -> String {
        let path = std::env::temp_dir().join(format!("{}-{name}", ulid::Ulid::new()));
        std::fs::write(&path, contents).unwrap();
        path.to_string_lossy().into_owned()
    }

    #[test]
    fn a_bad_ca_bundle_is_refused_at_init_with_its_reason() {
        let reason = |bundle: String| match trusted_roots(Some(bundle)) {
            Err(ConfigError::Invalid { name, reason }) => {
                assert_eq!(name, "AWS_CA_BUNDLE");
                reason
            }
            other => panic!("expected an invalid AWS_CA_BUNDLE, got {other:?}"),
        };
        assert!(reason("/nonexistent/ca.pem".into()).starts_with("/nonexistent/ca.pem: "));
        assert_eq!(reason(fixture("server.key")), "no certificate in the file");
        let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(reason(written("broken.pem", broken)).starts_with("not a root certificate"));
        assert!(trusted_roots(Some(fixture("ca.pem"))).is_ok());
    }

    /// A TLS server on 127.0.0.1 with a certificate of the test CA, answering every request as
    /// DynamoDB's ListTables would; counts the handshakes that succeed.
    async fn tls_endpoint() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let certificates = CertificateDer::pem_file_iter(fixture("server.pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(server));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let handshakes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = handshakes.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    continue;
                };
                counted.fetch_add(1, Ordering::SeqCst);
                // The request is read only as far as its headers: the answer does not depend on it.
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                    match tls.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                let body = r#"{"TableNames":[]}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            }
        });
        (format!("https://{address}"), handshakes)
    }

    fn dynamo_at(endpoint: &str, roots: Cow<'static, [u8]>) -> aws_sdk_dynamodb::Client {
        let sdk = config(roots);
        let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .endpoint_url(endpoint)
            .region(Region::new("eu-central-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }

    #[tokio::test]
    async fn the_sdk_refuses_an_endpoint_outside_amazon_trust_services() {
        let (endpoint, handshakes) = tls_endpoint().await;
        let client = dynamo_at(&endpoint, trusted_roots(None).unwrap());
        let err = client.list_tables().send().await.unwrap_err();
        assert!(
            matches!(err, aws_sdk_dynamodb::error::SdkError::DispatchFailure(_)),
            "{err:?}"
        );
        assert_eq!(handshakes.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn the_sdk_reaches_an_endpoint_whose_authority_aws_ca_bundle_names() {
        let (endpoint, handshakes) = tls_endpoint().await;
        let client = dynamo_at(&endpoint, trusted_roots(Some(fixture("ca.pem"))).unwrap());
        let tables = client.list_tables().send().await.unwrap();
        assert!(tables.table_names().is_empty());
        assert_eq!(handshakes.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
