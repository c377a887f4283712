//! The tonic handlers of the objectives service: read and validate the request, call the
//! use case, convert the result. Errors become statuses through `ServiceError`'s one mapping.

mod convert;
mod status_route;
mod watch;

use std::sync::Arc;

use devokr_domain::names::{CycleName, KeyResultName, ObjectiveName, TenantName};
use devokr_platform::{ServiceError, paging::PageRequest};
use devokr_proto::{
    convert::optional_instant,
    objectives::v1::{
        self as pb,
        objectives_service_server::{ObjectivesService, ObjectivesServiceServer},
    },
};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, service::Routes};

use self::status_route::WireStatus;

use crate::app::{Actor, ObjectivesApp};

/// The `ObjectivesService` implementation.
#[derive(Debug, Clone)]
pub struct ObjectivesGrpc {
    app: ObjectivesApp,
    /// Routes each change to the watches that follow it.
    watches: watch::Watches,
    /// Fires when the server shuts down; long-lived watches end then.
    shutdown: CancellationToken,
}

impl ObjectivesGrpc {
    /// The handlers of `app`; must be called inside a Tokio runtime (watches are routed by a
    /// task of their own).
    pub fn new(app: ObjectivesApp, shutdown: CancellationToken) -> Self {
        Self {
            watches: watch::start_routing(&app),
            app,
            shutdown,
        }
    }

    /// Every route of the service: `GetKeyResultStatus` through [`status_route`], in front
    /// of the generated server, which serves the other methods.
    pub fn routes(self) -> Routes {
        let handlers = Arc::new(self);
        let generated = Routes::new(ObjectivesServiceServer::from_arc(Arc::clone(&handlers)));
        Routes::from(
            generated
                .into_axum_router()
                .route_service(status_route::PATH, status_route::StatusRoute(handlers)),
        )
    }

    /// `GetKeyResultStatus`: the current status with only its assessment made afresh, or a
    /// status as of a read time made whole.
    #[tracing::instrument(skip_all, fields(rpc = "GetKeyResultStatus", name = %request.get_ref().name))]
    async fn key_result_status(
        &self,
        request: Request<pb::GetKeyResultStatusRequest>,
    ) -> Result<Response<WireStatus>, Status> {
        let request = request.into_inner();
        let at = optional_instant("evaluation_time", request.evaluation_time.as_ref())
            .map_err(ServiceError::from)?;
        let read_time = optional_instant("read_time", request.read_time.as_ref())
            .map_err(ServiceError::from)?;
        // The most frequent call of all: the name is looked up as it came, not parsed.
        let state = self.app.state_named("name", &request.name).await?;
        let pace = self.app.pace_of(&state.key_result.name.tenant).await?;
        let at = at.unwrap_or_else(chrono::Utc::now);
        let status = match read_time {
            None => WireStatus::Current {
                unchanging: state
                    .current_wire
                    .get_or_init(|| convert::unchanging_status(state.status(at, None, &pace)))
                    .clone(),
                judged: convert::judged_status(state.current_assessment(at, &pace), at),
            },
            Some(_) => WireStatus::Whole(convert::key_result_status(
                state.status(at, read_time, &pace),
            )),
        };
        Ok(Response::new(status))
    }
}

/// The caller, from the `x-devokr-actor` and `x-request-id` metadata, for the audit log.
fn actor<T>(request: &Request<T>) -> Actor {
    let text = |key: &str| {
        request
            .metadata()
            .get(key)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.chars().take(200).collect::<String>())
    };
    Actor {
        name: text("x-devokr-actor").unwrap_or_else(|| "anonymous".to_owned()),
        request_id: text("x-request-id").unwrap_or_default(),
    }
}

/// Most key results one BatchGetKeyResultStatus answers.
const MAX_BATCH: usize = 1_000;

fn page_request(
    collection: String,
    page_size: i32,
    page_token: &str,
) -> Result<PageRequest, ServiceError> {
    Ok(PageRequest::new(collection, page_size, page_token)?)
}

