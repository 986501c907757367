-- Events are immutable, so what people wrote is rendered to safe HTML once, when the event is
-- recorded, and kept beside it: pages and the live stream reuse it. Events recorded before this
-- have none and are rendered when read.
alter table timeline_events add column body_html text;

-- The events the game day's derived views need (the faults' lives and the marked observations
-- that time them), so a page reads these and a window of recent events, never the whole day.
-- The predicate is the one `timeline::store::key_events` uses.
create index timeline_events_key on timeline_events (gameday_id, seq)
    where kind in ('scenario_announced', 'scenario_injected', 'scenario_halted', 'scenario_rolled_back',
                   'scenario_concluded')
       or (kind = 'observation' and data ? 'marker');

-- The corrections of an event, for the events shown in a window.
create index timeline_events_corrections on timeline_events (gameday_id, ((data ->> 'corrects')::bigint))
    where kind = 'correction';
