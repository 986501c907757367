-- A person's page frame (their rows of `person_frame`) as one JSON array, for the session load.
--
-- A function rather than a subquery in that statement: the statement is prepared once per
-- connection and run with and without the frame (pages ask for it, posts do not). With the
-- subquery inline, its plan depended on that flag, so PostgreSQL planned the whole statement
-- again on every run (about half a millisecond, five times what running it took). Called
-- through a PL/pgSQL function, the frame's own statement is planned once per connection and
-- cached too, and the session load's plan no longer depends on the flag.
create function frame_json(person uuid) returns json
language plpgsql stable
as $$
begin
    return coalesce((select json_agg(p order by p.part, p.sort, p.since nulls last, p.scenario_id)
                     from person_frame p where p.user_id = person), '[]');
end
$$;
