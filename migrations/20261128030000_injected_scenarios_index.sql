-- The health-check worker looks for injected scenarios every half second on one instance: a
-- partial index keeps that a lookup of the few in flight, however many scenarios there are.
create index scenarios_injected on scenarios (id) where state = 'injected';
