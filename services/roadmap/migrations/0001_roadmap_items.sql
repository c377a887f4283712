create table roadmap.roadmap_item (
    tenant text not null,
    roadmap_item_id text not null,
    seq bigint generated always as identity,
    display_name text not null,
    description text not null default '',
    state text not null check (state in ('planned', 'deferred')),
    deferral_reason text not null default '',
    request_id uuid,
    version bigint not null default 1,
    create_time timestamptz not null default now(),
    primary key (tenant, roadmap_item_id),
    unique (tenant, request_id),
    check ((state = 'deferred') = (deferral_reason <> ''))
);

create index roadmap_item_by_seq on roadmap.roadmap_item (tenant, seq);

-- The key results an item should move, by resource name in the objectives service.
create table roadmap.key_result_link (
    tenant text not null,
    roadmap_item_id text not null,
    position int not null,
    key_result text not null,
    primary key (tenant, roadmap_item_id, key_result),
    unique (tenant, roadmap_item_id, position),
    foreign key (tenant, roadmap_item_id) references roadmap.roadmap_item (tenant, roadmap_item_id)
);
