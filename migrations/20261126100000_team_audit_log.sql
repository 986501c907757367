-- The team audit log: who changed what in a team, and when. Every team-level change that is not
-- a game day's timeline event (roles, members, invites, settings, webhooks, the weakness register,
-- incidents, follow-up actions) writes its row here in the same transaction as the change, and
-- the team's leads read it at /teams/{slug}/audit. Like the timeline, it is append-only.

create type team_audit_kind as enum (
    'team_created',
    'team_settings_changed',
    'calendar_address_changed',
    'member_role_changed',
    'member_removed',
    'member_left',
    'invite_created',
    'invite_revoked',
    'invite_accepted',
    'webhook_added',
    'webhook_removed',
    'weakness_added',
    'weakness_status_changed',
    'incident_added',
    'action_status_changed'
);

create table team_audit (
    id bigint generated always as identity primary key,
    team_id uuid not null references teams (id),
    actor uuid not null references users (id),
    at timestamptz not null default clock_timestamp(),
    kind team_audit_kind not null,
    -- What happened, as a sentence with the names as they were then ("Ana made Bo a lead.").
    body text not null check (length(body) between 1 and 2000),
    -- The same in structured form (ids, old and new values), for tools.
    detail jsonb not null default '{}'
);
create index team_audit_team_idx on team_audit (team_id, id desc);

-- The audit log is append-only; the database itself refuses changes.
create function team_audit_is_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'the team audit log is append-only: % is not allowed', tg_op
        using errcode = 'insufficient_privilege';
end;
$$;
create trigger team_audit_no_update_or_delete
    before update or delete on team_audit
    for each row execute function team_audit_is_append_only();
create trigger team_audit_no_truncate
    before truncate on team_audit
    for each statement execute function team_audit_is_append_only();
