//! Small helpers for request fields every service reads the same way.

use devokr_proto::convert::FieldViolation;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::ServiceError;

/// Collects every bad field of a request, so a caller learns of all of them at once.
///
/// ```
/// # use devokr_platform::request::{Violations, required_text};
/// let mut violations = Violations::default();
/// let title = violations.check(required_text("title", "Grow", 10));
/// let owner = violations.check(required_text("owner", "", 10));
/// let made = violations.finish(|| Some((title?, owner?)));
/// assert!(made.is_err());
/// ```
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// Keeps the value, or records the violation.
    pub fn check<T>(&mut self, result: Result<T, FieldViolation>) -> Option<T> {
        result.map_err(|violation| self.0.push(violation)).ok()
    }

    /// Records a violation found by other means.
    pub fn add(&mut self, violation: FieldViolation) {
        self.0.push(violation);
    }

    /// The request's model when no field was bad. `build` combines the checked values; it
    /// can only miss one when a violation was recorded.
    pub fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, ServiceError> {
        if !self.0.is_empty() {
            return Err(ServiceError::InvalidArgument(self.0));
        }
        build().ok_or_else(|| {
            ServiceError::Internal(anyhow::anyhow!("a checked request field was lost"))
        })
    }
}

/// Parses a resource name (or any value with `FromStr`) from a request field.
pub fn parse_field<T>(field: &str, value: &str) -> Result<T, FieldViolation>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|error: T::Err| FieldViolation::new(field, error.to_string()))
}

/// An AIP-155 request id with a digest of the request that carried it. A retry sends the
/// same request again, so the digest tells a retry from a reuse of the id for another request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId {
    pub id: Uuid,
    /// SHA-256 of the request's type name and protobuf encoding: prost writes fields in tag
    /// order, so the same request always gives the same digest.
    pub digest: [u8; 32],
}

impl RequestId {
    /// Accepts the request that first used this id (its digest `first`) as the one this call
    /// repeats; a request recorded without a digest is taken on trust.
    pub fn repeats(&self, first: Option<&[u8]>) -> Result<(), ServiceError> {
        match first {
            Some(first) if first != self.digest.as_slice() => Err(ServiceError::invalid(
                "request_id",
                format!(
                    "request id {} was used before for a different request; \
                     a new request needs a new request id",
                    self.id
                ),
            )),
            _ => Ok(()),
        }
    }
}

fn request_digest<M: prost::Name>(request: &M) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(M::full_name());
    digest.update(request.encode_to_vec());
    digest.finalize().into()
}

/// Reads the optional AIP-155 `request_id` (`value`) of `request`: empty is `None`, anything
/// else must be a UUID.
pub fn request_id(
    value: &str,
    request: &impl prost::Name,
) -> Result<Option<RequestId>, FieldViolation> {
    if value.is_empty() {
        return Ok(None);
    }
    let id = Uuid::parse_str(value)
        .map_err(|_| FieldViolation::new("request_id", format!("{value:?} is not a UUID")))?;
    Ok(Some(RequestId {
        id,
        digest: request_digest(request),
    }))
}

/// The id of a new resource: the one the caller chose, or a fresh UUID.
pub fn resource_id(
    field: &str,
    chosen: &str,
    validate: impl Fn(&str) -> Result<(), String>,
) -> Result<String, FieldViolation> {
    if chosen.is_empty() {
        return Ok(Uuid::new_v4().to_string());
    }
    validate(chosen).map_err(|error| FieldViolation::new(field, error))?;
    Ok(chosen.to_owned())
}

/// The RFC 7232 strong etag of a resource at row version `version`.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// What is wrong with text holding a NUL character.
pub const NUL_PROBLEM: &str = "contains a NUL character (U+0000), which cannot be stored";

/// Reads an optional text field of at most `max_chars` characters, trimmed; empty is allowed.
pub fn optional_text(field: &str, value: &str, max_chars: usize) -> Result<String, FieldViolation> {
    if value.trim().is_empty() {
        return Ok(String::new());
    }
    required_text(field, value, max_chars)
}

/// Reads a required text field of at most `max_chars` characters, trimmed.
pub fn required_text(field: &str, value: &str, max_chars: usize) -> Result<String, FieldViolation> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(FieldViolation::required(field));
    }
    if trimmed.contains('\0') {
        return Err(FieldViolation::new(field, NUL_PROBLEM));
    }
    let chars = trimmed.chars().count();
    if chars > max_chars {
        return Err(FieldViolation::new(
            field,
            format!("is {chars} characters long; at most {max_chars} are allowed"),
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    use devokr_proto::objectives::v1::{CreateCycleRequest, CreateObjectiveRequest};

    const ID: &str = "5b0e2a7e-56f0-4d8e-9f0a-2b0c6c1d7e11";

    fn create_cycle(parent: &str) -> CreateCycleRequest {
        CreateCycleRequest {
            parent: parent.into(),
            request_id: ID.into(),
            ..Default::default()
        }
    }

    #[test]
    fn request_ids_must_be_uuids() {
        let request = create_cycle("tenants/acme");
        assert_eq!(request_id("", &request), Ok(None));
        let read = request_id(ID, &request).unwrap().unwrap();
        assert_eq!(read.id.to_string(), ID);
        assert_eq!(
            request_id("retry-1", &request).unwrap_err().field,
            "request_id"
        );
    }

    #[test]
    fn a_retry_repeats_its_request_and_a_reuse_does_not() {
        let first = request_id(ID, &create_cycle("tenants/acme"))
            .unwrap()
            .unwrap();
        let retry = request_id(ID, &create_cycle("tenants/acme"))
            .unwrap()
            .unwrap();
        assert!(retry.repeats(Some(&first.digest)).is_ok());
        // Recorded before digests were kept: taken on trust.
        assert!(retry.repeats(None).is_ok());
        let other = request_id(ID, &create_cycle("tenants/globex"))
            .unwrap()
            .unwrap();
        assert!(other.repeats(Some(&first.digest)).is_err());
        // These two encode to the same bytes (fields 1 and 4 only), yet are different
        // requests: the type's name is part of the digest.
        let objective = CreateObjectiveRequest {
            parent: "tenants/acme".into(),
            request_id: ID.into(),
            ..Default::default()
        };
        assert_eq!(
            prost::Message::encode_to_vec(&objective),
            prost::Message::encode_to_vec(&create_cycle("tenants/acme"))
        );
        let objective = request_id(ID, &objective).unwrap().unwrap();
        assert!(objective.repeats(Some(&first.digest)).is_err());
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(required_text("f", "  hi ", 5), Ok("hi".into()));
        assert!(required_text("f", "   ", 5).is_err());
        assert!(required_text("f", "toolong", 5).is_err());
        assert_eq!(
            required_text("f", "a\0b", 5).unwrap_err().description,
            NUL_PROBLEM
        );
    }
}
