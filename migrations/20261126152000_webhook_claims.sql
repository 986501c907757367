-- Fair webhook deliveries: a claimed delivery is in flight until its outcome is recorded or its
-- lease runs out (claimed_until). The worker claims a team's due deliveries only while fewer than
-- webhooks::MAX_IN_FLIGHT_PER_TEAM of that team's are in flight, so one team whose receiver hangs
-- cannot hold up the others.
alter table webhook_deliveries add column claimed_until timestamptz;
create index webhook_deliveries_in_flight_idx on webhook_deliveries (claimed_until)
    where status = 'pending' and claimed_until is not null;
