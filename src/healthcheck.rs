//! `pricepool healthcheck`: one GET /healthz over plain HTTP/1.1, so a
//! container HEALTHCHECK needs no curl in the runtime image.
#![warn(missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why the service was judged unhealthy.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// Connected (or not) but no answer in time.
    #[error("no answer from {0} within {1:?}")]
    Timeout(SocketAddr, Duration),
    /// Nothing listens, or the connection broke.
    #[error("cannot reach {0}: {1}")]
    Io(SocketAddr, std::io::Error),
    /// An answer other than 200.
    #[error("/healthz answered `{0}`")]
    Status(String),
}

/// Succeeds when `address` answers GET /healthz with 200 within `timeout`.
pub async fn check(address: SocketAddr, timeout: Duration) -> Result<(), HealthError> {
    let exchange = async {
        let mut stream = TcpStream::connect(address).await?;
        stream
            .write_all(
                format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
        let mut head = vec![0u8; 64];
        let n = stream.read(&mut head).await?;
        head.truncate(n);
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&head).into_owned())
    };
    let head = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| HealthError::Timeout(address, timeout))?
        .map_err(|e| HealthError::Io(address, e))?;
    let status_line = head.lines().next().unwrap_or("").to_string();
    if status_line.starts_with("HTTP/1.1 200") || status_line.starts_with("HTTP/1.0 200") {
        Ok(())
    } else {
        Err(HealthError::Status(status_line))
    }
}
