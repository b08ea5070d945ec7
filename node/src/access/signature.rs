//! Request signatures: HTTP Message Signatures (RFC 9421) with ed25519,
//! covering the method, path, query and body digest (RFC 9530
//! `Content-Digest`), with a creation time, a nonce and the signing key
//! as parameters. The client signs with [`sign`]; the node reads the
//! headers back with [`Presented::from_headers`] and checks them with
//! [`Presented::verify`]. docs/API.md "Access" shows a signed request.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use fundtrail_ledger::crypto::{verify_message, Keypair, PublicKey, Signature};
use sha2::{Digest, Sha256};

/// The label the signature goes under in both headers.
pub const LABEL: &str = "ft";
/// The covered components, in order, as they appear in `Signature-Input`.
pub const COMPONENTS: &str = r#"("@method" "@path" "@query" "content-digest")"#;
/// The one algorithm accepted.
pub const ALG: &str = "ed25519";

pub const CONTENT_DIGEST: &str = "content-digest";
pub const SIGNATURE_INPUT: &str = "signature-input";
pub const SIGNATURE: &str = "signature";

/// Longest nonce accepted (bytes).
const MAX_NONCE: usize = 64;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the request is not signed: the {0} header is missing")]
    Missing(&'static str),
    #[error("malformed {header} header: {why}")]
    Malformed { header: &'static str, why: String },
    #[error("the signature must cover exactly {COMPONENTS}")]
    Components,
    #[error("the signature's alg must be \"{ALG}\"")]
    Algorithm,
    #[error("the content-digest header does not match the body")]
    Digest,
    #[error("the signature does not verify under key {0}")]
    Invalid(String),
}

/// `sha-256=:BASE64:` of a body (RFC 9530).
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", B64.encode(Sha256::digest(body)))
}

/// What a signature covers: the request line and the body's digest.
pub struct Covered<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The query without its `?`, if the request has one.
    pub query: Option<&'a str>,
    pub digest: &'a str,
}

impl Covered<'_> {
    /// The signature base (RFC 9421 §2.5) for `params`, the serialized
    /// signature parameters as they appear in `Signature-Input`.
    fn base(&self, params: &str) -> String {
        format!(
            "\"@method\": {}\n\"@path\": {}\n\"@query\": ?{}\n\"content-digest\": {}\n\"@signature-params\": {params}",
            self.method,
            self.path,
            self.query.unwrap_or(""),
            self.digest
        )
    }
}

/// The headers that sign a request: `Content-Digest`, `Signature-Input`
/// and `Signature`, as (name, value) pairs.
pub fn sign(
    key: &Keypair,
    method: &str,
    path: &str,
    query: Option<&str>,
    body: &[u8],
    created: u64,
    nonce: &str,
) -> [(&'static str, String); 3] {
    let digest = content_digest(body);
    let params = format!(
        "{COMPONENTS};created={created};nonce=\"{nonce}\";keyid=\"{}\";alg=\"{ALG}\"",
        key.public().to_hex()
    );
    let covered = Covered {
        method,
        path,
        query,
        digest: &digest,
    };
    let signature = key.sign_message(covered.base(&params).as_bytes());
    [
        (CONTENT_DIGEST, digest),
        (SIGNATURE_INPUT, format!("{LABEL}={params}")),
        (SIGNATURE, format!("{LABEL}=:{}:", B64.encode(signature.0))),
    ]
}

/// A signature as a request presents it, parsed but not yet checked.
#[derive(Debug)]
pub struct Presented {
    pub key: PublicKey,
    pub created: u64,
    pub nonce: String,
    params: String,
    signature: Signature,
}

impl Presented {
    /// Reads the signature headers; `header` returns a header's value.
    pub fn from_headers<'h>(
        header: impl Fn(&str) -> Option<&'h str>,
    ) -> Result<Presented, SignatureError> {
        let input = header(SIGNATURE_INPUT).ok_or(SignatureError::Missing("Signature-Input"))?;
        let value = header(SIGNATURE).ok_or(SignatureError::Missing("Signature"))?;
        let params = labelled(input, SIGNATURE_INPUT)?;
        let encoded = labelled(value, SIGNATURE)?
            .strip_prefix(':')
            .and_then(|v| v.strip_suffix(':'))
            .ok_or_else(|| malformed(SIGNATURE, "the value is not a :byte sequence:"))?;
        let bytes: [u8; 64] = B64
            .decode(encoded)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| malformed(SIGNATURE, "not 64 bytes of base64"))?;
        let fields = Params::parse(params)?;
        Ok(Presented {
            key: fields.key,
            created: fields.created,
            nonce: fields.nonce,
            params: params.to_string(),
            signature: Signature(bytes),
        })
    }

    /// Checks the digest against `body` and the signature against what it
    /// covers. Freshness and replay are the caller's to check.
    pub fn verify(&self, covered: &Covered, body: &[u8]) -> Result<(), SignatureError> {
        if covered.digest != content_digest(body) {
            return Err(SignatureError::Digest);
        }
        verify_message(
            &self.key,
            covered.base(&self.params).as_bytes(),
            &self.signature,
        )
        .map_err(|_| SignatureError::Invalid(self.key.short()))
    }
}

