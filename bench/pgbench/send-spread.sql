-- The same send as phonepass runs it since issue 27 (src/services/limits.ts, takeCodeSend): the
-- uncapped service-wide counts on one of 16 rows of their window (window_start + 0…15 ms), in
-- the quotas' statement; the capped budgets (sms:all:h, sms:unknown:h) on one of 16 rows each,
-- every row holding its share of the cap, in a statement of their own behind a savepoint.
\set n random(1, 99999999)
\set addr random(1, 16777215)
\set s random(0, 15)
\set hour 1000000000000
BEGIN;
INSERT INTO login_codes (phone, code_hash, created_at, expires_at, ip) VALUES ('+7' || :n::bigint, md5(:n::text), 1, 2, '10.0.0.1')
  ON CONFLICT (phone) DO UPDATE SET code_hash = excluded.code_hash, attempts = 0, created_at = excluded.created_at, expires_at = excluded.expires_at, ip = excluded.ip, spent_at = null
  WHERE login_codes.created_at <= 1 RETURNING phone;
INSERT INTO limit_counters (key, window_start, count, expires_at) VALUES
  ('code|phone|+7' || :n::bigint || '|h', :hour::bigint, 1, :hour::bigint + 3600000),
  ('code|phone|+7' || :n::bigint || '|d', :hour::bigint, 1, :hour::bigint + 86400000),
  ('code|all|+7' || :n::bigint || '|h', :hour::bigint, 1, :hour::bigint + 3600000),
  ('code|all|+7' || :n::bigint || '|d', :hour::bigint, 1, :hour::bigint + 86400000),
  ('code|ip|' || :addr::bigint || '|h', :hour::bigint, 1, :hour::bigint + 3600000),
  ('sms|all|d', :hour::bigint + :s::bigint, 1, :hour::bigint + 86400000),
  ('fg|s||bigint|p|+7' || (:n::bigint / 10000), :hour::bigint + :s::bigint, 1, :hour::bigint + 3600000),
  ('fg|h|p|+7' || (:n::bigint / 10000), :hour::bigint + :s::bigint, 1, :hour::bigint + 86400000),
  ('fg|s||bigint|c|RU', :hour::bigint + :s::bigint, 1, :hour::bigint + 3600000),
  ('fg|h|c|RU', :hour::bigint + :s::bigint, 1, :hour::bigint + 86400000)
  ON CONFLICT (key, window_start) DO UPDATE SET count = limit_counters.count + 1 WHERE limit_counters.count < 2000000000
  RETURNING key, count;
SAVEPOINT spread_counters;
INSERT INTO limit_counters (key, window_start, count, expires_at) VALUES
  ('sms|all|h', :hour::bigint + :s::bigint, 1, :hour::bigint + 3600000),
  ('sms|unknown|h', :hour::bigint + :s::bigint, 1, :hour::bigint + 3600000)
  ON CONFLICT (key, window_start) DO UPDATE SET count = limit_counters.count + 1 WHERE limit_counters.count < 125000000
  RETURNING key, count;
COMMIT;
