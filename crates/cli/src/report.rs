//! The demo report: built only from what the services answered, printed as aligned tables
//! for people or as JSON for programs. Decimals stay exact text in JSON; the tables round
//! them for display with the one rounding rule of `devokr_domain::decimal`.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use devokr_domain::{
    decimal::{format_for_display, parse_decimal},
    units::{CurrencyCode, Unit as DisplayUnit},
};
use devokr_proto::{
    common::v1::Decimal,
    convert::optional_instant,
    objectives::v1::{self as objectives_pb, Comparison, Health, KeyResultKind, Unit},
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
    pub objectives: Vec<ObjectiveReport>,
    /// One key result's value, progress and health over the cycle.
    pub history: HistoryReport,
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
    pub kind: &'static str,
    pub unit: &'static str,
    /// The ISO 4217 code of a currency key result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency_code: Option<String>,
    /// The latest value in the key result's unit; absent when there is none, it is
    /// undefined, or it could not be read.
    pub value: Option<String>,
    /// For a metric-bound key result: the users behind the value.
    pub numerator: Option<i64>,
    pub denominator: Option<i64>,
    /// Absent for kinds without them (threshold, milestones).
    pub baseline: Option<String>,
    pub target: Option<String>,
    pub progress_raw: Option<String>,
    pub progress_clamped: Option<String>,
    pub expected_progress: Option<String>,
    pub health: &'static str,
    pub explanation: String,
    /// The value, baseline and target as a person reads them (not in JSON).
    #[serde(skip)]
    shown: ShownKeyResult,
}

/// A key result's numbers formatted in its unit, for the tables.
#[derive(Debug, Clone, Default)]
struct ShownKeyResult {
    value: String,
    baseline: String,
    target: String,
}

