-- The team's audit log names who added, changed and removed its health checks (their secret
-- header values are never written to it: only that they were replaced).
alter type team_audit_kind add value 'health_check_added';
alter type team_audit_kind add value 'health_check_changed';
alter type team_audit_kind add value 'health_check_removed';
