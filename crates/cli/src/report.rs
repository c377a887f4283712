//! The demo report: built only from what the services answered, printed as aligned tables
//! for people or as JSON for programs. Decimals stay exact text in JSON; the tables round
//! them for display with the one rounding rule of `devokr_domain::decimal`.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use devokr_domain::decimal::{format_for_display, parse_decimal};
use devokr_proto::{
    common::v1::Decimal,
    convert::optional_instant,
    objectives::v1::{self as objectives_pb, Health, Unit},
    prost_types::Timestamp,
    roadmap::v1::{self as roadmap_pb, RoadmapItemState},
};
use serde::Serialize;

use crate::import::{ImportSummary, SkippedRow};

/// Decimal places shown in tables.
const PLACES: u32 = 2;

/// Everything the demo shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tenant: String,
    pub cycle: CycleReport,
    pub import: ImportReport,
    pub objective: ObjectiveReport,
    pub roadmap: Vec<RoadmapItemReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CycleReport {
    pub name: String,
    pub display_name: String,
    /// RFC 3339; the cycle is `[start_time, end_time)`.
    pub start_time: String,
    pub end_time: String,
    pub time_zone: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub rows: usize,
    pub stored: u64,
    pub duplicates: u64,
    pub skipped: Vec<SkippedRow>,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ObjectiveReport {
    pub name: String,
    pub display_name: String,
    /// Weighted mean of the key results' clamped progress; absent when none has a value.
    pub progress: Option<String>,
    pub health: &'static str,
    pub explanation: String,
    /// The instant pace and health were judged at.
    pub evaluation_time: String,
    pub key_results: Vec<KeyResultReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyResultReport {
    pub name: String,
    pub display_name: String,
    pub unit: &'static str,
    /// The metric's value in the key result's unit; absent when undefined or unreadable.
    pub value: Option<String>,
    pub numerator: Option<i64>,
    pub denominator: Option<i64>,
    pub baseline: String,
    pub target: String,
    pub progress_raw: Option<String>,
    pub progress_clamped: Option<String>,
    pub expected_progress: Option<String>,
    pub health: &'static str,
    pub explanation: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoadmapItemReport {
    pub name: String,
    pub display_name: String,
    pub state: &'static str,
    pub key_results: Vec<String>,
    /// Why the item is deferred; absent unless it is.
    pub deferral_reason: Option<String>,
    /// Titles of the linked key results, for people (not in JSON).
    #[serde(skip)]
    key_result_titles: Vec<String>,
}

impl Report {
    pub fn new(
        tenant: &str,
        cycle: CycleReport,
        import: ImportSummary,
        import_seconds: f64,
        objective: ObjectiveReport,
        roadmap: Vec<RoadmapItemReport>,
    ) -> Self {
        Self {
            tenant: tenant.to_owned(),
            cycle,
            import: ImportReport {
                rows: import.rows,
                stored: import.stored,
                duplicates: import.duplicates,
                skipped: import.skipped,
                seconds: (import_seconds * 10.0).round() / 10.0,
            },
            objective,
            roadmap,
        }
    }

    /// The report as JSON, for programs.
    pub fn to_json(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// The report as aligned text, for people.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let objective = &self.objective;
        let _ = writeln!(
            out,
            "DevOKR demo · tenant {} · cycle {} [{}, {}) {}",
            self.tenant,
            self.cycle.display_name,
            short_time(&self.cycle.start_time),
            short_time(&self.cycle.end_time),
            self.cycle.time_zone
        );
        let _ = writeln!(out, "Judged as of {}\n", objective.evaluation_time);

        let import = &self.import;
        let _ = writeln!(
            out,
            "Import      {} rows: {} stored, {} already stored, {} skipped ({:.1} s)",
            thousands(import.rows as i64),
            thousands(import.stored as i64),
            thousands(import.duplicates as i64),
            thousands(import.skipped.len() as i64),
            import.seconds
        );
        for skipped in &import.skipped {
            let _ = writeln!(out, "            line {}: {}", skipped.line, skipped.reason);
        }
        let _ = writeln!(out, "\nObjective   {}", objective.display_name);
        let _ = writeln!(
            out,
            "            progress {} · {}: {}\n",
            shown(objective.progress.as_deref()),
            objective.health,
            objective.explanation
        );

        let mut rows = Vec::new();
        for key_result in &objective.key_results {
            let suffix = unit_suffix(key_result.unit);
            let value = match (
                &key_result.value,
                key_result.numerator,
                key_result.denominator,
            ) {
                (Some(value), Some(numerator), Some(denominator)) => format!(
                    "{}{suffix} ({} / {})",
                    shown(Some(value)),
                    thousands(numerator),
                    thousands(denominator)
                ),
                (None, Some(0), Some(0)) => "undefined (empty population)".to_owned(),
                _ => "unavailable".to_owned(),
            };
            rows.push(vec![
                key_result.display_name.clone(),
                value,
                format!("{}{suffix}", shown(Some(&key_result.baseline))),
                format!("{}{suffix}", shown(Some(&key_result.target))),
                shown(key_result.progress_raw.as_deref()),
                shown(key_result.progress_clamped.as_deref()),
                key_result.health.to_owned(),
            ]);
            rows.push(vec![format!("  {}", key_result.explanation)]);
        }
        out.push_str(&table(
            &[
                "Key result",
                "Value (users)",
                "Baseline",
                "Target",
                "Raw",
                "Clamped",
                "Health",
            ],
            &[false, true, true, true, true, true, false],
            &rows,
        ));

        let rows: Vec<Vec<String>> = self
            .roadmap
            .iter()
            .map(|item| {
                let links = match &item.deferral_reason {
                    Some(reason) => reason.clone(),
                    None => item.key_result_titles.join("; "),
                };
                vec![item.display_name.clone(), item.state.to_owned(), links]
            })
            .collect();
        out.push('\n');
        out.push_str(&table(
            &["Roadmap item", "State", "Key results it should move"],
            &[false, false, false],
            &rows,
        ));
        out
    }
}

impl CycleReport {
    pub fn from_cycle(cycle: &objectives_pb::Cycle) -> anyhow::Result<Self> {
        Ok(Self {
            name: cycle.name.clone(),
            display_name: cycle.display_name.clone(),
            start_time: rfc3339(cycle.start_time.as_ref())?,
            end_time: rfc3339(cycle.end_time.as_ref())?,
            time_zone: cycle.time_zone.clone(),
        })
    }
}

impl ObjectiveReport {
    pub fn from_status(
        objective: &objectives_pb::Objective,
        status: objectives_pb::ObjectiveStatus,
        key_results: &[objectives_pb::KeyResult],
    ) -> anyhow::Result<Self> {
        let title = |name: &str| {
            key_results
                .iter()
                .find(|key_result| key_result.name == name)
                .map_or_else(
                    || name.to_owned(),
                    |key_result| key_result.display_name.clone(),
                )
        };
        let objective_health = health_name(status.health());
        let key_results = status
            .key_results
            .into_iter()
            .map(|kr| {
                let progress = kr.progress.as_ref();
                KeyResultReport {
                    display_name: title(&kr.key_result),
                    unit: unit_name(kr.unit()),
                    health: health_name(kr.health()),
                    value: kr
                        .value
                        .as_ref()
                        .and_then(|value| text(value.value.as_ref())),
                    numerator: kr.value.as_ref().map(|value| value.numerator),
                    denominator: kr.value.as_ref().map(|value| value.denominator),
                    baseline: text(kr.baseline.as_ref()).unwrap_or_default(),
                    target: text(kr.target.as_ref()).unwrap_or_default(),
                    progress_raw: progress.and_then(|p| text(p.raw.as_ref())),
                    progress_clamped: progress.and_then(|p| text(p.clamped.as_ref())),
                    expected_progress: text(kr.expected_progress.as_ref()),
                    explanation: kr.explanation,
                    name: kr.key_result,
                }
            })
            .collect();
        Ok(Self {
            name: status.objective,
            display_name: objective.display_name.clone(),
            health: objective_health,
            progress: text(status.progress.as_ref()),
            explanation: status.explanation,
            evaluation_time: rfc3339(status.evaluation_time.as_ref())?,
            key_results,
        })
    }
}

impl RoadmapItemReport {
    pub fn from_item(
        item: roadmap_pb::RoadmapItem,
        key_results: &[objectives_pb::KeyResult],
    ) -> Self {
        let key_result_titles = item
            .key_results
            .iter()
            .map(|name| {
                key_results
                    .iter()
                    .find(|key_result| &key_result.name == name)
                    .map_or_else(
                        || name.clone(),
                        |key_result| key_result.display_name.clone(),
                    )
            })
            .collect();
        let state = match item.state() {
            RoadmapItemState::Planned => "planned",
            RoadmapItemState::Deferred => "deferred",
            RoadmapItemState::Unspecified => "unspecified",
        };
        Self {
            name: item.name,
            display_name: item.display_name,
            state,
            key_results: item.key_results,
            deferral_reason: (!item.deferral_reason.is_empty()).then_some(item.deferral_reason),
            key_result_titles,
        }
    }
}

fn text(decimal: Option<&Decimal>) -> Option<String> {
    decimal.map(|decimal| decimal.value.clone())
}

/// A decimal from a report field, rounded for display; "—" when absent.
fn shown(value: Option<&str>) -> String {
    value
        .and_then(|value| parse_decimal(value).ok())
        .map_or_else(|| "—".to_owned(), |value| format_for_display(value, PLACES))
}

fn unit_name(unit: Unit) -> &'static str {
    match unit {
        Unit::Percent => "percent",
        Unit::Number => "number",
        Unit::Currency => "currency",
        Unit::Duration => "duration",
        Unit::Score => "score",
        Unit::Unspecified => "unspecified",
    }
}

fn unit_suffix(unit: &str) -> &'static str {
    if unit == "percent" { " %" } else { "" }
}

fn health_name(health: Health) -> &'static str {
    match health {
        Health::OnTrack => "on track",
        Health::AtRisk => "at risk",
        Health::OffTrack => "off track",
        Health::Achieved => "achieved",
        Health::Missed => "missed",
        Health::Stale => "stale",
        Health::NoData => "no data",
        Health::Unspecified => "unspecified",
    }
}

