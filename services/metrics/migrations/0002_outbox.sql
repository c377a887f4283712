-- Changes of the metrics service's data, written in the transaction of the change and served by
-- WatchMetricChanges (see devokr_platform::outbox). The payload is a prost-encoded
-- `MetricsChange` (services/metrics/src/store/mod.rs). Pruned after 7 days.
create table metrics.outbox (
    version bigint generated always as identity primary key,
    txid xid8 not null default pg_current_xact_id(),
    tenant text not null,
    payload bytea not null,
    recorded_at timestamptz not null default now()
);

create index outbox_by_recorded_at on metrics.outbox (recorded_at);
