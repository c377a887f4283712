//! The errors a service returns, and the one place they become gRPC statuses.
//!
//! Every status carries a `google.rpc.ErrorInfo` whose `reason` is a stable machine-readable
//! code, plus the detail that fits the code: `BadRequest` field violations for bad input,
//! `ResourceInfo` for missing or duplicate resources, `PreconditionFailure`, `RetryInfo`.
//! Internal failures are logged with their whole cause chain and reach the caller only as
//! "internal error".

use std::time::Duration;

use devokr_proto::convert::FieldViolation;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The domain of every `ErrorInfo` DevOKR returns.
pub const ERROR_DOMAIN: &str = "devokr.dev";

/// Result of a use case.
pub type ServiceResult<T> = Result<T, ServiceError>;

/// What went wrong in a call, in the terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is malformed; each violation names its field.
    #[error("invalid argument: {}", describe(.0))]
    InvalidArgument(Vec<FieldViolation>),
    /// The resource does not exist.
    #[error("{resource_type} {name:?} does not exist")]
    NotFound {
        /// The kind of resource, for example "key result".
        resource_type: &'static str,
        /// Its resource name.
        name: String,
    },
    /// A resource with this name exists already.
    #[error("{resource_type} {name:?} already exists")]
    AlreadyExists {
        /// The kind of resource.
        resource_type: &'static str,
        /// Its resource name.
        name: String,
    },
    /// The system is not in a state where the call can succeed.
    #[error("{description}")]
    FailedPrecondition {
        /// Stable UPPER_SNAKE_CASE code, for example "CYCLE_NOT_OPEN".
        reason: &'static str,
        /// The resource the precondition is about.
        subject: String,
        /// What is wrong and how to fix it.
        description: String,
    },
    /// A concurrent change won; read again and retry.
    #[error("{0}")]
    Aborted(String),
    /// A dependency (the database, a peer service) cannot be reached; retrying may help.
    #[error("{dependency} is unavailable: {source}")]
    Unavailable {
        /// What could not be reached, for example "metrics service".
        dependency: String,
        /// Why.
        #[source]
        source: anyhow::Error,
    },
    /// A watch asked to resume after a version whose later changes are no longer kept (the
    /// gRPC analogue of Kubernetes' 410 Gone): list again and watch from the new version.
    #[error(
        "resource version {requested} is too old: changes after it are no longer kept (the oldest kept is {oldest_kept}); list again and watch from the current version"
    )]
    ResourceVersionTooOld {
        /// The version the caller asked to resume after.
        requested: i64,
        /// The oldest version still kept.
        oldest_kept: i64,
    },
    /// The server is shutting down; long-lived calls (watches) end with this, and the caller
    /// retries on another replica, resuming where it was.
    #[error("server shutting down")]
    ShuttingDown,
    /// A bug or an unexpected failure inside the service.
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

/// Most field violations one error reports.
const MAX_REPORTED_VIOLATIONS: usize = 20;
/// Longest text (message, field or description) one error carries, in characters.
const MAX_ERROR_TEXT_CHARS: usize = 500;

