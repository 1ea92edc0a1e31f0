//! TLS to the state's server through rustls (no system TLS library to build against),
//! checked as libpq's `sslmode` says: `require` encrypts without checking, `verify-ca`
//! checks the chain, `verify-full` the chain and the host name. The roots are the
//! system's, or those of `sslrootcert`, which replace them as with libpq.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::location::{Location, Tls};

/// The connector for the location's `sslmode` and `sslrootcert`; a root certificate
/// file that can't be read is named in the error.
pub fn connector(location: &Location) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("can't set up TLS: {err}"))?;
    let config = match location.tls {
        // Encryption without a check, as libpq does (a `Disable` connector is never used).
        Tls::Disable | Tls::Prefer | Tls::Require => {
            let verifier = Verifier { provider, chain: None };
            builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier)).with_no_client_auth()
        }
        Tls::VerifyCa => {
            let chain = WebPkiServerVerifier::builder_with_provider(Arc::new(roots(location)?), provider.clone())
                .build()
                .map_err(|err| format!("can't set up TLS: {err}"))?;
            let verifier = Verifier { provider, chain: Some(chain) };
            builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier)).with_no_client_auth()
        }
        Tls::VerifyFull => builder.with_root_certificates(roots(location)?).with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

/// The roots a certificate chain must lead to: `sslrootcert`'s, else the system's.
fn roots(location: &Location) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match &location.root_cert {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|err| format!("can't read sslrootcert {}: {err}", path.display()))?;
            let certs: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok).collect();
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!("sslrootcert {} holds no PEM certificate", path.display()));
            }
        }
        None => {
            // Unreadable system certificates are skipped, as a browser would.
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
    }
    Ok(roots)
}

/// `sslmode=require` (no chain: any certificate is taken) and `verify-ca` (the chain must
/// lead to a trusted root; the host name is not checked). Either way the handshake must be
/// signed by the certificate.
#[derive(Debug)]
struct Verifier {
    provider: Arc<CryptoProvider>,
    chain: Option<Arc<WebPkiServerVerifier>>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
