-- Reminders by e-mail, each written once across every instance: a game day the day before and an
-- hour before it starts (`due` is its start, so a rescheduled day is reminded of again), and an
-- action the day before it falls due (`due` is its due date).
create table email_reminders (
    subject_id uuid not null,
    which text not null check (which in ('day', 'hour', 'action_due')),
    due text not null,
    at timestamptz not null default gameday_now(),
    primary key (subject_id, which, due)
);
