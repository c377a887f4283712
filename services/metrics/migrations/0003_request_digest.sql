-- The digest of the request that created each metric, so a request id reused for a different
-- request is refused instead of answered with the first one's metric (AIP-155).
alter table metrics.metric add column request_digest bytea;
