-- One code send (POST /api/users/register/ for a new number) as phonepass ran it before issue 27,
-- written from what pg_stat_statements recorded (bench/results/*-pg-sizing-before.json): the
-- login code, then every count in one statement, the service-wide ones (sms:all:h, sms:all:d,
-- sms:unknown:h, the fraud guard's per-country counts) each one row that every send updates.
-- Numbers and addresses are random, as people's are; the hour's window is fixed.
-- Keys are written with | for : (pgbench would read :name in a literal as one of its variables).
\set n random(1, 99999999)
\set addr random(1, 16777215)
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
  ('sms|all|h', :hour::bigint, 1, :hour::bigint + 3600000),
  ('sms|all|d', :hour::bigint, 1, :hour::bigint + 86400000),
  ('fg|s||bigint|p|+7' || (:n::bigint / 10000), :hour::bigint, 1, :hour::bigint + 3600000),
  ('fg|h|p|+7' || (:n::bigint / 10000), :hour::bigint, 1, :hour::bigint + 86400000),
  ('fg|s||bigint|c|RU', :hour::bigint, 1, :hour::bigint + 3600000),
  ('fg|h|c|RU', :hour::bigint, 1, :hour::bigint + 86400000),
  ('sms|unknown|h', :hour::bigint, 1, :hour::bigint + 3600000)
  ON CONFLICT (key, window_start) DO UPDATE SET count = limit_counters.count + 1 WHERE limit_counters.count < 2000000000
  RETURNING key, count;
COMMIT;
