//! TLS for the HTTP API (rustls, ring provider): the node's certificate
//! and key from PEM files, the client's trusted CA, and a local CA that
//! issues node certificates for devnets, the demo and the tests.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// The server side of the API's TLS, from a PEM certificate chain and a
/// PEM private key (refused if group or others can read it).
pub fn server_config(cert_file: &Path, key_file: &Path) -> Result<Arc<ServerConfig>> {
    let certs = CertificateDer::pem_file_iter(cert_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading the certificate chain {}", cert_file.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{} holds no certificate",
        cert_file.display()
    );
    let pem = crate::owner_only::read_key_file(key_file)?;
    let key = PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .with_context(|| format!("reading the TLS private key {}", key_file.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the TLS certificate does not match its key")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A certificate authority made for one local network: its certificate
/// (PEM) is what clients trust; its key signs node certificates and is
/// dropped with it.
pub struct LocalCa {
    key: KeyPair,
    cert: rcgen::Certificate,
}

impl LocalCa {
    pub fn new(name: &str) -> Result<LocalCa> {
        let key = KeyPair::generate().context("generating the CA key")?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).context("signing the CA")?;
        Ok(LocalCa { key, cert })
    }

    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// A server certificate for `hosts` (names or IP addresses), as PEM
    /// (certificate, private key).
    pub fn issue(&self, hosts: &[String]) -> Result<(String, String)> {
        let key = KeyPair::generate().context("generating a node TLS key")?;
        let mut params = CertificateParams::new(hosts.to_vec())?;
        params
            .distinguished_name
            .push(DnType::CommonName, hosts.first().map_or("node", |h| h));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .context("signing a node certificate")?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// Writes a node's certificate and key (the key with mode 0600).
pub fn write_node_files(dir: &Path, cert_pem: &str, key_pem: &str) -> Result<()> {
    crate::owner_only::create_or_check_dir(dir)?;
    std::fs::write(dir.join("node.crt"), cert_pem)
        .with_context(|| format!("writing {}", dir.join("node.crt").display()))?;
    crate::owner_only::write_new(&dir.join("node.key"), key_pem.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_ca_issues_a_certificate_the_server_loads_with_a_private_key_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = LocalCa::new("test CA").expect("CA");
        let (cert, key) = ca
            .issue(&["127.0.0.1".into(), "localhost".into()])
            .expect("issued");
        std::fs::write(dir.path().join("c.pem"), &cert).expect("write");
        crate::owner_only::write_new(&dir.path().join("k.pem"), key.as_bytes()).expect("write");
        server_config(&dir.path().join("c.pem"), &dir.path().join("k.pem")).expect("loads");
        std::fs::write(dir.path().join("open.pem"), &key).expect("write");
        let open = dir.path().join("open.pem");
        std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .expect("chmod");
        let err = server_config(&dir.path().join("c.pem"), &open).expect_err("refused");
        assert!(format!("{err:#}").contains("chmod"), "{err:#}");
        assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    }

    #[test]
    fn a_missing_or_mismatched_key_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = LocalCa::new("test CA").expect("CA");
        let (cert, _) = ca.issue(&["localhost".into()]).expect("issued");
        let (_, other_key) = ca.issue(&["localhost".into()]).expect("issued");
        std::fs::write(dir.path().join("c.pem"), &cert).expect("write");
        crate::owner_only::write_new(&dir.path().join("k.pem"), other_key.as_bytes())
            .expect("write");
        let err = server_config(&dir.path().join("c.pem"), &dir.path().join("k.pem"));
        assert!(err.is_err(), "mismatched key");
        assert!(server_config(&dir.path().join("c.pem"), &dir.path().join("none.pem")).is_err());
    }
}
