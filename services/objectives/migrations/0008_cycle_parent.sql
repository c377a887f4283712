-- Nesting: the cycle a cycle is part of (a quarter's year), which contains it.
alter table objectives.cycle add column parent_id text;
alter table objectives.cycle
    add foreign key (tenant, parent_id) references objectives.cycle (tenant, cycle_id);
