-- What an organisation deleted before deleteTenant removed these too: its people's invites
-- and reset links (which could still be accepted, making an account in no organisation),
-- its two-factor policy, and its people's authenticators and recovery codes.
DELETE FROM account_links WHERE tenant_id NOT IN (SELECT id FROM tenants);
DELETE FROM mfa_policies WHERE tenant_id NOT IN (SELECT id FROM tenants);
DELETE FROM mfa_totp WHERE user_id NOT IN (SELECT id FROM users);
DELETE FROM mfa_recovery_codes WHERE user_id NOT IN (SELECT id FROM users);
DELETE FROM mfa_pending_logins WHERE user_id NOT IN (SELECT id FROM users);
