-- Customer events, append-only. The idempotency key makes a replayed batch add nothing.
create table metrics.event (
    tenant text not null,
    idempotency_key text not null,
    user_id text not null,
    event_name text not null,
    occurred_at timestamptz not null,
    properties jsonb not null default '{}',
    received_at timestamptz not null default now(),
    primary key (tenant, idempotency_key)
);

-- Cohort and return look-ups: a user's events of one name, in time order.
create index event_by_user on metrics.event (tenant, event_name, user_id, occurred_at);

-- Metric definitions.
create table metrics.metric (
    tenant text not null,
    metric_id text not null,
    seq bigint generated always as identity,
    display_name text not null,
    definition jsonb not null,
    request_id uuid,
    version bigint not null default 1,
    create_time timestamptz not null default now(),
    primary key (tenant, metric_id),
    unique (tenant, request_id)
);

create index metric_by_seq on metrics.metric (tenant, seq);