fn rfc3339(timestamp: Option<&Timestamp>) -> anyhow::Result<String> {
    let instant: DateTime<Utc> = optional_instant("time", timestamp)?
        .ok_or_else(|| anyhow::anyhow!("a service left out a timestamp"))?;
    Ok(instant.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// "1997-01-01T00:00:00Z" → "1997-01-01 00:00".
fn short_time(rfc3339: &str) -> String {
    rfc3339.get(..16).unwrap_or(rfc3339).replace('T', " ")
}

/// 69659 → "69,659".
pub fn thousands(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < 0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

/// An aligned table. A row with a single cell is a note under the row before it, not
/// aligned to the columns.
fn table(headers: &[&str], right_aligned: &[bool], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers
        .iter()
        .map(|header| header.chars().count())
        .collect();
    for row in rows.iter().filter(|row| row.len() == headers.len()) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (index, cell) in cells.iter().enumerate() {
            let pad = widths[index].saturating_sub(cell.chars().count());
            let last = index + 1 == cells.len();
            if right_aligned[index] {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                if !last {
                    out.push_str(&" ".repeat(pad));
                }
            }
            if !last {
                out.push_str("  ");
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(&headers.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>());
    for row in rows {
        if row.len() == headers.len() {
            out.push_str(&line(row));
        } else {
            let _ = writeln!(out, "{}", row.join("  "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(69_659), "69,659");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-1_000), "-1,000");
    }

    #[test]
    fn tables_align_columns_and_keep_notes_apart() {
        let rendered = table(
            &["Name", "N"],
            &[false, true],
            &[
                vec!["a".into(), "1".into()],
                vec!["  note under a".into()],
                vec!["longer".into(), "100".into()],
            ],
        );
        assert_eq!(
            rendered,
            "Name      N\na         1\n  note under a\nlonger  100\n"
        );
    }
}
