-- Personal access tokens for the JSON API (`/api/v1`): each belongs to one person and one team,
-- with scopes that narrow what that person may do there. The secret is shown once, when made;
-- only its SHA-256 is kept. A token is never deleted by its owner or a lead, only revoked, so the
-- timeline and the audit log can always name the token an API change came through.
create table api_tokens (
    id uuid primary key,
    user_id uuid not null references users (id) on delete cascade,
    team_id uuid not null references teams (id) on delete cascade,
    name text not null check (char_length(name) between 1 and 80),
    scopes text[] not null check (cardinality(scopes) > 0
        and scopes <@ array['read', 'observe', 'plan', 'run']::text[]),
    secret_hash bytea not null check (length(secret_hash) = 32),
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    last_used_at timestamptz,
    revoked_at timestamptz,
    revoked_by uuid references users (id) on delete set null,
    check (expires_at > created_at)
);
create index api_tokens_user_idx on api_tokens (user_id, created_at desc);
create index api_tokens_team_idx on api_tokens (team_id, created_at desc);

alter type team_audit_kind add value 'api_token_created';
alter type team_audit_kind add value 'api_token_revoked';
