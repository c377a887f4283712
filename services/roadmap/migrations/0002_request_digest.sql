-- The digest of the request that created each item, so a request id reused for a different
-- request is refused instead of answered with the first one's item (AIP-155).
alter table roadmap.roadmap_item add column request_digest bytea;
