-- A webhook's signing secret can be rotated (and is shown once, when made): the team log says who.
alter type team_audit_kind add value 'webhook_secret_rotated';
