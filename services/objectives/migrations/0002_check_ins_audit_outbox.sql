-- Key results may take manual check-ins instead of a metric binding.
alter table objectives.key_result alter column metric drop not null;

-- Why the bound metric could not be read at the last attempt; null when it could.
alter table objectives.key_result add column metric_problem text;

-- Check-ins: append-only. A correction is a new row that supersedes an earlier one.
create table objectives.check_in (
    tenant text not null,
    objective_id text not null,
    key_result_id text not null,
    check_in_id bigint generated always as identity,
    value numeric not null,
    measure_time timestamptz not null,
    record_time timestamptz not null default now(),
    source text not null check (source in ('manual', 'metric', 'import', 'rollup')),
    author text not null default '',
    comment text not null default '',
    confidence numeric check (confidence between 0 and 1),
    idempotency_key text not null,
    supersedes bigint,
    late boolean not null default false,
    primary key (tenant, check_in_id),
    unique (tenant, objective_id, key_result_id, idempotency_key),
    foreign key (tenant, objective_id, key_result_id)
        references objectives.key_result (tenant, objective_id, key_result_id)
);

create index check_in_by_key_result
    on objectives.check_in (tenant, objective_id, key_result_id, check_in_id);

-- Every mutation, including automatic ones: who, what, and the request it came with.
create table objectives.audit_event (
    tenant text not null,
    sequence bigint generated always as identity,
    time timestamptz not null default now(),
    actor text not null,
    request_id text not null default '',
    action text not null,
    resource text not null,
    change jsonb not null,
    primary key (tenant, sequence)
);

create index audit_event_by_resource on objectives.audit_event (tenant, resource text_pattern_ops, sequence);

-- Status changes, written in the transaction of the change and served by WatchKeyResultStatus.
create table objectives.outbox (
    version bigint generated always as identity primary key,
    txid xid8 not null default pg_current_xact_id(),
    tenant text not null,
    payload bytea not null,
    recorded_at timestamptz not null default now()
);

create index outbox_by_recorded_at on objectives.outbox (recorded_at);

-- Metric readings keep the counts behind the value; an empty population has no value.
alter table objectives.check_in alter column value drop not null;
alter table objectives.check_in add column numerator bigint;
alter table objectives.check_in add column denominator bigint;
alter table objectives.check_in add constraint check_in_value_or_undefined_metric
    check (value is not null or source = 'metric');

-- The outbox version of the last change of each key result's status.
alter table objectives.key_result add column status_version bigint not null default 0;

-- Cycles move from planning to active to closed; closing scores every key result.
alter table objectives.cycle add column state text not null default 'planning'
    check (state in ('planning', 'active', 'closed'));
alter table objectives.key_result add column score numeric check (score between 0 and 1);
alter table objectives.key_result add column score_override_reason text not null default '';

-- What was learned on a key result or objective (the Learn step).
create table objectives.learning (
    tenant text not null,
    learning_id bigint generated always as identity,
    subject text not null,
    text text not null,
    hypothesis text not null check (hypothesis in ('unspecified', 'held', 'rejected', 'inconclusive')),
    author text not null,
    request_id uuid,
    create_time timestamptz not null default now(),
    primary key (tenant, learning_id),
    unique (tenant, request_id)
);

create index learning_by_subject on objectives.learning (tenant, subject, learning_id);
