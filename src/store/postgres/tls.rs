//! TLS to the state's server through `native-tls` (OpenSSL), checked as libpq's
//! `sslmode` says: `require` encrypts without checking, `verify-ca` checks the chain,
//! `verify-full` the chain and the host name.

use postgres_native_tls::MakeTlsConnector;

use super::location::{Location, Tls};

/// The connector for the location's `sslmode` and `sslrootcert`; a root certificate
/// file that can't be read is named in the error.
pub fn connector(location: &Location) -> Result<MakeTlsConnector, String> {
    let mut builder = native_tls::TlsConnector::builder();
    match location.tls {
        // Encryption without a check, as libpq does (a `Disable` connector is never used).
        Tls::Disable | Tls::Prefer | Tls::Require => {
            builder.danger_accept_invalid_certs(true).danger_accept_invalid_hostnames(true);
        }
        Tls::VerifyCa => {
            builder.danger_accept_invalid_hostnames(true);
        }
        Tls::VerifyFull => {}
    }
    if let Some(path) = &location.root_cert {
        let pem = std::fs::read(path).map_err(|err| format!("can't read sslrootcert {}: {err}", path.display()))?;
        let roots = native_tls::Certificate::stack_from_pem(&pem)
            .ok()
            .filter(|roots| !roots.is_empty())
            .ok_or_else(|| format!("sslrootcert {} holds no PEM certificate", path.display()))?;
        // As with libpq, the file's roots replace the system's.
        builder.disable_built_in_roots(true);
        for root in roots {
            builder.add_root_certificate(root);
        }
    }
    let connector = builder.build().map_err(|err| format!("can't set up TLS: {err}"))?;
    Ok(MakeTlsConnector::new(connector))
}
