//! Resource ids and resource names (Google AIP-122).
//!
//! Every name type has `parse` (for untrusted text, validates every id), `Display` (the canonical
//! text, so `parse(&name.to_string())` gives the name back) and helpers to walk to parents and
//! children. The helpers do not validate the id they are given; ids from requests go through
//! [`validate_resource_id`] or a `parse`.

use std::fmt;
use std::str::FromStr;

/// Longest id accepted, as in AIP-122.
pub const MAX_ID_LEN: usize = 63;

/// What is wrong with an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdProblem {
    /// The id has no characters.
    Empty,
    /// The id has more than [`MAX_ID_LEN`] characters.
    TooLong,
    /// The first character is not `a`-`z`.
    BadFirstCharacter,
    /// The last character is `-` or `_`.
    BadLastCharacter,
    /// A character other than `a`-`z`, `0`-`9`, `-`, `_`.
    BadCharacter(char),
}

impl fmt::Display for IdProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("it is empty"),
            Self::TooLong => write!(f, "it is longer than {MAX_ID_LEN} characters"),
            Self::BadFirstCharacter => f.write_str("it must start with a lowercase letter"),
            Self::BadLastCharacter => f.write_str("it must end with a lowercase letter or a digit"),
            Self::BadCharacter(c) => write!(
                f,
                "{c:?} is not allowed (use lowercase letters, digits, '-' and '_')"
            ),
        }
    }
}

/// Why a resource id or name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// A bare id is invalid.
    #[error("\"{id}\" is not a valid id: {problem}")]
    InvalidId {
        /// The rejected id.
        id: String,
        /// What is wrong with it.
        problem: IdProblem,
    },
    /// The name does not have the shape of the expected pattern.
    #[error("expected a name like \"{pattern}\", got \"{name}\"")]
    Malformed {
        /// The pattern, e.g. `tenants/{tenant}/objectives/{objective}`.
        pattern: &'static str,
        /// The rejected name.
        name: String,
    },
    /// The name has the right shape but one of its ids is invalid.
    #[error("\"{id}\" is not a valid {segment} id in \"{name}\": {problem}")]
    InvalidSegment {
        /// The rejected name.
        name: String,
        /// Which id of the pattern is wrong, e.g. `tenant`.
        segment: &'static str,
        /// The rejected id.
        id: String,
        /// What is wrong with it.
        problem: IdProblem,
    },
}

/// Checks an id: `^[a-z]([a-z0-9_-]{0,61}[a-z0-9])?$`, or a lowercase hyphenated UUID (the
/// servers generate UUID ids, which may start with a digit).
pub fn validate_resource_id(id: &str) -> Result<(), NameError> {
    id_problem(id).map_or(Ok(()), |problem| {
        Err(NameError::InvalidId {
            id: id.to_owned(),
            problem,
        })
    })
}

fn id_problem(id: &str) -> Option<IdProblem> {
    if is_lowercase_uuid(id) {
        return None;
    }
    let Some(first) = id.chars().next() else {
        return Some(IdProblem::Empty);
    };
    if let Some(bad) = id
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-' | '_'))
    {
        return Some(IdProblem::BadCharacter(bad));
    }
    // All characters are ASCII from here on, so byte length is character count.
    if id.len() > MAX_ID_LEN {
        return Some(IdProblem::TooLong);
    }
    if !first.is_ascii_lowercase() {
        return Some(IdProblem::BadFirstCharacter);
    }
    if id.ends_with(['-', '_']) {
        return Some(IdProblem::BadLastCharacter);
    }
    None
}

fn is_lowercase_uuid(id: &str) -> bool {
    const GROUP_LENGTHS: [usize; 5] = [8, 4, 4, 4, 12];
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == GROUP_LENGTHS.len()
        && groups.iter().zip(GROUP_LENGTHS).all(|(group, len)| {
            group.len() == len
                && group
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
}

/// Splits `name` along `pattern` (e.g. `tenants/{tenant}/cycles/{cycle}`) and returns the ids
/// in order. The pattern is the single source of truth for both parsing and error messages.
fn parse_ids<const N: usize>(name: &str, pattern: &'static str) -> Result<[String; N], NameError> {
    let malformed = || NameError::Malformed {
        pattern,
        name: name.to_owned(),
    };
    let pattern_parts: Vec<&str> = pattern.split('/').collect();
    let name_parts: Vec<&str> = name.split('/').collect();
    if pattern_parts.len() != name_parts.len() {
        return Err(malformed());
    }
    let mut ids = Vec::with_capacity(N);
    for (expected, actual) in pattern_parts.into_iter().zip(name_parts) {
        match expected.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(segment) => {
                if let Some(problem) = id_problem(actual) {
                    return Err(NameError::InvalidSegment {
                        name: name.to_owned(),
                        segment,
                        id: actual.to_owned(),
                        problem,
                    });
                }
                ids.push(actual.to_owned());
            }
            None if expected == actual => {}
            None => return Err(malformed()),
        }
    }
    Ok(ids
        .try_into()
        .expect("every name pattern has as many placeholders as its type has ids"))
}

/// `tenants/{tenant}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantName {
    /// The tenant id.
    pub tenant: String,
}