fn malformed(header: &'static str, why: impl Into<String>) -> SignatureError {
    SignatureError::Malformed {
        header,
        why: why.into(),
    }
}

/// The value under [`LABEL`] of a one-member dictionary header.
fn labelled<'v>(value: &'v str, header: &'static str) -> Result<&'v str, SignatureError> {
    value
        .trim()
        .strip_prefix(LABEL)
        .and_then(|v| v.strip_prefix('='))
        .ok_or_else(|| malformed(header, format!("expected one signature labelled {LABEL}")))
}

/// The signature parameters this API requires.
struct Params {
    created: u64,
    nonce: String,
    key: PublicKey,
}

impl Params {
    fn parse(text: &str) -> Result<Params, SignatureError> {
        let rest = text
            .strip_prefix(COMPONENTS)
            .ok_or(SignatureError::Components)?;
        if !rest.starts_with(';') && !rest.is_empty() {
            return Err(SignatureError::Components);
        }
        let (mut created, mut nonce, mut key, mut alg) = (None, None, None, None);
        for param in rest.split(';').skip(1) {
            let (name, value) = param
                .split_once('=')
                .ok_or_else(|| malformed(SIGNATURE_INPUT, "a parameter without a value"))?;
            match name {
                "created" => created = Some(integer(value)?),
                "nonce" => nonce = Some(quoted(value)?.to_string()),
                "keyid" => key = Some(quoted(value)?),
                "alg" => alg = Some(quoted(value)?),
                _ => return Err(malformed(SIGNATURE_INPUT, "an unknown parameter")),
            }
        }
        if alg != Some(ALG) {
            return Err(SignatureError::Algorithm);
        }
        let nonce = nonce
            .filter(|n| !n.is_empty() && n.len() <= MAX_NONCE)
            .ok_or_else(|| {
                malformed(SIGNATURE_INPUT, "a nonce of 1 to 64 characters is required")
            })?;
        let key = key
            .and_then(|k| PublicKey::from_hex(k).ok())
            .ok_or_else(|| malformed(SIGNATURE_INPUT, "keyid must be a 64-hex public key"))?;
        let created =
            created.ok_or_else(|| malformed(SIGNATURE_INPUT, "the created time is required"))?;
        Ok(Params {
            created,
            nonce,
            key,
        })
    }
}

fn integer(value: &str) -> Result<u64, SignatureError> {
    value
        .parse()
        .map_err(|_| malformed(SIGNATURE_INPUT, "created must be an integer"))
}

