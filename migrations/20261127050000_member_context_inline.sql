-- The session load now reads `member_context` inline (a lateral join, with an empty slug when a
-- request names no game day, so that its plan is the same either way); the PL/pgSQL wrapper
-- cost it a function call per request and is no longer used.
drop function member_context_json(text, uuid, uuid);