impl TenantName {
    /// The pattern of this name.
    pub const PATTERN: &'static str = "tenants/{tenant}";

    /// A tenant name from a validated id.
    pub fn new(tenant: impl Into<String>) -> Result<Self, NameError> {
        let tenant = tenant.into();
        validate_resource_id(&tenant)?;
        Ok(Self { tenant })
    }

    /// Parses `tenants/{tenant}`.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let [tenant] = parse_ids(name, Self::PATTERN)?;
        Ok(Self { tenant })
    }

    /// The cycle `id` of this tenant.
    pub fn cycle(&self, id: impl Into<String>) -> CycleName {
        CycleName {
            tenant: self.tenant.clone(),
            cycle: id.into(),
        }
    }

    /// The objective `id` of this tenant.
    pub fn objective(&self, id: impl Into<String>) -> ObjectiveName {
        ObjectiveName {
            tenant: self.tenant.clone(),
            objective: id.into(),
        }
    }

    /// The metric `id` of this tenant.
    pub fn metric(&self, id: impl Into<String>) -> MetricName {
        MetricName {
            tenant: self.tenant.clone(),
            metric: id.into(),
        }
    }

    /// The roadmap item `id` of this tenant.
    pub fn roadmap_item(&self, id: impl Into<String>) -> RoadmapItemName {
        RoadmapItemName {
            tenant: self.tenant.clone(),
            roadmap_item: id.into(),
        }
    }
}

impl fmt::Display for TenantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tenants/{}", self.tenant)
    }
}

/// `tenants/{tenant}/cycles/{cycle}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CycleName {
    /// The tenant id.
    pub tenant: String,
    /// The cycle id.
    pub cycle: String,
}

impl CycleName {
    /// The pattern of this name.
    pub const PATTERN: &'static str = "tenants/{tenant}/cycles/{cycle}";

    /// Parses `tenants/{tenant}/cycles/{cycle}`.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let [tenant, cycle] = parse_ids(name, Self::PATTERN)?;
        Ok(Self { tenant, cycle })
    }

    /// The tenant that owns this cycle.
    pub fn tenant(&self) -> TenantName {
        TenantName {
            tenant: self.tenant.clone(),
        }
    }
}

impl fmt::Display for CycleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tenants/{}/cycles/{}", self.tenant, self.cycle)
    }
}

/// `tenants/{tenant}/objectives/{objective}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectiveName {
    /// The tenant id.
    pub tenant: String,
    /// The objective id.
    pub objective: String,
}

impl ObjectiveName {
    /// The pattern of this name.
    pub const PATTERN: &'static str = "tenants/{tenant}/objectives/{objective}";

    /// Parses `tenants/{tenant}/objectives/{objective}`.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let [tenant, objective] = parse_ids(name, Self::PATTERN)?;
        Ok(Self { tenant, objective })
    }

    /// The tenant that owns this objective.
    pub fn tenant(&self) -> TenantName {
        TenantName {
            tenant: self.tenant.clone(),
        }
    }

    /// The key result `id` of this objective.
    pub fn key_result(&self, id: impl Into<String>) -> KeyResultName {
        KeyResultName {
            tenant: self.tenant.clone(),
            objective: self.objective.clone(),
            key_result: id.into(),
        }
    }
}

impl fmt::Display for ObjectiveName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tenants/{}/objectives/{}", self.tenant, self.objective)
    }
}

/// `tenants/{tenant}/objectives/{objective}/keyResults/{key_result}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyResultName {
    /// The tenant id.
    pub tenant: String,
    /// The objective id.
    pub objective: String,
    /// The key result id.
    pub key_result: String,
}

impl KeyResultName {
    /// The pattern of this name.
    pub const PATTERN: &'static str =
        "tenants/{tenant}/objectives/{objective}/keyResults/{key_result}";

    /// Parses `tenants/{tenant}/objectives/{objective}/keyResults/{key_result}`.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let [tenant, objective, key_result] = parse_ids(name, Self::PATTERN)?;
        Ok(Self {
            tenant,
            objective,
            key_result,
        })
    }

    /// The tenant that owns this key result.
    pub fn tenant(&self) -> TenantName {
        TenantName {
            tenant: self.tenant.clone(),
        }
    }

    /// The objective this key result belongs to.
    pub fn objective(&self) -> ObjectiveName {
        ObjectiveName {
            tenant: self.tenant.clone(),
            objective: self.objective.clone(),
        }
    }
}

