-- A lead can send a test delivery to a webhook from its settings page. It is sent at once (not
-- through the outbox) and recorded in the delivery log like any other delivery, but it reports
-- no timeline event: it has no game day and no sequence number, and it is never left pending
-- for the worker to pick up.

alter table webhook_deliveries
    alter column gameday_id drop not null,
    alter column seq drop not null,
    add constraint webhook_deliveries_event_or_test check (
        case when kind = 'test' then gameday_id is null and seq is null and status <> 'pending'
             else gameday_id is not null and seq is not null end
    );
