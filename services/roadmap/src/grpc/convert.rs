//! Wire ↔ model conversions of the roadmap service.

use std::collections::HashSet;

use devokr_domain::{
    names::{KeyResultName, TenantName, validate_resource_id},
    roadmap::PlanningState,
};
use devokr_platform::{
    ServiceError,
    request::{self, Violations, parse_field},
};
use devokr_proto::{
    convert::{FieldViolation, timestamp},
    roadmap::v1 as pb,
};

use crate::app::{NewRoadmapItem, RoadmapItem};

/// Longest description accepted.
const MAX_DESCRIPTION_CHARS: usize = 10_000;
/// Most key results one item may be linked to.
const MAX_LINKS: usize = 100;

pub(super) fn new_roadmap_item(
    request: pb::CreateRoadmapItemRequest,
) -> Result<NewRoadmapItem, ServiceError> {
    let mut violations = Violations::default();
    let tenant = violations.check(parse_field::<TenantName>("parent", &request.parent));
    let item_id = violations.check(request::resource_id(
        "roadmap_item_id",
        &request.roadmap_item_id,
        |id| validate_resource_id(id).map_err(|error| error.to_string()),
    ));
    let request_id = violations.check(request::request_id(&request.request_id, &request));
    let item = request.roadmap_item.unwrap_or_default();
    let display_name = violations.check(request::required_text(
        "roadmap_item.display_name",
        &item.display_name,
        300,
    ));
    let description = violations.check(request::optional_text(
        "roadmap_item.description",
        &item.description,
        MAX_DESCRIPTION_CHARS,
    ));
    // Past the limit, the links are not read one by one: the count is the problem.
    let links: &[String] = if item.key_results.len() > MAX_LINKS {
        violations.add(FieldViolation::new(
            "roadmap_item.key_results",
            format!(
                "has {} links; at most {MAX_LINKS} are allowed",
                item.key_results.len()
            ),
        ));
        &[]
    } else {
        &item.key_results
    };
    let mut key_results = Vec::with_capacity(links.len());
    let mut seen = HashSet::new();
    for (index, link) in links.iter().enumerate() {
        let field = format!("roadmap_item.key_results[{index}]");
        let Some(key_result) = violations.check(parse_field::<KeyResultName>(&field, link)) else {
            continue;
        };
        if let Some(tenant) = &tenant
            && key_result.tenant != tenant.tenant
        {
            violations.add(FieldViolation::new(
                &field,
                format!("belongs to another tenant than {tenant}"),
            ));
        }
        if !seen.insert(key_result.clone()) {
            violations.add(FieldViolation::new(
                &field,
                format!("links {link:?} a second time"),
            ));
        }
        key_results.push(key_result);
    }
    violations.finish(|| {
        Some(NewRoadmapItem {
            name: tenant?.roadmap_item(item_id?),
            display_name: display_name?,
            description: description?,
            key_results,
            request_id: request_id?,
        })
    })
}

pub(super) fn roadmap_item(item: RoadmapItem) -> pb::RoadmapItem {
    let (state, deferral_reason) = match item.state {
        PlanningState::Planned => (pb::RoadmapItemState::Planned, String::new()),
        PlanningState::Deferred { reason } => (pb::RoadmapItemState::Deferred, reason),
    };
    pb::RoadmapItem {
        name: item.name.to_string(),
        display_name: item.display_name,
        description: item.description,
        key_results: item.key_results.iter().map(ToString::to_string).collect(),
        state: state.into(),
        deferral_reason,
        create_time: Some(timestamp(item.create_time)),
        etag: request::etag(item.version),
    }
}