/// The value, progress and health of one key result, bucket by bucket.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryReport {
    pub key_result: String,
    pub display_name: String,
    pub points: Vec<HistoryPointReport>,
    /// The key result's unit, to show the values in (not in JSON).
    #[serde(skip)]
    unit: Option<DisplayUnit>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryPointReport {
    /// RFC 3339; the point describes the status just before `end_time`.
    pub start_time: String,
    pub end_time: String,
    pub value: Option<String>,
    pub progress_clamped: Option<String>,
    pub health: &'static str,
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

impl From<(ImportSummary, f64)> for ImportReport {
    /// An import's summary and how many seconds it took.
    fn from((import, seconds): (ImportSummary, f64)) -> Self {
        Self {
            rows: import.rows,
            stored: import.stored,
            duplicates: import.duplicates,
            skipped: import.skipped,
            seconds: (seconds * 10.0).round() / 10.0,
        }
    }
}

impl Report {
    /// The report as JSON, for programs.
    pub fn to_json(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// The report as aligned text, for people.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "DevOKR demo · tenant {} · cycle {} [{}, {}) {}",
            self.tenant,
            self.cycle.display_name,
            short_time(&self.cycle.start_time),
            short_time(&self.cycle.end_time),
            self.cycle.time_zone
        );
        if let Some(objective) = self.objectives.first() {
            let _ = writeln!(out, "Judged as of {}", objective.evaluation_time);
        }
        out.push('\n');

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
        for objective in &self.objectives {
            objective.write_text(&mut out);
        }
        self.history.write_text(&mut out);

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
    fn write_text(&self, out: &mut String) {
        let _ = writeln!(out, "\nObjective   {}", self.display_name);
        let _ = writeln!(
            out,
            "            progress {} · {}: {}\n",
            shown(self.progress.as_deref()),
            self.health,
            self.explanation
        );
        let mut rows = Vec::new();
        for key_result in &self.key_results {
            rows.push(vec![
                key_result.display_name.clone(),
                key_result.kind.to_owned(),
                key_result.shown.value.clone(),
                key_result.shown.baseline.clone(),
                key_result.shown.target.clone(),
                shown(key_result.progress_raw.as_deref()),
                shown(key_result.progress_clamped.as_deref()),
                key_result.health.to_owned(),
            ]);
            rows.push(vec![format!("  {}", key_result.explanation)]);
        }
        out.push_str(&table(
            &[
                "Key result",
                "Kind",
                "Value",
                "Baseline",
                "Target",
                "Raw",
                "Clamped",
                "Health",
            ],
            &[false, false, true, true, true, true, true, false],
            &rows,
        ));
    }

    pub fn from_status(
        objective: &objectives_pb::Objective,
        status: objectives_pb::ObjectiveStatus,
        key_results: &[objectives_pb::KeyResult],
    ) -> anyhow::Result<Self> {
        let objective_health = health_name(status.health());
        let key_results = status
            .key_results
            .into_iter()
            .map(|kr| {
                let definition = key_results
                    .iter()
                    .find(|key_result| key_result.name == kr.key_result);
                KeyResultReport::new(kr, definition)
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

impl KeyResultReport {
    fn new(
        status: objectives_pb::KeyResultStatus,
        definition: Option<&objectives_pb::KeyResult>,
    ) -> Self {
        let unit = definition.and_then(display_unit);
        let in_unit = |value: Option<&str>| match (value.and_then(|v| parse_decimal(v).ok()), unit)
        {
            (Some(value), Some(unit)) => unit.format(value),
            (value, _) => value.map_or_else(|| "—".to_owned(), |v| format_for_display(v, PLACES)),
        };
        let value = status
            .value
            .as_ref()
            .and_then(|value| text(value.value.as_ref()));
        // A metric reading counts users; other values stand alone.
        let counts = status
            .value
            .as_ref()
            .filter(|value| value.denominator > 0 || value.value.is_none())
            .map(|value| (value.numerator, value.denominator));
        let kind = status.kind();
        let (baseline, target) = match kind {
            KeyResultKind::Threshold | KeyResultKind::Milestones | KeyResultKind::Binary => {
                (None, None)
            }
            KeyResultKind::Metric | KeyResultKind::ManualPercent | KeyResultKind::Unspecified => {
                (text(status.baseline.as_ref()), text(status.target.as_ref()))
            }
        };
        let shown_value = match (&value, counts, &status.value) {
            (Some(value), Some((numerator, denominator)), _) => format!(
                "{} ({} / {} users)",
                in_unit(Some(value)),
                thousands(numerator),
                thousands(denominator)
            ),
            (Some(value), None, _) => in_unit(Some(value)),
            (None, Some((0, 0)), _) => "undefined (empty population)".to_owned(),
            (None, _, Some(_)) => "unavailable".to_owned(),
            (None, _, None) => "—".to_owned(),
        };
        let shown_target = match definition.and_then(|kr| kr.threshold.as_ref()) {
            Some(threshold) if kind == KeyResultKind::Threshold => {
                threshold_text(threshold, in_unit)
            }
            _ => in_unit(target.as_deref()),
        };
        let progress = status.progress.as_ref();
        Self {
            display_name: definition
                .map_or_else(|| status.key_result.clone(), |kr| kr.display_name.clone()),
            kind: kind_name(kind),
            unit: unit_name(status.unit()),
            currency_code: definition
                .filter(|kr| !kr.currency_code.is_empty())
                .map(|kr| kr.currency_code.clone()),
            health: health_name(status.health()),
            numerator: counts.map(|(numerator, _)| numerator),
            denominator: counts.map(|(_, denominator)| denominator),
            shown: ShownKeyResult {
                value: shown_value,
                baseline: in_unit(baseline.as_deref()),
                target: shown_target,
            },
            value,
            baseline,
            target,
            progress_raw: progress.and_then(|p| text(p.raw.as_ref())),
            progress_clamped: progress.and_then(|p| text(p.clamped.as_ref())),
            expected_progress: text(status.expected_progress.as_ref()),
            explanation: status.explanation,
            name: status.key_result,
        }
    }
}

impl HistoryReport {
    pub fn new(
        key_result: &str,
        points: Vec<objectives_pb::KeyResultHistoryPoint>,
        key_results: &[objectives_pb::KeyResult],
    ) -> anyhow::Result<Self> {
        let definition = key_results.iter().find(|kr| kr.name == key_result);
        let points = points
            .into_iter()
            .map(|point| {
                Ok(HistoryPointReport {
                    start_time: rfc3339(point.start_time.as_ref())?,
                    end_time: rfc3339(point.end_time.as_ref())?,
                    value: text(point.value.as_ref()),
                    progress_clamped: point
                        .progress
                        .as_ref()
                        .and_then(|progress| text(progress.clamped.as_ref())),
                    health: health_name(point.health()),
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            key_result: key_result.to_owned(),
            display_name: definition
                .map_or_else(|| key_result.to_owned(), |kr| kr.display_name.clone()),
            points,
            unit: definition.and_then(display_unit),
        })
    }

    fn write_text(&self, out: &mut String) {
        let _ = writeln!(out, "\nHistory     {}, week by week\n", self.display_name);
        let rows: Vec<Vec<String>> = self
            .points
            .iter()
            .map(|point| {
                let value = point
                    .value
                    .as_deref()
                    .and_then(|value| parse_decimal(value).ok())
                    .map_or_else(
                        || "—".to_owned(),
                        |value| match self.unit {
                            Some(unit) => unit.format(value),
                            None => format_for_display(value, PLACES),
                        },
                    );
                vec![
                    format!("{} – {}", day(&point.start_time), day(&point.end_time)),
                    value,
                    shown(point.progress_clamped.as_deref()),
                    point.health.to_owned(),
                ]
            })
            .collect();
        out.push_str(&table(
            &["Week (end excluded)", "Value", "Clamped", "Health"],
            &[false, true, true, false],
            &rows,
        ));
    }
}

/// The unit a key result's numbers are shown in; `None` when the definition is incomplete.
fn display_unit(key_result: &objectives_pb::KeyResult) -> Option<DisplayUnit> {
    let score_bound = |bound: Option<&Decimal>| bound.and_then(|b| parse_decimal(&b.value).ok());
    match key_result.unit() {
        Unit::Percent => Some(DisplayUnit::Percent),
        Unit::Number => Some(DisplayUnit::Number),
        Unit::Duration => Some(DisplayUnit::Duration),
        Unit::Currency => CurrencyCode::parse(&key_result.currency_code)
            .ok()
            .map(DisplayUnit::Currency),
        Unit::Score => DisplayUnit::score(
            score_bound(key_result.score_min.as_ref())?,
            score_bound(key_result.score_max.as_ref())?,
        )
        .ok(),
        Unit::Unspecified => None,
    }
}

/// "at least 33.00 USD", "between 1 and 2", as the bound reads.
fn threshold_text(
    threshold: &objectives_pb::Threshold,
    in_unit: impl Fn(Option<&str>) -> String,
) -> String {
    let low = in_unit(text(threshold.low.as_ref()).as_deref());
    let high = in_unit(text(threshold.high.as_ref()).as_deref());
    match threshold.comparison() {
        Comparison::AtLeast => format!("at least {low}"),
        Comparison::AtMost => format!("at most {high}"),
        Comparison::Between => format!("{low} to {high}"),
        Comparison::Unspecified => "—".to_owned(),
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

fn kind_name(kind: KeyResultKind) -> &'static str {
    match kind {
        KeyResultKind::Metric | KeyResultKind::Unspecified => "metric",
        KeyResultKind::Threshold => "threshold",
        KeyResultKind::Binary => "binary",
        KeyResultKind::Milestones => "milestones",
        KeyResultKind::ManualPercent => "manual percent",
    }
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

/// "1997-01-01T00:00:00Z" → "1997-01-01".
fn day(rfc3339: &str) -> &str {
    rfc3339.get(..10).unwrap_or(rfc3339)
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
