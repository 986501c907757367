-- A lead may archive a team: it stays readable by its members and accepts no change until a lead
-- unarchives it (teams::check_not_archived, asked by the web contexts for every request that may
-- change something). Archiving and unarchiving are recorded in the team's audit log.
alter table teams add column archived_at timestamptz;

alter type team_audit_kind add value 'team_archived';
alter type team_audit_kind add value 'team_unarchived';
