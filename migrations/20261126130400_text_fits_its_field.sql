-- The database keeps its own rules: no text longer than the app's form accepts. Each limit is
-- the one the parse function of its field uses (bounded_text, multiline, parse_link,
-- parse_tags); the columns that had one already (titles, names, the game day's details, URLs,
-- notes, statements) keep theirs. A row written before, by a path that did not cut its text to
-- fit (an incident replay, a weakness found by a scenario), is cut to the limit first.

-- gamedays::routes::cancel: the reason for cancelling, 1 to 500.
update gamedays set cancel_reason = left(cancel_reason, 500) where char_length(cancel_reason) > 500;
alter table gamedays add constraint gamedays_cancel_reason_length check (char_length(cancel_reason) <= 500);

-- scenarios::routes::conclude: the note, at most 4000.
update scenarios set conclusion_note = left(conclusion_note, 4000) where char_length(conclusion_note) > 4000;
alter table scenarios add constraint scenarios_conclusion_note_length check (char_length(conclusion_note) <= 4000);

-- ScenarioForm::parse: title and target 120, the rest 4000.
update scenario_revisions set
    title = left(title, 120), hypothesis = left(hypothesis, 4000), fault = left(fault, 4000),
    target_system = left(target_system, 120), expected_impact = left(expected_impact, 4000),
    abort_criteria = left(abort_criteria, 4000), rollback_plan = left(rollback_plan, 4000)
where char_length(title) > 120 or char_length(hypothesis) > 4000 or char_length(fault) > 4000
   or char_length(target_system) > 120 or char_length(expected_impact) > 4000
   or char_length(abort_criteria) > 4000 or char_length(rollback_plan) > 4000;
alter table scenario_revisions
    add constraint scenario_revisions_title_length check (char_length(title) <= 120),
    add constraint scenario_revisions_hypothesis_length check (char_length(hypothesis) <= 4000),
    add constraint scenario_revisions_fault_length check (char_length(fault) <= 4000),
    add constraint scenario_revisions_target_system_length check (char_length(target_system) <= 120),
    add constraint scenario_revisions_expected_impact_length check (char_length(expected_impact) <= 4000),
    add constraint scenario_revisions_abort_criteria_length check (char_length(abort_criteria) <= 4000),
    add constraint scenario_revisions_rollback_plan_length check (char_length(rollback_plan) <= 4000);

-- scenarios::routes::sign: the reason of a decision, at most 2000.
update signoffs set reason = left(reason, 2000) where char_length(reason) > 2000;
alter table signoffs add constraint signoffs_reason_length check (char_length(reason) <= 2000);

-- RetroForm::parse: each part at most 8000; retros::routes: an observed impact at most 4000.
update retrospectives set
    summary = left(summary, 8000), went_well = left(went_well, 8000), surprised_us = left(surprised_us, 8000)
where char_length(summary) > 8000 or char_length(went_well) > 8000 or char_length(surprised_us) > 8000;
alter table retrospectives
    add constraint retrospectives_summary_length check (char_length(summary) <= 8000),
    add constraint retrospectives_went_well_length check (char_length(went_well) <= 8000),
    add constraint retrospectives_surprised_us_length check (char_length(surprised_us) <= 8000);
update retro_observed_impacts set observed_impact = left(observed_impact, 4000)
where char_length(observed_impact) > 4000;
alter table retro_observed_impacts
    add constraint retro_observed_impacts_observed_impact_length check (char_length(observed_impact) <= 4000);

-- learnings::parse_tags: ten tags at most, each at most 30 characters.
create function tags_fit(tags text[]) returns boolean
    language sql immutable parallel safe
    return cardinality(tags) <= 10 and not exists (select from unnest(tags) t where char_length(t) > 30);
update learnings set tags = array(select left(t, 30) from unnest(tags[1:10]) t) where not tags_fit(tags);
alter table learnings add constraint learnings_tags_length check (tags_fit(tags));

-- weaknesses::routes: a weakness's description at most 4000.
update weaknesses set description = left(description, 4000) where char_length(description) > 4000;
alter table weaknesses add constraint weaknesses_description_length check (char_length(description) <= 4000);

-- weaknesses::routes::add_incident: the summary at most 4000, the link (parse_link) 500.
update incidents set summary = left(summary, 4000) where char_length(summary) > 4000;
update incidents set link = left(link, 500) where char_length(link) > 500;
alter table incidents
    add constraint incidents_summary_length check (char_length(summary) <= 4000),
    add constraint incidents_link_length check (char_length(link) <= 500);

-- ActionForm::parse: the link (parse_link) at most 500.
update action_items set link = left(link, 500) where char_length(link) > 500;
alter table action_items add constraint action_items_link_length check (char_length(link) <= 500);
