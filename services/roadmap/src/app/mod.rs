//! Use cases of the roadmap service. Links are checked with the objectives service; whether
//! an item is planned or deferred follows `devokr_domain::roadmap`.

use chrono::{DateTime, Utc};
use devokr_domain::{
    names::{KeyResultName, RoadmapItemName, TenantName},
    roadmap::{PlanningState, planning_state},
};
use devokr_platform::{
    ServiceError, ServiceResult,
    client::PeerError,
    paging::{Page, PageRequest},
    request::RequestId,
};
use devokr_proto::convert::FieldViolation;

use crate::{peers::ObjectivesClient, store::RoadmapStore};

/// A stored roadmap item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoadmapItem {
    pub name: RoadmapItemName,
    pub display_name: String,
    pub description: String,
    pub key_results: Vec<KeyResultName>,
    pub state: PlanningState,
    pub create_time: DateTime<Utc>,
    pub version: i64,
    pub seq: i64,
}

/// A roadmap item to create; its state follows from its links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRoadmapItem {
    pub name: RoadmapItemName,
    pub display_name: String,
    pub description: String,
    pub key_results: Vec<KeyResultName>,
    pub request_id: Option<RequestId>,
}

/// The roadmap service's use cases.
#[derive(Debug, Clone)]
pub struct RoadmapApp {
    store: RoadmapStore,
    objectives: ObjectivesClient,
}

impl RoadmapApp {
    pub fn new(store: RoadmapStore, objectives: ObjectivesClient) -> Self {
        Self { store, objectives }
    }

    /// Creates an item after checking every link with the objectives service; an item with
    /// no link is created deferred.
    pub async fn create_roadmap_item(&self, new: NewRoadmapItem) -> ServiceResult<RoadmapItem> {
        // A retry returns the first result even while the objectives service is away.
        if let Some(request) = &new.request_id
            && let Some(created) = self
                .store
                .roadmap_item_by_request_id(&new.name.tenant(), request)
                .await?
        {
            return Ok(created);
        }
        let checks = futures::future::join_all(
            new.key_results
                .iter()
                .map(|key_result| self.objectives.check_key_result(key_result)),
        )
        .await;
        let mut missing = Vec::new();
        for (index, check) in checks.into_iter().enumerate() {
            match check {
                Ok(()) => {}
                Err(PeerError::NotFound(_)) => missing.push(FieldViolation::new(
                    format!("roadmap_item.key_results[{index}]"),
                    format!(
                        "key result {:?} does not exist in the objectives service",
                        new.key_results[index].to_string()
                    ),
                )),
                Err(error) => return Err(error.into()),
            }
        }
        if !missing.is_empty() {
            return Err(ServiceError::InvalidArgument(missing));
        }
        let state = planning_state(new.key_results.len());
        self.store.insert_roadmap_item(&new, &state).await
    }

    pub async fn get_roadmap_item(&self, name: &RoadmapItemName) -> ServiceResult<RoadmapItem> {
        self.store
            .roadmap_item(name)
            .await?
            .ok_or_else(|| ServiceError::NotFound {
                resource_type: "roadmap item",
                name: name.to_string(),
            })
    }

    pub async fn list_roadmap_items(
        &self,
        tenant: &TenantName,
        page: &PageRequest,
    ) -> ServiceResult<Page<RoadmapItem>> {
        let rows = self
            .store
            .roadmap_items(tenant, page.after(), page.limit())
            .await?;
        Ok(page.page(rows, |item| item.seq))
    }
}
