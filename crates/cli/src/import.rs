//! Loads the CDNOW purchase file into the metrics service through its gRPC ingestion API:
//! every row becomes one `purchase` event, keyed by its source row so a second import
//! stores nothing twice. Malformed rows are reported with their line number; the rest is
//! still imported.

use std::collections::BTreeMap;

use devokr_domain::{cdnow, names::TenantName};
use devokr_proto::{
    convert::timestamp,
    metrics::v1::{Event, IngestEventsRequest, metrics_service_client::MetricsServiceClient},
    prost_types::{Struct, Value, value::Kind},
    tonic::transport::Channel,
};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

/// Events sent per ingestion call.
pub const BATCH_SIZE: usize = 5_000;
/// Ingestion calls in flight at once.
const CONCURRENT_BATCHES: usize = 2;

/// The CDNOW purchases the repository carries (see `data/cdnow/README.md`).
pub const VENDORED_CDNOW_GZ: &[u8] = include_bytes!("../../../data/cdnow/CDNOW_master.txt.gz");

/// The vendored CDNOW file as text.
pub fn vendored_cdnow() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(VENDORED_CDNOW_GZ),
        &mut text,
    )?;
    Ok(text)
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedRow {
    pub line: usize,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// Data rows read from the file.
    pub rows: usize,
    /// Events the metrics service stored.
    pub stored: u64,
    /// Events it already had (an earlier import).
    pub duplicates: u64,
    /// Rows not imported, with the reason.
    pub skipped: Vec<SkippedRow>,
}

/// Imports the `purchases` of the CDNOW file for `tenant`; `row_errors` are the file's rows
/// that could not be read, reported as skipped. `on_progress(done, total)` hears about each
/// batch the metrics service accepted.
pub async fn import_cdnow(
    metrics: MetricsServiceClient<Channel>,
    tenant: &TenantName,
    purchases: &[cdnow::Purchase],
    row_errors: &[cdnow::RowError],
    on_progress: impl Fn(usize, usize),
) -> anyhow::Result<ImportSummary> {
    let mut skipped: Vec<SkippedRow> = row_errors
        .iter()
        .map(|error| SkippedRow {
            line: error.line,
            reason: error.message.clone(),
        })
        .collect();
    let (total, malformed) = (purchases.len(), skipped.len());
    let batches = purchases.chunks(BATCH_SIZE).map(|batch| {
        let mut client = metrics.clone();
        let request = IngestEventsRequest {
            parent: tenant.to_string(),
            events: batch.iter().map(purchase_event).collect(),
        };
        let lines: Vec<usize> = batch.iter().map(|purchase| purchase.line).collect();
        async move {
            let response = client.ingest_events(request).await?.into_inner();
            anyhow::Ok((lines, response))
        }
    });
    let mut results = futures::stream::iter(batches).buffer_unordered(CONCURRENT_BATCHES);
    let (mut stored, mut duplicates, mut done) = (0u64, 0u64, 0usize);
    let mut rejected_by_line = BTreeMap::new();
    while let Some((lines, response)) = results.try_next().await? {
        stored += u64::try_from(response.stored_count)?;
        duplicates += u64::try_from(response.duplicate_count)?;
        for rejected in response.rejected {
            let line = usize::try_from(rejected.index)
                .ok()
                .and_then(|index| lines.get(index))
                .copied()
                .unwrap_or_default();
            rejected_by_line.insert(line, format!("{}: {}", rejected.field, rejected.reason));
        }
        done += lines.len();
        on_progress(done, total);
    }
    skipped.extend(
        rejected_by_line
            .into_iter()
            .map(|(line, reason)| SkippedRow { line, reason }),
    );
    skipped.sort_by_key(|row| row.line);
    Ok(ImportSummary {
        rows: total + malformed,
        stored,
        duplicates,
        skipped,
    })
}

fn purchase_event(purchase: &cdnow::Purchase) -> Event {
    let number = |value: f64| Value {
        kind: Some(Kind::NumberValue(value)),
    };
    let text = |value: String| Value {
        kind: Some(Kind::StringValue(value)),
    };
    let properties = Struct {
        fields: [
            (
                "number_of_cds".to_owned(),
                number(f64::from(purchase.number_of_cds)),
            ),
            // Money stays exact: as decimal text, not a JSON number.
            (
                "dollar_value".to_owned(),
                text(purchase.dollar_value.to_string()),
            ),
        ]
        .into(),
    };
    Event {
        user_id: purchase.customer_id.clone(),
        event_name: cdnow::PURCHASE_EVENT.to_owned(),
        occurred_time: Some(timestamp(purchase.occurred_at())),
        properties: Some(properties),
        idempotency_key: purchase.idempotency_key.clone(),
    }
}
