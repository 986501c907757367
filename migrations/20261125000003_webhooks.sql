-- Outgoing webhooks per team, and their outbox: a delivery row is written in the same
-- transaction as the timeline event it reports, and a worker delivers it with retries.

create table webhooks (
    id uuid primary key,
    team_id uuid not null references teams (id) on delete cascade,
    url text not null check (url ~ '^https?://' and length(url) <= 500),
    secret text not null,
    kinds text[] not null check (cardinality(kinds) > 0),
    created_by uuid not null references users (id),
    created_at timestamptz not null default now()
);
create index webhooks_team_idx on webhooks (team_id);

create type delivery_status as enum ('pending', 'delivered', 'failed');

create table webhook_deliveries (
    id bigint generated always as identity primary key,
    webhook_id uuid not null references webhooks (id) on delete cascade,
    gameday_id uuid not null references gamedays (id),
    seq bigint not null,
    kind text not null,
    payload jsonb not null,
    status delivery_status not null default 'pending',
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    last_status integer,
    last_error text,
    delivered_at timestamptz,
    created_at timestamptz not null default now()
);
create index webhook_deliveries_due_idx on webhook_deliveries (next_attempt_at) where status = 'pending';
create index webhook_deliveries_webhook_idx on webhook_deliveries (webhook_id, id desc);