#[tonic::async_trait]
impl ObjectivesService for ObjectivesGrpc {
    #[tracing::instrument(skip_all, fields(rpc = "GetCurrentCycle", parent = %request.get_ref().parent))]
    async fn get_current_cycle(
        &self,
        request: Request<pb::GetCurrentCycleRequest>,
    ) -> Result<Response<pb::Cycle>, Status> {
        let tenant: TenantName = convert::name("parent", &request.get_ref().parent)?;
        let cycle = self.app.current_cycle(&tenant).await?;
        Ok(Response::new(convert::cycle(cycle)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ActivateCycle", name = %request.get_ref().name))]
    async fn activate_cycle(
        &self,
        request: Request<pb::ActivateCycleRequest>,
    ) -> Result<Response<pb::Cycle>, Status> {
        let actor = actor(&request);
        let request = request.into_inner();
        let name: CycleName = convert::name("name", &request.name)?;
        let version = convert::version_of_etag("etag", &request.etag)?;
        let cycle = self.app.activate_cycle(&name, version, &actor).await?;
        Ok(Response::new(convert::cycle(cycle)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "CloseCycle", name = %request.get_ref().name))]
    async fn close_cycle(
        &self,
        request: Request<pb::CloseCycleRequest>,
    ) -> Result<Response<pb::Cycle>, Status> {
        let actor = actor(&request);
        let request = request.into_inner();
        let name: CycleName = convert::name("name", &request.name)?;
        let version = convert::version_of_etag("etag", &request.etag)?;
        let overrides = convert::score_overrides(request.overrides)?;
        let cycle = self
            .app
            .close_cycle(&name, version, overrides, &actor)
            .await?;
        Ok(Response::new(convert::cycle(cycle)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "CreateLearning", parent = %request.get_ref().parent))]
    async fn create_learning(
        &self,
        request: Request<pb::CreateLearningRequest>,
    ) -> Result<Response<pb::Learning>, Status> {
        let actor = actor(&request);
        let request = request.into_inner();
        let subject = convert::learning_subject("parent", &request.parent)?;
        let new = convert::new_learning(request, &subject)?;
        let learning = self.app.create_learning(&subject, new, &actor).await?;
        Ok(Response::new(convert::learning(learning)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListLearnings", parent = %request.get_ref().parent))]
    async fn list_learnings(
        &self,
        request: Request<pb::ListLearningsRequest>,
    ) -> Result<Response<pb::ListLearningsResponse>, Status> {
        let request = request.into_inner();
        let subject = convert::learning_subject("parent", &request.parent)?;
        let page = page_request(
            format!("{subject}/learnings"),
            request.page_size,
            &request.page_token,
        )?;
        let page = self.app.list_learnings(&subject, &page).await?;
        Ok(Response::new(pb::ListLearningsResponse {
            learnings: page.items.into_iter().map(convert::learning).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListAuditEvents", parent = %request.get_ref().parent))]
    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let request = request.into_inner();
        let tenant: TenantName = convert::name("parent", &request.parent)?;
        let page = page_request(
            format!("{tenant}/auditEvents?{}", request.resource),
            request.page_size,
            &request.page_token,
        )?;
        let page = self
            .app
            .list_audit_events(&tenant, &request.resource, &page)
            .await?;
        Ok(Response::new(pb::ListAuditEventsResponse {
            events: page.items.into_iter().map(convert::audit_event).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListKeyResultHistory", name = %request.get_ref().name))]
    async fn list_key_result_history(
        &self,
        request: Request<pb::ListKeyResultHistoryRequest>,
    ) -> Result<Response<pb::ListKeyResultHistoryResponse>, Status> {
        let request = request.into_inner();
        let name: KeyResultName = convert::name("name", &request.name)?;
        let start = optional_instant("start_time", request.start_time.as_ref())
            .map_err(ServiceError::from)?;
        let end =
            optional_instant("end_time", request.end_time.as_ref()).map_err(ServiceError::from)?;
        let bucket = convert::history_bucket(request.granularity).map_err(ServiceError::from)?;
        let points = self
            .app
            .key_result_history(&name, bucket, start, end)
            .await?;
        Ok(Response::new(pb::ListKeyResultHistoryResponse {
            points: points.into_iter().map(convert::history_point).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "CreateCheckIn", parent = %request.get_ref().parent))]
    async fn create_check_in(
        &self,
        request: Request<pb::CreateCheckInRequest>,
    ) -> Result<Response<pb::CheckIn>, Status> {
        let actor = actor(&request);
        let new = convert::new_check_in(request.into_inner(), &actor)?;
        let check_in = self.app.create_check_in(new, &actor).await?;
        Ok(Response::new(convert::check_in(check_in)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListCheckIns", parent = %request.get_ref().parent))]
    async fn list_check_ins(
        &self,
        request: Request<pb::ListCheckInsRequest>,
    ) -> Result<Response<pb::ListCheckInsResponse>, Status> {
        let request = request.into_inner();
        let key_result: KeyResultName = convert::name("parent", &request.parent)?;
        let page = page_request(
            format!("{key_result}/checkIns"),
            request.page_size,
            &request.page_token,
        )?;
        let page = self.app.list_check_ins(&key_result, &page).await?;
        Ok(Response::new(pb::ListCheckInsResponse {
            check_ins: page.items.into_iter().map(convert::check_in).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "BatchGetKeyResultStatus", names = request.get_ref().names.len()))]
    async fn batch_get_key_result_status(
        &self,
        request: Request<pb::BatchGetKeyResultStatusRequest>,
    ) -> Result<Response<pb::BatchGetKeyResultStatusResponse>, Status> {
        let request = request.into_inner();
        let tenant: TenantName = convert::name("parent", &request.parent)?;
        if request.names.len() > MAX_BATCH {
            return Err(ServiceError::invalid(
                "names",
                format!(
                    "has {} names; at most {MAX_BATCH} are allowed",
                    request.names.len()
                ),
            )
            .into());
        }
        let at = optional_instant("evaluation_time", request.evaluation_time.as_ref())
            .map_err(ServiceError::from)?;
        let at = at.unwrap_or_else(chrono::Utc::now);
        let mut results = Vec::with_capacity(request.names.len());
        for (index, name) in request.names.into_iter().enumerate() {
            let status = match name.parse::<KeyResultName>() {
                Ok(key_result) if key_result.tenant == tenant.tenant => self
                    .app
                    .key_result_status(&key_result, Some(at), None)
                    .await
                    .map_err(Status::from),
                Ok(_) => Err(Status::from(ServiceError::invalid(
                    format!("names[{index}]"),
                    format!("belongs to another tenant than {tenant}"),
                ))),
                Err(error) => Err(Status::from(ServiceError::invalid(
                    format!("names[{index}]"),
                    error.to_string(),
                ))),
            };
            results.push(convert::status_result(name, status));
        }
        Ok(Response::new(pb::BatchGetKeyResultStatusResponse {
            results,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "WatchKeyResultStatus", parent = %request.get_ref().parent))]
    async fn watch_key_result_status(
        &self,
        request: Request<pb::WatchKeyResultStatusRequest>,
    ) -> Result<Response<watch::StatusStream>, Status> {
        let stream = watch::watch(
            &self.app,
            &self.watches,
            request.into_inner(),
            &self.shutdown,
        )
        .await?;
        Ok(Response::new(stream))
    }

    #[tracing::instrument(skip_all, fields(rpc = "CreateCycle", parent = %request.get_ref().parent))]
    async fn create_cycle(
        &self,
        request: Request<pb::CreateCycleRequest>,
    ) -> Result<Response<pb::Cycle>, Status> {
        let new = convert::new_cycle(request.into_inner())?;
        let cycle = self.app.create_cycle(new).await?;
        Ok(Response::new(convert::cycle(cycle)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetCycle", name = %request.get_ref().name))]
    async fn get_cycle(
        &self,
        request: Request<pb::GetCycleRequest>,
    ) -> Result<Response<pb::Cycle>, Status> {
        let name = convert::name("name", &request.get_ref().name)?;
        let cycle = self.app.get_cycle(&name).await?;
        Ok(Response::new(convert::cycle(cycle)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListCycles", parent = %request.get_ref().parent))]
    async fn list_cycles(
        &self,
        request: Request<pb::ListCyclesRequest>,
    ) -> Result<Response<pb::ListCyclesResponse>, Status> {
        let request = request.into_inner();
        let tenant = convert::name("parent", &request.parent)?;
        let page = page_request(
            format!("{tenant}/cycles"),
            request.page_size,
            &request.page_token,
        )?;
        let page = self.app.list_cycles(&tenant, &page).await?;
        Ok(Response::new(pb::ListCyclesResponse {
            cycles: page.items.into_iter().map(convert::cycle).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "CreateObjective", parent = %request.get_ref().parent))]
    async fn create_objective(
        &self,
        request: Request<pb::CreateObjectiveRequest>,
    ) -> Result<Response<pb::Objective>, Status> {
        let actor = actor(&request);
        let new = convert::new_objective(request.into_inner())?;
        let objective = self.app.create_objective(new, &actor).await?;
        Ok(Response::new(convert::objective(objective)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetObjective", name = %request.get_ref().name))]
    async fn get_objective(
        &self,
        request: Request<pb::GetObjectiveRequest>,
    ) -> Result<Response<pb::Objective>, Status> {
        let name = convert::name("name", &request.get_ref().name)?;
        let objective = self.app.get_objective(&name).await?;
        Ok(Response::new(convert::objective(objective)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListObjectives", parent = %request.get_ref().parent))]
    async fn list_objectives(
        &self,
        request: Request<pb::ListObjectivesRequest>,
    ) -> Result<Response<pb::ListObjectivesResponse>, Status> {
        let request = request.into_inner();
        let tenant = convert::name("parent", &request.parent)?;
        // The filter and show_deleted are part of the collection: a page token of another
        // query is rejected.
        let page = page_request(
            format!(
                "{tenant}/objectives?filter={}&show_deleted={}",
                request.filter, request.show_deleted
            ),
            request.page_size,
            &request.page_token,
        )?;
        let filter = convert::objective_filter(&tenant, &request.filter, request.show_deleted)?;
        let page = self.app.list_objectives(&tenant, &filter, &page).await?;
        Ok(Response::new(pb::ListObjectivesResponse {
            objectives: page.items.into_iter().map(convert::objective).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "CreateKeyResult", parent = %request.get_ref().parent))]
    async fn create_key_result(
        &self,
        request: Request<pb::CreateKeyResultRequest>,
    ) -> Result<Response<pb::KeyResult>, Status> {
        let new = convert::new_key_result(request.into_inner())?;
        let key_result = self.app.create_key_result(new).await?;
        Ok(Response::new(convert::key_result(key_result)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetKeyResult", name = %request.get_ref().name))]
    async fn get_key_result(
        &self,
        request: Request<pb::GetKeyResultRequest>,
    ) -> Result<Response<pb::KeyResult>, Status> {
        let name = convert::name("name", &request.get_ref().name)?;
        let key_result = self.app.get_key_result(&name).await?;
        Ok(Response::new(convert::key_result(key_result)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListKeyResults", parent = %request.get_ref().parent))]
    async fn list_key_results(
        &self,
        request: Request<pb::ListKeyResultsRequest>,
    ) -> Result<Response<pb::ListKeyResultsResponse>, Status> {
        let request = request.into_inner();
        let objective = convert::name("parent", &request.parent)?;
        let page = page_request(
            format!("{objective}/keyResults"),
            request.page_size,
            &request.page_token,
        )?;
        let page = self.app.list_key_results(&objective, &page).await?;
        Ok(Response::new(pb::ListKeyResultsResponse {
            key_results: page.items.into_iter().map(convert::key_result).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "UpdateObjective"))]
    async fn update_objective(
        &self,
        request: Request<pb::UpdateObjectiveRequest>,
    ) -> Result<Response<pb::Objective>, Status> {
        let actor = actor(&request);
        let update = convert::objective_update(request.into_inner())?;
        let objective = self.app.update_objective(update, &actor).await?;
        Ok(Response::new(convert::objective(objective)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "DeleteObjective", name = %request.get_ref().name))]
    async fn delete_objective(
        &self,
        request: Request<pb::DeleteObjectiveRequest>,
    ) -> Result<Response<pb::Objective>, Status> {
        let actor = actor(&request);
        let request = request.into_inner();
        let name: ObjectiveName = convert::name("name", &request.name)?;
        let version = convert::version_of_etag("etag", &request.etag)?;
        let objective = self.app.delete_objective(&name, version, &actor).await?;
        Ok(Response::new(convert::objective(objective)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "UndeleteObjective", name = %request.get_ref().name))]
    async fn undelete_objective(
        &self,
        request: Request<pb::UndeleteObjectiveRequest>,
    ) -> Result<Response<pb::Objective>, Status> {
        let actor = actor(&request);
        let name: ObjectiveName = convert::name("name", &request.get_ref().name)?;
        let objective = self.app.undelete_objective(&name, &actor).await?;
        Ok(Response::new(convert::objective(objective)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "UpdateKeyResult"))]
    async fn update_key_result(
        &self,
        request: Request<pb::UpdateKeyResultRequest>,
    ) -> Result<Response<pb::KeyResult>, Status> {
        let actor = actor(&request);
        let update = convert::key_result_update(request.into_inner())?;
        let key_result = self.app.update_key_result(update, &actor).await?;
        Ok(Response::new(convert::key_result(key_result)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "DeleteKeyResult", name = %request.get_ref().name))]
    async fn delete_key_result(
        &self,
        request: Request<pb::DeleteKeyResultRequest>,
    ) -> Result<Response<pb::KeyResult>, Status> {
        let actor = actor(&request);
        let request = request.into_inner();
        let name: KeyResultName = convert::name("name", &request.name)?;
        let version = convert::version_of_etag("etag", &request.etag)?;
        let key_result = self.app.delete_key_result(&name, version, &actor).await?;
        Ok(Response::new(convert::key_result(key_result)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "UndeleteKeyResult", name = %request.get_ref().name))]
    async fn undelete_key_result(
        &self,
        request: Request<pb::UndeleteKeyResultRequest>,
    ) -> Result<Response<pb::KeyResult>, Status> {
        let actor = actor(&request);
        let name: KeyResultName = convert::name("name", &request.get_ref().name)?;
        let key_result = self.app.undelete_key_result(&name, &actor).await?;
        Ok(Response::new(convert::key_result(key_result)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetTenantSettings", name = %request.get_ref().name))]
    async fn get_tenant_settings(
        &self,
        request: Request<pb::GetTenantSettingsRequest>,
    ) -> Result<Response<pb::TenantSettings>, Status> {
        let tenant =
            convert::settings_name("name", &request.get_ref().name).map_err(ServiceError::from)?;
        let settings = self.app.tenant_settings(&tenant).await?;
        Ok(Response::new(convert::tenant_settings(settings)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "UpdateTenantSettings"))]
    async fn update_tenant_settings(
        &self,
        request: Request<pb::UpdateTenantSettingsRequest>,
    ) -> Result<Response<pb::TenantSettings>, Status> {
        let actor = actor(&request);
        let update = convert::tenant_settings_update(request.into_inner())?;
        let settings = self.app.update_tenant_settings(update, &actor).await?;
        Ok(Response::new(convert::tenant_settings(settings)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "CarryOverObjective", name = %request.get_ref().name))]
    async fn carry_over_objective(
        &self,
        request: Request<pb::CarryOverObjectiveRequest>,
    ) -> Result<Response<pb::Objective>, Status> {
        let actor = actor(&request);
        let carry = convert::carry_over(request.into_inner())?;
        let objective = self.app.carry_over_objective(carry, &actor).await?;
        Ok(Response::new(convert::objective(objective)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetObjectiveStatus", name = %request.get_ref().name))]
    async fn get_objective_status(
        &self,
        request: Request<pb::GetObjectiveStatusRequest>,
    ) -> Result<Response<pb::ObjectiveStatus>, Status> {
        let request = request.into_inner();
        let name = convert::name("name", &request.name)?;
        let at = optional_instant("evaluation_time", request.evaluation_time.as_ref())
            .map_err(ServiceError::from)?;
        let status = self.app.objective_status(&name, at).await?;
        Ok(Response::new(convert::objective_status(status)))
    }
}
