//! Clients of the services the roadmap service depends on.

use devokr_domain::names::KeyResultName;
use devokr_platform::client::PeerError;
use devokr_proto::{
    objectives::v1::{GetKeyResultRequest, objectives_service_client::ObjectivesServiceClient},
    tonic::transport::Channel,
};

/// The objectives service, over gRPC.
#[derive(Debug, Clone)]
pub struct ObjectivesClient {
    client: ObjectivesServiceClient<Channel>,
}

impl ObjectivesClient {
    pub fn new(channel: Channel) -> Self {
        Self {
            client: ObjectivesServiceClient::new(channel),
        }
    }

    /// Checks that `key_result` exists.
    pub async fn check_key_result(&self, key_result: &KeyResultName) -> Result<(), PeerError> {
        self.client
            .clone()
            .get_key_result(GetKeyResultRequest {
                name: key_result.to_string(),
            })
            .await
            .map(drop)
            .map_err(|status| PeerError::from_status("objectives service", status))
    }
}
