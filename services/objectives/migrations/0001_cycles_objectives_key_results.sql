-- Cycles: civil dates (the end date included whole) in an IANA time zone.
create table objectives.cycle (
    tenant text not null,
    cycle_id text not null,
    seq bigint generated always as identity,
    display_name text not null,
    start_date date not null,
    end_date date not null,
    time_zone text not null,
    request_id uuid,
    version bigint not null default 1,
    create_time timestamptz not null default now(),
    primary key (tenant, cycle_id),
    unique (tenant, request_id),
    check (end_date >= start_date)
);

create table objectives.objective (
    tenant text not null,
    objective_id text not null,
    seq bigint generated always as identity,
    display_name text not null,
    description text not null default '',
    cycle_id text not null,
    request_id uuid,
    version bigint not null default 1,
    create_time timestamptz not null default now(),
    primary key (tenant, objective_id),
    unique (tenant, request_id),
    foreign key (tenant, cycle_id) references objectives.cycle (tenant, cycle_id)
);

create table objectives.key_result (
    tenant text not null,
    objective_id text not null,
    key_result_id text not null,
    seq bigint generated always as identity,
    display_name text not null,
    baseline numeric not null,
    target numeric not null,
    unit text not null check (unit in ('percent', 'number')),
    direction text not null check (direction in ('increase', 'decrease')),
    metric text not null,
    weight numeric not null default 1 check (weight >= 0),
    request_id uuid,
    version bigint not null default 1,
    create_time timestamptz not null default now(),
    primary key (tenant, objective_id, key_result_id),
    unique (tenant, request_id),
    foreign key (tenant, objective_id) references objectives.objective (tenant, objective_id),
    check (baseline <> target)
);

create index cycle_by_seq on objectives.cycle (tenant, seq);
create index objective_by_seq on objectives.objective (tenant, seq);
create index key_result_by_seq on objectives.key_result (tenant, objective_id, seq);
