"""The one read-only statement a sample runs (`SAMPLE_SQL`), and why it counts what it counts.

The arithmetic follows PostgreSQL's own check in `InitPostgres`: an ordinary role may connect while
more than `superuser_reserved_connections + reserved_connections` of the `max_connections` client
slots are free. Background workers, autovacuum and WAL senders have slots of their own and do not
count. Without `pg_read_all_stats`, other roles' sessions show NULL `backend_type`/`state`, so they
are counted as rows and reported as hidden instead of being silently dropped.
"""

from __future__ import annotations

# One statement per sample. clock_timestamp(), not now(): during --watch the same connection runs
# several samples and now() would be frozen at each transaction's start.
SAMPLE_SQL = """
WITH me AS (
  SELECT pg_backend_pid() AS pid,
         current_setting('is_superuser') = 'on' AS is_superuser,
         pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS read_all_stats
), raw AS (
  SELECT a.pid, a.datid, a.datname, a.usesysid, a.usename, a.application_name, a.backend_type,
         a.state, a.wait_event_type, a.wait_event,
         CASE WHEN a.backend_type IS NULL THEN '(hidden)'
              WHEN a.client_addr IS NULL THEN '(local socket)'
              ELSE host(a.client_addr) END AS client_addr,
         extract(epoch FROM clock_timestamp() - a.state_change)::float8 AS state_age_s,
         extract(epoch FROM clock_timestamp() - a.xact_start)::float8 AS xact_age_s
  FROM pg_stat_activity a
  WHERE a.pid <> (SELECT pid FROM me)
), act AS (
  -- Client backends. A hidden row (backend_type NULL) with a database and a user is counted as
  -- one: auxiliary processes have neither, and only privileged roles can tell the rest apart.
  SELECT r.*,
         CASE WHEN r.backend_type IS NULL THEN 'hidden' ELSE coalesce(r.state, 'starting') END AS st,
         coalesce(r.usename, '?') AS k_user, coalesce(r.datname, '?') AS k_db,
         coalesce(r.application_name, '') AS k_app
  FROM raw r
  WHERE r.backend_type = 'client backend'
     OR (r.backend_type IS NULL AND r.datid IS NOT NULL AND r.usesysid IS NOT NULL)
), grp AS (
  SELECT CASE WHEN grouping(k_app) = 0 THEN 'application' WHEN grouping(k_user) = 0 THEN 'user'
              WHEN grouping(client_addr) = 0 THEN 'client_addr' ELSE 'database' END AS dim,
         CASE WHEN grouping(k_app) = 0 THEN k_app WHEN grouping(k_user) = 0 THEN k_user
              WHEN grouping(client_addr) = 0 THEN client_addr ELSE k_db END AS key,
         count(*) AS connections,
         count(*) FILTER (WHERE st = 'active') AS active,
         count(*) FILTER (WHERE st = 'idle') AS idle,
         count(*) FILTER (WHERE st IN ('idle in transaction', 'idle in transaction (aborted)'))
           AS idle_in_transaction,
         count(*) FILTER (WHERE st = 'hidden') AS hidden,
         round(max(state_age_s) FILTER (WHERE st = 'idle')::numeric, 1) AS oldest_idle_s,
         round(max(state_age_s) FILTER (WHERE st IN ('idle in transaction',
           'idle in transaction (aborted)'))::numeric, 1) AS longest_idle_in_transaction_s,
         count(*) FILTER (WHERE st = 'idle' AND state_age_s > %(recycle)s) AS idle_over_recycle,
         count(*) FILTER (WHERE wait_event_type = 'Lock') AS waiting_on_lock
  FROM act
  GROUP BY GROUPING SETS ((k_app), (k_user), (client_addr), (k_db))
), detail AS (
  SELECT pid, usename, application_name, client_addr, datname, st AS state,
         round(state_age_s::numeric, 1) AS state_age_s, round(xact_age_s::numeric, 1) AS xact_age_s,
         wait_event_type, wait_event,
         CASE WHEN wait_event_type = 'Lock' THEN pg_blocking_pids(pid) END AS blocked_by
  FROM act
  WHERE st IN ('idle in transaction', 'idle in transaction (aborted)') OR wait_event_type = 'Lock'
  ORDER BY state_age_s DESC NULLS LAST
  LIMIT 50
)
SELECT json_build_object(
  'version', current_setting('server_version'),
  'version_num', current_setting('server_version_num')::int,
  'max_connections', current_setting('max_connections')::int,
  'superuser_reserved_connections', current_setting('superuser_reserved_connections')::int,
  'reserved_connections', current_setting('reserved_connections', true)::int,
  'idle_in_transaction_session_timeout_ms',
    (SELECT reset_val::bigint FROM pg_settings WHERE name = 'idle_in_transaction_session_timeout'),
  'idle_session_timeout_ms', (SELECT reset_val::bigint FROM pg_settings WHERE name = 'idle_session_timeout'),
  'self_pid', me.pid, 'is_superuser', me.is_superuser, 'read_all_stats', me.read_all_stats,
  'current_user', current_user, 'database', current_database(),
  'in_use', (SELECT count(*) FROM act),
  -- Autovacuum workers run as the bootstrap superuser (oid 10) with no application_name.
  'hidden_maybe_background', (SELECT count(*) FROM act WHERE st = 'hidden' AND usesysid = 10 AND k_app = ''),
  'by_state', (SELECT coalesce(json_object_agg(st, n), '{}'::json)
               FROM (SELECT st, count(*) AS n FROM act GROUP BY st) s),
  'groups', (SELECT coalesce(json_agg(grp ORDER BY dim, connections DESC, key), '[]'::json) FROM grp),
  'details', (SELECT coalesce(json_agg(detail), '[]'::json) FROM detail),
  'role_limits', (SELECT coalesce(json_agg(json_build_object('name', rolname, 'limit', rolconnlimit,
                                                            'connections', n)), '[]'::json)
                  FROM (SELECT r.rolname, r.rolconnlimit, count(a.pid) AS n
                        FROM pg_roles r LEFT JOIN act a ON a.usename = r.rolname
                        WHERE r.rolconnlimit >= 0
                        GROUP BY r.rolname, r.rolconnlimit
                        HAVING count(a.pid) > 0 OR r.rolname = current_user) rl),
  'database_limits', (SELECT coalesce(json_agg(json_build_object('name', datname, 'limit', datconnlimit,
                                                                'connections', n)), '[]'::json)
                      FROM (SELECT d.datname, d.datconnlimit, count(a.pid) AS n
                            FROM pg_database d LEFT JOIN act a ON a.datname = d.datname
                            WHERE d.datconnlimit >= 0
                            GROUP BY d.datname, d.datconnlimit
                            HAVING count(a.pid) > 0 OR d.datname = current_database()) dl)
) FROM me
"""
