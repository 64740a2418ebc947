-- One right code (POST /api/users/verify_code/ of a new number) as phonepass ran it before issue
-- 27, from the recorded statements: the try counted, the code spent, the try given back, the
-- fraud guard's entered count (one row per country, mid-transaction), the user, the session, the
-- refresh token, the new-device count. The code row is made first, outside the measured path's
-- locks (a send did it).
\set n random(1, 99999999)
\set addr random(1, 16777215)
\set hour 1000000000000
INSERT INTO login_codes (phone, code_hash, created_at, expires_at, ip) VALUES ('+7' || :n::bigint, md5(:n::text), 1, 9999999999999, '10.0.0.1')
  ON CONFLICT (phone) DO UPDATE SET code_hash = excluded.code_hash, attempts = 0, expires_at = excluded.expires_at, spent_at = null;
BEGIN;
INSERT INTO limit_counters (key, window_start, count, expires_at) VALUES ('wrong|phone|+7' || :n::bigint || '|d', :hour::bigint, 1, :hour::bigint + 86400000), ('wrong|ip|' || :addr::bigint || '|h', :hour::bigint, 1, :hour::bigint + 3600000)
  ON CONFLICT (key, window_start) DO UPDATE SET count = limit_counters.count + 1 RETURNING key, count;
UPDATE login_codes SET attempts = attempts + 1 WHERE phone = '+7' || :n::bigint AND spent_at IS NULL AND attempts < 5 AND expires_at > 2 RETURNING code_hash, attempts;
UPDATE login_codes SET spent_at = 3 WHERE phone = '+7' || :n::bigint AND code_hash = md5(:n::text) AND spent_at IS NULL RETURNING phone;
UPDATE limit_counters SET count = count - 1 WHERE (key, window_start) IN (('wrong|phone|+7' || :n::bigint || '|d', :hour::bigint), ('wrong|ip|' || :addr::bigint || '|h', :hour::bigint)) AND count > 0;
INSERT INTO limit_counters (key, window_start, count, expires_at) VALUES ('fg|e|p|+7' || (:n::bigint / 10000), :hour::bigint, 1, :hour::bigint + 3600000), ('fg|e|c|RU', :hour::bigint, 1, :hour::bigint + 3600000)
  ON CONFLICT (key, window_start) DO UPDATE SET count = limit_counters.count + 1 RETURNING key, count;
SELECT * FROM users WHERE phone = '+7' || :n::bigint;
INSERT INTO users (phone, invite_code, created_at) VALUES ('+7' || :n::bigint, substr(md5(random()::text), 1, 6), 1) ON CONFLICT DO NOTHING RETURNING id;
UPDATE users SET id = id WHERE phone = '+7' || :n::bigint AND blocked_at IS NULL RETURNING id;
INSERT INTO sessions (id, user_id, kind, created_at, last_seen_at, expires_at, user_agent, ip) SELECT md5(random()::text), id, 'api', 1, 1, 9999999999999, 'pgbench', '10.0.0.1' FROM users WHERE phone = '+7' || :n::bigint;
INSERT INTO refresh_tokens (token_hash, session_id, created_at) SELECT md5(random()::text), id, 1 FROM sessions WHERE user_id = (SELECT id FROM users WHERE phone = '+7' || :n::bigint) LIMIT 1;
INSERT INTO limit_counters (key, window_start, count, expires_at) VALUES ('device|new|+7' || :n::bigint || '|d', :hour::bigint, 1, :hour::bigint + 86400000)
  ON CONFLICT (key, window_start) DO UPDATE SET count = limit_counters.count + 1 WHERE limit_counters.count < 3 RETURNING key, count;
COMMIT;
