-- How a tenant judges pace and scores, its calendar and time zone. A tenant without a row has
-- the defaults; `version` counts changes for the etag (the defaults are version 0).
create table objectives.tenant_settings (
    tenant text primary key,
    time_zone text not null,
    week_start text not null check (week_start in ('monday', 'sunday')),
    on_track_ratio numeric not null check (on_track_ratio > 0 and on_track_ratio <= 1),
    at_risk_ratio numeric not null check (at_risk_ratio > 0 and at_risk_ratio < on_track_ratio),
    score_yellow_from numeric not null check (score_yellow_from >= 0),
    score_green_from numeric not null check (score_green_from > score_yellow_from and score_green_from <= 1),
    version bigint not null,
    update_time timestamptz not null default now()
);

-- Health changes with the clock alone (the expected pace rises, the cycle ends). Watchers were
-- last told a key result's status at `status_time`; `published_health` is the health that
-- message carried when the service judged it, null when it was published for a stored change
-- (the health is then that of the status at `status_time`).
alter table objectives.key_result add column status_time timestamptz not null default now();
alter table objectives.key_result add column published_health text
    check (published_health in ('on_track', 'at_risk', 'off_track', 'achieved', 'missed', 'stale', 'no_data'));
update objectives.key_result k set status_time = o.recorded_at
from objectives.outbox o where o.version = k.status_version;
