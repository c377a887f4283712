//! The tonic handlers of the roadmap service: read and validate the request, call the use
//! case, convert the result. Errors become statuses through `ServiceError`'s one mapping.

mod convert;

use devokr_domain::names::{RoadmapItemName, TenantName};
use devokr_platform::{ServiceError, paging::PageRequest, request::parse_field};
use devokr_proto::roadmap::v1::{self as pb, roadmap_service_server::RoadmapService};
use tonic::{Request, Response, Status};

use crate::app::RoadmapApp;

/// The `RoadmapService` implementation.
#[derive(Debug, Clone)]
pub struct RoadmapGrpc {
    app: RoadmapApp,
}

impl RoadmapGrpc {
    pub fn new(app: RoadmapApp) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl RoadmapService for RoadmapGrpc {
    #[tracing::instrument(skip_all, fields(rpc = "CreateRoadmapItem", parent = %request.get_ref().parent))]
    async fn create_roadmap_item(
        &self,
        request: Request<pb::CreateRoadmapItemRequest>,
    ) -> Result<Response<pb::RoadmapItem>, Status> {
        let new = convert::new_roadmap_item(request.into_inner())?;
        let item = self.app.create_roadmap_item(new).await?;
        Ok(Response::new(convert::roadmap_item(item)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetRoadmapItem", name = %request.get_ref().name))]
    async fn get_roadmap_item(
        &self,
        request: Request<pb::GetRoadmapItemRequest>,
    ) -> Result<Response<pb::RoadmapItem>, Status> {
        let name: RoadmapItemName =
            parse_field("name", &request.get_ref().name).map_err(ServiceError::from)?;
        let item = self.app.get_roadmap_item(&name).await?;
        Ok(Response::new(convert::roadmap_item(item)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListRoadmapItems", parent = %request.get_ref().parent))]
    async fn list_roadmap_items(
        &self,
        request: Request<pb::ListRoadmapItemsRequest>,
    ) -> Result<Response<pb::ListRoadmapItemsResponse>, Status> {
        let request = request.into_inner();
        let tenant: TenantName =
            parse_field("parent", &request.parent).map_err(ServiceError::from)?;
        let page = PageRequest::new(
            format!("{tenant}/roadmapItems"),
            request.page_size,
            &request.page_token,
        )
        .map_err(ServiceError::from)?;
        let page = self.app.list_roadmap_items(&tenant, &page).await?;
        Ok(Response::new(pb::ListRoadmapItemsResponse {
            roadmap_items: page.items.into_iter().map(convert::roadmap_item).collect(),
            next_page_token: page.next_page_token,
        }))
    }
}
