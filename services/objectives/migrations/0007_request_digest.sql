-- The digest of the request that created each row with a request id, so an id reused for a
-- different request is refused instead of answered with the first one's resource (AIP-155).
alter table objectives.cycle add column request_digest bytea;
alter table objectives.objective add column request_digest bytea;
alter table objectives.key_result add column request_digest bytea;
alter table objectives.learning add column request_digest bytea;
