-- Objectives get a level, an owner team, a stage, what drives their progress, how their health
-- is judged, and a weight in their parents' progress.
alter table objectives.objective
    add column level text not null default 'team'
        check (level in ('company', 'team', 'individual')),
    add column owner_team text not null default '',
    add column stage text not null default 'active'
        check (stage in ('draft', 'active', 'closed')),
    add column progress_driver text not null default 'key_results'
        check (progress_driver in ('key_results', 'child_objectives', 'both')),
    add column health_mode text not null default 'worst'
        check (health_mode in ('worst', 'weighted')),
    add column weight numeric not null default 1 check (weight between 0 and 1000);

create index objective_by_owner_team on objectives.objective (tenant, owner_team, seq);

-- Alignment: the objectives an objective contributes to, in the order the caller gave them.
-- The graph has no loops (checked under a per-tenant lock when links are written).
create table objectives.objective_parent (
    tenant text not null,
    objective_id text not null,
    parent_id text not null,
    position integer not null,
    primary key (tenant, objective_id, parent_id),
    foreign key (tenant, objective_id) references objectives.objective (tenant, objective_id),
    foreign key (tenant, parent_id) references objectives.objective (tenant, objective_id),
    check (objective_id <> parent_id)
);

create index objective_parent_by_parent on objectives.objective_parent (tenant, parent_id);

-- Rollup key results: the value is the sum or mean of child key results' values, recorded as
-- a 'rollup' check-in whenever a child's value changes.
create table objectives.key_result_rollup (
    tenant text not null,
    objective_id text not null,
    key_result_id text not null,
    aggregation text not null check (aggregation in ('sum', 'mean')),
    primary key (tenant, objective_id, key_result_id),
    foreign key (tenant, objective_id, key_result_id)
        references objectives.key_result (tenant, objective_id, key_result_id)
);

create table objectives.key_result_rollup_child (
    tenant text not null,
    objective_id text not null,
    key_result_id text not null,
    child_objective_id text not null,
    child_key_result_id text not null,
    position integer not null,
    primary key (tenant, objective_id, key_result_id, child_objective_id, child_key_result_id),
    foreign key (tenant, objective_id, key_result_id)
        references objectives.key_result_rollup (tenant, objective_id, key_result_id),
    foreign key (tenant, child_objective_id, child_key_result_id)
        references objectives.key_result (tenant, objective_id, key_result_id)
);

create index key_result_rollup_child_by_child
    on objectives.key_result_rollup_child (tenant, child_objective_id, child_key_result_id);
