-- GET /api/users/me/ as recorded: the session by its id, then the profile with the inviter and
-- the number of invitees (read together in one snapshot; autocommit reads here).
\set u random(1, 400)
SELECT * FROM sessions WHERE id = md5(:u::text) AND revoked_at IS NULL AND expires_at > 2;
SELECT users.id, users.phone, users.invite_code, inviter.invite_code AS inviter_code, (SELECT count(*) FROM users AS invited WHERE invited.invited_by = users.id) AS invited_count
  FROM users LEFT JOIN users AS inviter ON inviter.id = users.invited_by WHERE users.id = :u::bigint;