impl fmt::Display for KeyResultName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tenants/{}/objectives/{}/keyResults/{}",
            self.tenant, self.objective, self.key_result
        )
    }
}

/// `tenants/{tenant}/metrics/{metric}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MetricName {
    /// The tenant id.
    pub tenant: String,
    /// The metric id.
    pub metric: String,
}

impl MetricName {
    /// The pattern of this name.
    pub const PATTERN: &'static str = "tenants/{tenant}/metrics/{metric}";

    /// Parses `tenants/{tenant}/metrics/{metric}`.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let [tenant, metric] = parse_ids(name, Self::PATTERN)?;
        Ok(Self { tenant, metric })
    }

    /// The tenant that owns this metric.
    pub fn tenant(&self) -> TenantName {
        TenantName {
            tenant: self.tenant.clone(),
        }
    }
}

impl fmt::Display for MetricName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tenants/{}/metrics/{}", self.tenant, self.metric)
    }
}

/// `tenants/{tenant}/roadmapItems/{roadmap_item}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoadmapItemName {
    /// The tenant id.
    pub tenant: String,
    /// The roadmap item id.
    pub roadmap_item: String,
}

impl RoadmapItemName {
    /// The pattern of this name.
    pub const PATTERN: &'static str = "tenants/{tenant}/roadmapItems/{roadmap_item}";

    /// Parses `tenants/{tenant}/roadmapItems/{roadmap_item}`.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let [tenant, roadmap_item] = parse_ids(name, Self::PATTERN)?;
        Ok(Self {
            tenant,
            roadmap_item,
        })
    }

    /// The tenant that owns this roadmap item.
    pub fn tenant(&self) -> TenantName {
        TenantName {
            tenant: self.tenant.clone(),
        }
    }
}

impl fmt::Display for RoadmapItemName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tenants/{}/roadmapItems/{}",
            self.tenant, self.roadmap_item
        )
    }
}

macro_rules! impl_from_str {
    ($($name:ty),* $(,)?) => {$(
        impl FromStr for $name {
            type Err = NameError;

            fn from_str(name: &str) -> Result<Self, Self::Err> {
                Self::parse(name)
            }
        }
    )*};
}

