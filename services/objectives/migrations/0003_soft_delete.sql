-- Soft delete (AIP-164) and update times (AIP-148) of objectives and key results. A deleted
-- row keeps its data: Get still shows it, List hides it unless asked, Undelete restores it.
alter table objectives.objective add column delete_time timestamptz;
alter table objectives.objective add column update_time timestamptz not null default now();
alter table objectives.key_result add column delete_time timestamptz;
alter table objectives.key_result add column update_time timestamptz not null default now();