/// `text` cut to a size a response header can carry, marked when cut.
fn bounded(text: &str) -> String {
    if text.chars().count() <= MAX_ERROR_TEXT_CHARS {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(MAX_ERROR_TEXT_CHARS).collect();
    cut.push_str("… (cut)");
    cut
}

fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl ServiceError {
    /// Bad input in one field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    /// A dependency that cannot be reached.
    pub fn unavailable(dependency: impl Into<String>, source: impl Into<anyhow::Error>) -> Self {
        Self::Unavailable {
            dependency: dependency.into(),
            source: source.into(),
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Self::InvalidArgument(_) => "INVALID_ARGUMENT",
            Self::NotFound { .. } => "RESOURCE_NOT_FOUND",
            Self::AlreadyExists { .. } => "RESOURCE_ALREADY_EXISTS",
            Self::FailedPrecondition { reason, .. } => reason,
            Self::Aborted(_) => "CONCURRENT_CHANGE",
            Self::Unavailable { .. } => "DEPENDENCY_UNAVAILABLE",
            Self::ResourceVersionTooOld { .. } => "RESOURCE_VERSION_TOO_OLD",
            Self::ShuttingDown => "SERVER_SHUTTING_DOWN",
            Self::Internal(_) => "INTERNAL",
        }
    }
}

impl From<FieldViolation> for ServiceError {
    fn from(violation: FieldViolation) -> Self {
        Self::InvalidArgument(vec![violation])
    }
}

impl From<Vec<FieldViolation>> for ServiceError {
    fn from(violations: Vec<FieldViolation>) -> Self {
        Self::InvalidArgument(violations)
    }
}

impl From<ServiceError> for Status {
    fn from(error: ServiceError) -> Self {
        let reason = error.reason();
        let mut details = ErrorDetails::new();
        let code = match &error {
            ServiceError::InvalidArgument(violations) => {
                tracing::debug!(%error, "rejected request");
                details.set_error_info(reason, ERROR_DOMAIN, []);
                // The details travel in a response header, which clients cap (16 KiB in
                // gRPC's C core): report the first violations, each bounded.
                for violation in violations.iter().take(MAX_REPORTED_VIOLATIONS) {
                    details.add_bad_request_violation(
                        bounded(&violation.field),
                        bounded(&violation.description),
                    );
                }
                if violations.len() > MAX_REPORTED_VIOLATIONS {
                    details.add_bad_request_violation(
                        "",
                        format!(
                            "and {} more violations",
                            violations.len() - MAX_REPORTED_VIOLATIONS
                        ),
                    );
                }
                Code::InvalidArgument
            }
            ServiceError::NotFound {
                resource_type,
                name,
            }
            | ServiceError::AlreadyExists {
                resource_type,
                name,
            } => {
                details.set_error_info(
                    reason,
                    ERROR_DOMAIN,
                    [
                        ("resourceType".to_owned(), (*resource_type).to_owned()),
                        ("name".to_owned(), name.clone()),
                    ],
                );
                details.set_resource_info(*resource_type, name.as_str(), "", error.to_string());
                if matches!(error, ServiceError::NotFound { .. }) {
                    Code::NotFound
                } else {
                    Code::AlreadyExists
                }
            }
            ServiceError::FailedPrecondition {
                reason,
                subject,
                description,
            } => {
                details.set_error_info(
                    *reason,
                    ERROR_DOMAIN,
                    [("subject".to_owned(), subject.clone())],
                );
                details.add_precondition_failure_violation(*reason, subject, description);
                Code::FailedPrecondition
            }
            ServiceError::Aborted(_) => {
                details.set_error_info(reason, ERROR_DOMAIN, []);
                Code::Aborted
            }
            ServiceError::Unavailable { dependency, .. } => {
                tracing::warn!(error = format!("{error:#}"), "dependency unavailable");
                details.set_error_info(
                    reason,
                    ERROR_DOMAIN,
                    [("dependency".to_owned(), dependency.clone())],
                );
                details.set_retry_info(Some(Duration::from_secs(1)));
                Code::Unavailable
            }
            ServiceError::ResourceVersionTooOld {
                requested,
                oldest_kept,
            } => {
                details.set_error_info(
                    reason,
                    ERROR_DOMAIN,
                    [
                        ("requestedVersion".to_owned(), requested.to_string()),
                        ("oldestVersion".to_owned(), oldest_kept.to_string()),
                    ],
                );
                Code::OutOfRange
            }
            ServiceError::ShuttingDown => {
                details.set_error_info(reason, ERROR_DOMAIN, []);
                details.set_retry_info(Some(Duration::from_millis(100)));
                Code::Unavailable
            }
            ServiceError::Internal(source) => {
                tracing::error!(error = format!("{source:#}"), "internal error");
                details.set_error_info(reason, ERROR_DOMAIN, []);
                // The cause stays in the log: callers must not see internals.
                return Status::with_error_details(Code::Internal, "internal error", details);
            }
        };
        Status::with_error_details(code, bounded(&error.to_string()), details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_names_each_field() {
        let status = Status::from(ServiceError::InvalidArgument(vec![
            FieldViolation::new("cycle.end_date", "is before start_date"),
            FieldViolation::required("cycle.time_zone"),
        ]));
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let fields: Vec<_> = details
            .bad_request()
            .expect("bad request details")
            .field_violations
            .iter()
            .map(|violation| violation.field.as_str())
            .collect();
        assert_eq!(fields, ["cycle.end_date", "cycle.time_zone"]);
        assert_eq!(
            details.error_info().expect("error info").reason,
            "INVALID_ARGUMENT"
        );
    }

    #[test]
    fn huge_errors_stay_small_enough_for_a_response_header() {
        let violations: Vec<FieldViolation> = (0..101)
            .map(|index| FieldViolation::new(format!("items[{index}]"), "x".repeat(10_000)))
            .collect();
        let status = Status::from(ServiceError::InvalidArgument(violations));
        let details = status.get_error_details();
        let reported = &details
            .bad_request()
            .expect("bad request details")
            .field_violations;
        // 20 violations and a line saying how many more there were.
        assert_eq!(reported.len(), MAX_REPORTED_VIOLATIONS + 1);
        assert_eq!(reported[20].description, "and 81 more violations");
        assert!(reported[0].description.chars().count() < 520);
        assert!(status.message().chars().count() < 520);
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let status = Status::from(ServiceError::Internal(anyhow::anyhow!(
            "relation metrics.event does not exist"
        )));
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
        assert_eq!(
            status
                .get_error_details()
                .error_info()
                .expect("error info")
                .reason,
            "INTERNAL"
        );
    }

    #[test]
    fn not_found_carries_the_resource() {
        let status = Status::from(ServiceError::NotFound {
            resource_type: "key result",
            name: "tenants/t/objectives/o/keyResults/k".into(),
        });
        assert_eq!(status.code(), Code::NotFound);
        let info = status
            .get_error_details()
            .resource_info()
            .cloned()
            .expect("resource info");
        assert_eq!(info.resource_name, "tenants/t/objectives/o/keyResults/k");
    }

    #[test]
    fn a_too_old_version_is_out_of_range_and_names_the_oldest_kept() {
        let status = Status::from(ServiceError::ResourceVersionTooOld {
            requested: 3,
            oldest_kept: 17,
        });
        assert_eq!(status.code(), Code::OutOfRange);
        let details = status.get_error_details();
        let info = details.error_info().expect("error info");
        assert_eq!(info.reason, "RESOURCE_VERSION_TOO_OLD");
        assert_eq!(info.metadata["oldestVersion"], "17");
        assert_eq!(info.metadata["requestedVersion"], "3");
    }

    #[test]
    fn shutting_down_is_unavailable_and_retryable() {
        let status = Status::from(ServiceError::ShuttingDown);
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.message(), "server shutting down");
        let details = status.get_error_details();
        assert_eq!(
            details.error_info().expect("error info").reason,
            "SERVER_SHUTTING_DOWN"
        );
        assert!(details.retry_info().is_some());
    }

    #[test]
    fn unavailable_is_retryable() {
        let status = Status::from(ServiceError::unavailable(
            "metrics service",
            anyhow::anyhow!("connection refused"),
        ));
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.get_error_details().retry_info().is_some());
    }
}
