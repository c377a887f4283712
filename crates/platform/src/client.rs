//! Channels to peer services: created lazily so start order does not matter, with bounded
//! connect and call timeouts so a dead peer fails fast instead of hanging a request.

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

/// How long one call to a peer may take, unless the caller's deadline is shorter.
pub const PEER_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A channel to the peer at `url` (for example `http://127.0.0.1:50052`).
pub fn lazy_channel(url: &str) -> anyhow::Result<Channel> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|error| anyhow::anyhow!("{url:?} is not a valid endpoint URL: {error}"))?
        .connect_timeout(Duration::from_secs(2))
        .timeout(PEER_CALL_TIMEOUT)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    Ok(endpoint.connect_lazy())
}

/// A failed call to a peer service, in the terms the caller decides on.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The peer says the resource does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The peer could not be reached or did not answer in time; retrying later may help.
    #[error("{service} is unreachable: {message}")]
    Unreachable {
        /// Which peer.
        service: &'static str,
        /// What the transport said.
        message: String,
    },
    /// The peer answered with another error.
    #[error("{service} failed: {code:?}: {message}")]
    Failed {
        /// Which peer.
        service: &'static str,
        /// The status code it answered.
        code: tonic::Code,
        /// Its message.
        message: String,
    },
}

impl PeerError {
    /// Classifies a status returned by `service`.
    pub fn from_status(service: &'static str, status: tonic::Status) -> Self {
        let message = status.message().to_owned();
        match status.code() {
            tonic::Code::NotFound => Self::NotFound(message),
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
                Self::Unreachable { service, message }
            }
            code => Self::Failed {
                service,
                code,
                message,
            },
        }
    }
}

impl From<PeerError> for crate::ServiceError {
    /// A peer failure the caller cannot work around: unreachable peers are retryable,
    /// anything else is internal (the peer's own error is not the caller's business).
    fn from(error: PeerError) -> Self {
        match error {
            PeerError::Unreachable { service, .. } => Self::unavailable(service, error),
            PeerError::NotFound(_) | PeerError::Failed { .. } => Self::Internal(error.into()),
        }
    }
}

/// Waits until the server at `channel` reports `service` as SERVING through
/// `grpc.health.v1.Health/Check`, polling until `timeout`.
pub async fn wait_until_serving(
    channel: Channel,
    service: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };

    let mut client = HealthClient::new(channel);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let answer = client
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await;
        let last = match answer {
            Ok(response) if response.get_ref().status() == ServingStatus::Serving => return Ok(()),
            Ok(response) => format!("{:?}", response.get_ref().status()),
            Err(status) => status.message().to_owned(),
        };
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "{service} did not become ready within {timeout:?} (last answer: {last})"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