impl_from_str!(
    TenantName,
    CycleName,
    ObjectiveName,
    KeyResultName,
    MetricName,
    RoadmapItemName,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_aip_122_ids() {
        let max_len = format!("a{}", "b".repeat(62));
        for id in [
            "a",
            "ab",
            "a1",
            "a-b",
            "a_b",
            "acme-corp",
            "x9-y_z0",
            max_len.as_str(),
        ] {
            assert_eq!(validate_resource_id(id), Ok(()), "{id:?}");
        }
    }

    #[test]
    fn accepts_lowercase_uuids() {
        for id in [
            "0190a6b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b",
            "f47ac10b-58cc-4372-a567-0e02b2c3d479",
            "00000000-0000-0000-0000-000000000000",
        ] {
            assert_eq!(validate_resource_id(id), Ok(()), "{id:?}");
        }
    }

    #[test]
    fn rejects_bad_ids_with_the_reason() {
        let too_long = format!("a{}", "b".repeat(63));
        let cases = [
            ("", IdProblem::Empty),
            ("Abc", IdProblem::BadCharacter('A')),
            ("1abc", IdProblem::BadFirstCharacter),
            ("-abc", IdProblem::BadFirstCharacter),
            ("_abc", IdProblem::BadFirstCharacter),
            ("abc-", IdProblem::BadLastCharacter),
            ("abc_", IdProblem::BadLastCharacter),
            ("a b", IdProblem::BadCharacter(' ')),
            ("a/b", IdProblem::BadCharacter('/')),
            ("a.b", IdProblem::BadCharacter('.')),
            ("é", IdProblem::BadCharacter('é')),
            (too_long.as_str(), IdProblem::TooLong),
            // Uppercase UUIDs and UUIDs without hyphens are not the form the servers write.
            (
                "F47AC10B-58CC-4372-A567-0E02B2C3D479",
                IdProblem::BadCharacter('F'),
            ),
            (
                "0190a6b27c3e7d4f8a1b2c3d4e5f6a7b",
                IdProblem::BadFirstCharacter,
            ),
            (
                "0190a6b2-7c3e-7d4f-8a1b-2c3d4e5f6a7g",
                IdProblem::BadFirstCharacter,
            ),
        ];
        for (id, problem) in cases {
            assert_eq!(
                validate_resource_id(id),
                Err(NameError::InvalidId {
                    id: id.to_owned(),
                    problem
                }),
                "{id:?}"
            );
        }
    }

    #[test]
    fn id_error_message_names_the_id_and_the_problem() {
        assert_eq!(
            validate_resource_id("Abc").unwrap_err().to_string(),
            "\"Abc\" is not a valid id: 'A' is not allowed (use lowercase letters, digits, '-' and '_')"
        );
        assert_eq!(
            validate_resource_id("9lives").unwrap_err().to_string(),
            "\"9lives\" is not a valid id: it must start with a lowercase letter"
        );
    }

    #[test]
    fn names_round_trip_through_display() {
        let tenant = TenantName::parse("tenants/acme").unwrap();
        assert_eq!(tenant.tenant, "acme");
        assert_eq!(tenant.to_string(), "tenants/acme");

        let cycle = CycleName::parse("tenants/acme/cycles/q1-2026").unwrap();
        assert_eq!(cycle, tenant.cycle("q1-2026"));
        assert_eq!(cycle.to_string(), "tenants/acme/cycles/q1-2026");
        assert_eq!(cycle.tenant(), tenant);

        let objective = ObjectiveName::parse("tenants/acme/objectives/grow").unwrap();
        assert_eq!(objective, tenant.objective("grow"));
        assert_eq!(objective.to_string(), "tenants/acme/objectives/grow");
        assert_eq!(objective.tenant(), tenant);

        let key_result =
            KeyResultName::parse("tenants/acme/objectives/grow/keyResults/activation").unwrap();
        assert_eq!(
            key_result,
            KeyResultName {
                tenant: "acme".into(),
                objective: "grow".into(),
                key_result: "activation".into(),
            }
        );
        assert_eq!(key_result, objective.key_result("activation"));
        assert_eq!(key_result.objective(), objective);
        assert_eq!(key_result.tenant(), tenant);
        assert_eq!(
            key_result.to_string(),
            "tenants/acme/objectives/grow/keyResults/activation"
        );

        let metric = MetricName::parse("tenants/acme/metrics/nps").unwrap();
        assert_eq!(metric, tenant.metric("nps"));
        assert_eq!(metric.to_string(), "tenants/acme/metrics/nps");
        assert_eq!(metric.tenant(), tenant);

        let item = RoadmapItemName::parse("tenants/acme/roadmapItems/onboarding-v2").unwrap();
        assert_eq!(item, tenant.roadmap_item("onboarding-v2"));
        assert_eq!(item.to_string(), "tenants/acme/roadmapItems/onboarding-v2");
        assert_eq!(item.tenant(), tenant);

        assert_eq!("tenants/acme".parse::<TenantName>(), Ok(tenant));
    }

    #[test]
    fn names_accept_uuid_ids() {
        let name = "tenants/acme/objectives/0190a6b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b";
        assert_eq!(ObjectiveName::parse(name).unwrap().to_string(), name);
    }

    #[test]
    fn rejects_names_of_the_wrong_shape() {
        let malformed = |name: &str| NameError::Malformed {
            pattern: ObjectiveName::PATTERN,
            name: name.to_owned(),
        };
        for name in [
            "",
            "x",
            "tenants/acme",
            "tenants/acme/objectives",
            "tenants/acme/objectives/grow/",
            "/tenants/acme/objectives/grow",
            "tenants/acme/cycles/grow",
            "Tenants/acme/objectives/grow",
            "tenants/acme/objectives/grow/keyResults/k",
        ] {
            assert_eq!(ObjectiveName::parse(name), Err(malformed(name)), "{name:?}");
        }
        assert_eq!(
            ObjectiveName::parse("x").unwrap_err().to_string(),
            "expected a name like \"tenants/{tenant}/objectives/{objective}\", got \"x\""
        );
        assert!(matches!(
            KeyResultName::parse("tenants/acme/objectives/grow/key_results/k"),
            Err(NameError::Malformed { .. })
        ));
        assert!(matches!(
            RoadmapItemName::parse("tenants/acme/roadmap_items/r"),
            Err(NameError::Malformed { .. })
        ));
    }

    #[test]
    fn rejects_names_with_an_invalid_id_naming_the_segment() {
        let error = KeyResultName::parse("tenants/acme/objectives/Grow/keyResults/k").unwrap_err();
        assert_eq!(
            error,
            NameError::InvalidSegment {
                name: "tenants/acme/objectives/Grow/keyResults/k".into(),
                segment: "objective",
                id: "Grow".into(),
                problem: IdProblem::BadCharacter('G'),
            }
        );
        assert_eq!(
            TenantName::parse("tenants/").unwrap_err().to_string(),
            "\"\" is not a valid tenant id in \"tenants/\": it is empty"
        );
        assert!(matches!(
            TenantName::new("ACME"),
            Err(NameError::InvalidId { .. })
        ));
        assert_eq!(TenantName::new("acme").unwrap().tenant, "acme");
    }
}
