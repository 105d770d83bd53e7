//! TLS of the gRPC port (rustls through tonic): the server's certificate
//! and key, and optionally the CA whose client certificates are accepted
//! (mutual TLS; a client may still authenticate with a token instead).

use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use super::config::TlsFiles;

fn read(what: &str, path: &std::path::Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read the TLS {what} `{}`: {e}", path.display()))
}

/// The tonic TLS config of `files`.
pub fn server_config(files: &TlsFiles) -> Result<ServerTlsConfig, String> {
    let identity = Identity::from_pem(read("certificate", &files.cert)?, read("key", &files.key)?);
    let mut config = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &files.client_ca {
        config = config
            .client_ca_root(Certificate::from_pem(read("client CA", ca)?))
            .client_auth_optional(true);
    }
    Ok(config)
}
