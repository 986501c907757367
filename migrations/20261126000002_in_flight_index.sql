-- Every page a signed-in person opens shows the faults in flight in their teams: find them
-- without reading every scenario of every game day.
create index scenarios_in_flight_idx on scenarios (gameday_id) where is_in_flight(state);
