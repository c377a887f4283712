-- Every kind of key result and every unit. Existing rows are metric key results in percent or
-- number, so they stay valid with the defaults; only a metric key result has a baseline,
-- target and direction.
alter table objectives.key_result
    add column kind text not null default 'metric'
        check (kind in ('metric', 'threshold', 'binary', 'milestones', 'manual_percent')),
    -- Metric: optional commit and stretch levels.
    add column commit_level numeric,
    add column stretch_level numeric,
    -- Threshold: the bound (low for at least, high for at most, both for between) and scoring.
    add column threshold_comparison text
        check (threshold_comparison in ('at_least', 'at_most', 'between')),
    add column threshold_low numeric,
    add column threshold_high numeric,
    add column threshold_scoring text
        check (threshold_scoring in ('latest_pass_fail', 'share_of_check_ins')),
    -- Milestones: [{"title": text, "weight": decimal text, "done": bool}, ...].
    add column milestones jsonb not null default '[]',
    -- Currency: the ISO 4217 code; score: the declared range.
    add column currency_code text,
    add column score_min numeric,
    add column score_max numeric,
    -- Freshness: a value is due every cadence and may be grace late; null cadence: never stale
    -- by age.
    add column update_cadence_seconds bigint check (update_cadence_seconds > 0),
    add column stale_grace_seconds bigint not null default 0 check (stale_grace_seconds >= 0),
    -- The expected-progress curve: [{"time": RFC 3339, "progress": decimal text}, ...].
    add column interim_targets jsonb not null default '[]';

alter table objectives.key_result drop constraint key_result_unit_check;
alter table objectives.key_result add constraint key_result_unit_check
    check (unit in ('percent', 'number', 'currency', 'duration', 'score'));
alter table objectives.key_result add constraint key_result_currency_check
    check ((unit = 'currency') = (currency_code is not null));
alter table objectives.key_result add constraint key_result_score_range_check
    check ((unit = 'score') = (score_min is not null and score_max is not null and score_min < score_max));

alter table objectives.key_result alter column baseline drop not null;
alter table objectives.key_result alter column target drop not null;
alter table objectives.key_result alter column direction drop not null;
alter table objectives.key_result drop constraint key_result_check;
alter table objectives.key_result add constraint key_result_metric_target_check
    check ((kind = 'metric') = (baseline is not null and target is not null and direction is not null)
           and (kind <> 'metric' or baseline <> target));
alter table objectives.key_result add constraint key_result_threshold_check
    check ((kind = 'threshold') = (threshold_comparison is not null and threshold_scoring is not null));