/// A quoted string parameter; characters that would need escaping are
/// refused rather than unescaped.
fn quoted(value: &str) -> Result<&str, SignatureError> {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .filter(|v| {
            v.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        })
        .ok_or_else(|| {
            malformed(
                SIGNATURE_INPUT,
                "a string parameter is not a plain quoted string",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Keypair {
        Keypair::from_seed([5; 32])
    }

    fn presented(headers: &[(&'static str, String); 3]) -> Result<Presented, SignatureError> {
        Presented::from_headers(|name| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        })
    }

    fn covered<'a>(
        method: &'a str,
        path: &'a str,
        query: Option<&'a str>,
        digest: &'a str,
    ) -> Covered<'a> {
        Covered {
            method,
            path,
            query,
            digest,
        }
    }

    #[test]
    fn a_signed_request_verifies_and_any_covered_change_breaks_it() {
        let body = br#"{"a":1}"#;
        let headers = sign(
            &key(),
            "POST",
            "/v1/vault",
            Some("x=1"),
            body,
            1_700_000_000,
            "n1",
        );
        let p = presented(&headers).expect("parses");
        assert_eq!(p.key, key().public());
        assert_eq!((p.created, p.nonce.as_str()), (1_700_000_000, "n1"));
        let digest = &headers[0].1;
        p.verify(&covered("POST", "/v1/vault", Some("x=1"), digest), body)
            .expect("verifies");

        for (c, what) in [
            (covered("GET", "/v1/vault", Some("x=1"), digest), "method"),
            (covered("POST", "/v1/vaults", Some("x=1"), digest), "path"),
            (covered("POST", "/v1/vault", Some("x=2"), digest), "query"),
            (covered("POST", "/v1/vault", None, digest), "no query"),
        ] {
            assert!(
                matches!(p.verify(&c, body), Err(SignatureError::Invalid(_))),
                "{what}"
            );
        }
        let changed = br#"{"a":2}"#;
        assert_eq!(
            p.verify(&covered("POST", "/v1/vault", Some("x=1"), digest), changed),
            Err(SignatureError::Digest)
        );
        let forged = content_digest(changed);
        assert!(matches!(
            p.verify(&covered("POST", "/v1/vault", Some("x=1"), &forged), changed),
            Err(SignatureError::Invalid(_))
        ));
    }

    #[test]
    fn the_signature_base_is_the_rfc_9421_layout() {
        let base = covered("GET", "/v1/head", None, "sha-256=:x:").base("(p)");
        assert_eq!(
            base,
            "\"@method\": GET\n\"@path\": /v1/head\n\"@query\": ?\n\
             \"content-digest\": sha-256=:x:\n\"@signature-params\": (p)"
        );
        assert_eq!(
            content_digest(b""),
            "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
        );
    }

    #[test]
    fn missing_or_malformed_signature_headers_are_refused_with_a_reason() {
        let good = sign(&key(), "GET", "/v1/head", None, b"", 1, "n");
        assert_eq!(
            presented(&[good[0].clone(), good[1].clone(), ("x", String::new())]).err(),
            Some(SignatureError::Missing("Signature"))
        );
        let with_input = |input: &str| {
            presented(&[
                good[0].clone(),
                (SIGNATURE_INPUT, input.to_string()),
                good[2].clone(),
            ])
        };
        let k = key().public().to_hex();
        for (input, expected) in [
            (
                format!(r#"ft=("@method" "@path");created=1;nonce="n";keyid="{k}";alg="ed25519""#),
                SignatureError::Components,
            ),
            (
                format!(r#"ft={COMPONENTS};created=1;nonce="n";keyid="{k}";alg="rsa""#),
                SignatureError::Algorithm,
            ),
            (
                format!(r#"ft={COMPONENTS};created=1;keyid="{k}";alg="ed25519""#),
                malformed(SIGNATURE_INPUT, "a nonce of 1 to 64 characters is required"),
            ),
            (
                format!(r#"ft={COMPONENTS};created=x;nonce="n";keyid="{k}";alg="ed25519""#),
                malformed(SIGNATURE_INPUT, "created must be an integer"),
            ),
            (
                format!(r#"ft={COMPONENTS};created=1;nonce="n";keyid="zz";alg="ed25519""#),
                malformed(SIGNATURE_INPUT, "keyid must be a 64-hex public key"),
            ),
            (
                format!(r#"other={COMPONENTS};created=1;nonce="n";keyid="{k}";alg="ed25519""#),
                malformed(SIGNATURE_INPUT, "expected one signature labelled ft"),
            ),
        ] {
            assert_eq!(with_input(&input).err(), Some(expected), "{input}");
        }
    }
}
