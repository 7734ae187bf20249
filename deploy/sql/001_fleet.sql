-- Berth fleet schema, version 1: hosts, the mirror of their boxes, placement in SQL.
--
-- Applied by fleet-agent (--migrate, or at its start) inside one transaction, under an advisory
-- lock, with its version recorded in berth.schema_version. Never edit a migration that has
-- shipped: add the next one.
--
-- Who writes what:
--   - each host's fleet-agent: its own `hosts` row (register_host, heartbeat) and its own
--     boxes' rows (mirror_box, box_gone, resync_host, action_done, action_failed);
--   - the webserver: assign, stop_box, drain_host, undrain_host; anyone: reap_lost_hosts.
-- A row that needs its host to act carries an `action` and raises NOTIFY on the host's channel
-- (host_channel); the agent LISTENs there and also finds pending actions at each heartbeat.

CREATE SCHEMA IF NOT EXISTS berth;

CREATE TABLE berth.hosts (
  id                 text PRIMARY KEY
                     CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]*$' AND length(id) <= 253),
  -- What clients dial for this host's gateway: "203.0.113.7:4678" or "[2001:db8::7]:4678".
  address            text NOT NULL CHECK (address ~ '^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$'),
  zone               text NOT NULL DEFAULT '' CHECK (zone ~ '^[A-Za-z0-9._-]{0,63}$'),
  version            text NOT NULL DEFAULT '',
  status             text NOT NULL DEFAULT 'PRE_CONNECTION'
                     CHECK (status IN ('PRE_CONNECTION', 'ACTIVE', 'DRAINING', 'DRAINED', 'LOST')),
  -- Set by drain_host, cleared by undrain_host; the agent makes docker-svc follow it.
  drain_requested    boolean NOT NULL DEFAULT false,
  -- The agent drained docker-svc for the fleet (and so undrains it when the fleet asks): a
  -- drain an operator made on the host itself is left alone.
  drain_applied      boolean NOT NULL DEFAULT false,
  -- The apps (profile names) the host can make boxes of.
  apps               text[] NOT NULL DEFAULT '{}',
  -- From docker-svc's Host report at the last heartbeat.
  boxes_total        integer NOT NULL DEFAULT 0,
  boxes_free         integer NOT NULL DEFAULT 0,
  ttys_total         integer NOT NULL DEFAULT 0,
  ttys_free          integer NOT NULL DEFAULT 0,
  tcp_ports_total    integer NOT NULL DEFAULT 0,
  tcp_ports_free     integer NOT NULL DEFAULT 0,
  udp_ports_total    integer NOT NULL DEFAULT 0,
  udp_ports_free     integer NOT NULL DEFAULT 0,
  gpu_slots_total    integer NOT NULL DEFAULT 0,
  gpu_slots_free     integer NOT NULL DEFAULT 0,
  -- A host whose heartbeat_at is older than host_timeout is never chosen.
  host_timeout       interval NOT NULL DEFAULT '15 seconds',
  heartbeat_at       timestamptz,
  started_at         timestamptz NOT NULL DEFAULT now(),
  lost_at            timestamptz
);

-- One row per box any host has held: live ones mirror docker-svc, ended ones keep how they
-- ended. `state` is Berth's box state, or PENDING (recorded by assign, not yet on its host) or
-- GONE (removed from its host).
CREATE TABLE berth.boxes (
  id           text PRIMARY KEY
               CHECK (id ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]*$' AND length(id) <= 64),
  host_id      text NOT NULL REFERENCES berth.hosts (id),
  app          text NOT NULL,
  user_id      text NOT NULL DEFAULT '',
  session_id   text NOT NULL DEFAULT '',
  state        text NOT NULL CHECK (state IN ('PENDING', 'WAITING', 'ALLOCATED', 'CONNECTING',
                                              'RUNNING', 'DYING', 'FAILED', 'GONE')),
  -- What the host must still do for this row: CREATE (a cold assign), CREATING (the agent has
  -- begun the create), ASSIGN (a warm assign), STOP (stop_box). NULL: nothing.
  action       text CHECK (action IN ('CREATE', 'CREATING', 'ASSIGN', 'STOP')),
  -- [{"protocol": "tcp"|"udp", "container_port": n, "host_port": n}, ...]
  ports        jsonb NOT NULL DEFAULT '[]',
  tty          integer,
  gpu_index    integer,
  created_at   timestamptz NOT NULL DEFAULT now(),
  assigned_at  timestamptz,
  ready_at     timestamptz,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  ended_at     timestamptz,
  reason       text NOT NULL DEFAULT '',
  exit_code    integer,
  oom_killed   boolean
);
CREATE INDEX boxes_warm ON berth.boxes (app, host_id, created_at)
  WHERE state = 'WAITING' AND action IS NULL AND user_id = '';
CREATE INDEX boxes_pending ON berth.boxes (host_id) WHERE action IS NOT NULL;
CREATE INDEX boxes_live ON berth.boxes (host_id) WHERE state NOT IN ('FAILED', 'GONE');
CREATE INDEX boxes_session ON berth.boxes (app, user_id, session_id)
  WHERE state NOT IN ('DYING', 'FAILED', 'GONE');

-- One row per published port of every live box, with where to reach it.
CREATE VIEW berth.box_routes AS
SELECT b.id AS box_id, b.app, b.user_id, b.session_id, b.state, b.host_id,
       h.address AS host_address,
       btrim(regexp_replace(h.address, ':[0-9]+$', ''), '[]') AS host_ip,
       p ->> 'protocol' AS protocol,
       (p ->> 'container_port')::integer AS container_port,
       (p ->> 'host_port')::integer AS host_port
FROM berth.boxes b
JOIN berth.hosts h ON h.id = b.host_id
CROSS JOIN LATERAL jsonb_array_elements(b.ports) AS p
WHERE b.state IN ('WAITING', 'ALLOCATED', 'CONNECTING', 'RUNNING') AND h.status <> 'LOST';

-- ---- Errors -----------------------------------------------------------------------------------
-- SQLSTATE 22023 (invalid_parameter_value): a bad argument, named in the message.
-- SQLSTATE BR001: no host can take the box; the message says why.
-- SQLSTATE BR002: no such box.  BR003: no such host.

-- Raises 22023 naming `what` and its `rule` unless `value` matches `pattern` and has at most
-- `max_length` characters.
CREATE FUNCTION berth.check_text(what text, value text, pattern text, max_length integer,
                                 rule text)
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF value IS NULL OR length(value) > max_length OR value !~ pattern THEN
    RAISE EXCEPTION 'berth: % must be %', what, rule USING ERRCODE = '22023';
  END IF;
END $$;

CREATE FUNCTION berth.check_host_id(value text) RETURNS void LANGUAGE sql IMMUTABLE AS $$
  SELECT berth.check_text('host_id', value, '^[A-Za-z0-9][A-Za-z0-9._-]*$', 253,
                          'a host id: 1 to 253 of A-Z a-z 0-9 . _ -')
$$;

-- The NOTIFY channel of a host (a host id may be longer than a channel name may).
CREATE FUNCTION berth.host_channel(host text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT 'berth_host_' || md5(host)
$$;

-- A host is eligible for placement: ACTIVE, with a fresh heartbeat.
CREATE FUNCTION berth.host_is_fresh(h berth.hosts) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT h.status = 'ACTIVE' AND h.heartbeat_at > now() - h.host_timeout
$$;

-- ---- The webserver's calls -------------------------------------------------------------------

-- Gives (app, user, session) a box: the same one again if it has a live one; else a WAITING box
-- of `app` on the least-loaded fresh ACTIVE host (in `zone`, when given) — concurrent callers
-- never get the same one; else a new box recorded for the least-loaded such host that serves
-- `app` and has room. Its host is told at once (NOTIFY) and makes it so. Errors: 22023 for a bad
-- argument, BR001 when no host can take it.
CREATE FUNCTION berth.assign(p_app text, p_user_id text, p_session_id text,
                             p_zone text DEFAULT NULL)
RETURNS TABLE (box_id text, host_id text, host_address text)
LANGUAGE plpgsql AS $$
DECLARE
  v_box text;
  v_host text;
  v_serving integer := 0;
BEGIN
  PERFORM berth.check_text('app', p_app, '^[a-z0-9][a-z0-9._-]*$', 64,
                           'a profile name: 1 to 64 of a-z 0-9 . _ -');
  PERFORM berth.check_text('user_id', p_user_id, '^[!-~]+$', 256,
                           '1 to 256 printable ASCII characters without spaces');
  PERFORM berth.check_text('session_id', p_session_id, '^[!-~]+$', 256,
                           '1 to 256 printable ASCII characters without spaces');
  IF p_zone IS NOT NULL THEN
    PERFORM berth.check_text('zone', p_zone, '^[A-Za-z0-9._-]*$', 63,
                             'at most 63 of A-Z a-z 0-9 . _ -');
  END IF;
  -- Callers for one (app, user, session) take turns, so that a repeated call finds the first.
  PERFORM pg_advisory_xact_lock(hashtextextended(
      p_app || chr(31) || p_user_id || chr(31) || p_session_id, 0));

  SELECT b.id, b.host_id INTO v_box, v_host FROM berth.boxes b
  WHERE b.app = p_app AND b.user_id = p_user_id AND b.session_id = p_session_id
    AND b.state NOT IN ('DYING', 'FAILED', 'GONE') AND b.action IS DISTINCT FROM 'STOP'
  ORDER BY b.created_at DESC LIMIT 1;
  IF FOUND THEN
    RETURN QUERY SELECT v_box, v_host, (SELECT address FROM berth.hosts WHERE id = v_host);
    RETURN;
  END IF;

  -- Warm: a WAITING box, least-loaded host first; SKIP LOCKED lets concurrent callers pass by
  -- the boxes other callers are claiming.
  SELECT b.id, b.host_id INTO v_box, v_host
  FROM berth.boxes b JOIN berth.hosts hs ON hs.id = b.host_id
  WHERE b.app = p_app AND b.state = 'WAITING' AND b.action IS NULL AND b.user_id = ''
    AND berth.host_is_fresh(hs) AND (p_zone IS NULL OR hs.zone = p_zone)
  ORDER BY (hs.boxes_total - hs.boxes_free)::float8 / greatest(hs.boxes_total, 1), b.created_at
  LIMIT 1
  FOR UPDATE OF b SKIP LOCKED;
  IF FOUND THEN
    UPDATE berth.boxes SET user_id = p_user_id, session_id = p_session_id, action = 'ASSIGN',
                           assigned_at = now(), updated_at = now()
    WHERE id = v_box;
    PERFORM pg_notify(berth.host_channel(v_host), v_box);
    RETURN QUERY SELECT v_box, v_host, (SELECT address FROM berth.hosts WHERE id = v_host);
    RETURN;
  END IF;

  -- Cold: the least-loaded host that serves the app and has room. Cold placements take turns
  -- (one transaction-scoped lock for all of them), so that two never count the same room and
  -- none waits on another in a different order; no host row is locked, so heartbeats go on.
  PERFORM pg_advisory_xact_lock(hashtextextended('berth.assign cold placement', 0));
  SELECT c.id, c.address INTO v_host, v_box FROM (
    SELECT hs.id, hs.address, hs.boxes_total,
           (SELECT count(*) FROM berth.boxes lb
            WHERE lb.host_id = hs.id AND lb.state NOT IN ('FAILED', 'GONE')) AS live
    FROM berth.hosts hs
    WHERE berth.host_is_fresh(hs) AND p_app = ANY (hs.apps)
      AND (p_zone IS NULL OR hs.zone = p_zone)) c
  WHERE c.live < c.boxes_total
  ORDER BY c.live::float8 / greatest(c.boxes_total, 1), c.id
  LIMIT 1;
  IF FOUND THEN
    -- (v_box holds the host's address here.)
    v_box := gen_random_uuid()::text;
    INSERT INTO berth.boxes (id, host_id, app, user_id, session_id, state, action, assigned_at)
    VALUES (v_box, v_host, p_app, p_user_id, p_session_id, 'PENDING', 'CREATE', now());
    PERFORM pg_notify(berth.host_channel(v_host), v_box);
    RETURN QUERY SELECT v_box, v_host, (SELECT address FROM berth.hosts WHERE id = v_host);
    RETURN;
  END IF;
  SELECT count(*) INTO v_serving FROM berth.hosts hs
  WHERE berth.host_is_fresh(hs) AND p_app = ANY (hs.apps) AND (p_zone IS NULL OR hs.zone = p_zone);
  IF v_serving = 0 THEN
    RAISE EXCEPTION 'berth.assign: no ACTIVE host with a fresh heartbeat% serves app "%"',
        CASE WHEN p_zone IS NULL THEN '' ELSE format(' in zone "%s"', p_zone) END, p_app
      USING ERRCODE = 'BR001';
  END IF;
  RAISE EXCEPTION 'berth.assign: all % ACTIVE hosts that serve app "%" are full and none has a WAITING box of it',
      v_serving, p_app USING ERRCODE = 'BR001';
END $$;

-- Asks a box's host to stop it. A box already ended: nothing to do. Error BR002 when there is
-- no such box.
CREATE FUNCTION berth.stop_box(p_box_id text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_host text;
BEGIN
  PERFORM berth.check_text('box_id', p_box_id, '^[A-Za-z0-9_][A-Za-z0-9_.-]*$', 64,
                           'a box id: 1 to 64 of A-Z a-z 0-9 _ . - not starting with . or -');
  PERFORM 1 FROM berth.boxes WHERE id = p_box_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'berth.stop_box: no box "%"', p_box_id USING ERRCODE = 'BR002';
  END IF;
  UPDATE berth.boxes SET action = 'STOP', updated_at = now()
  WHERE id = p_box_id AND state NOT IN ('FAILED', 'GONE')
  RETURNING host_id INTO v_host;
  IF v_host IS NOT NULL THEN
    PERFORM pg_notify(berth.host_channel(v_host), p_box_id);
  END IF;
END $$;

-- Drains a host: no placement goes to it from now on; its agent has docker-svc stop its WAITING
-- boxes and refuse new ones, and sets DRAINED once no box is left. Error BR003: no such host.
CREATE FUNCTION berth.drain_host(p_host_id text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM berth.check_host_id(p_host_id);
  UPDATE berth.hosts SET drain_requested = true,
         status = CASE WHEN status IN ('PRE_CONNECTION', 'ACTIVE') THEN 'DRAINING' ELSE status END
  WHERE id = p_host_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'berth.drain_host: no host "%"', p_host_id USING ERRCODE = 'BR003';
  END IF;
  PERFORM pg_notify(berth.host_channel(p_host_id), '');
END $$;

-- Ends a drain: the agent has docker-svc take boxes again, and the host turns ACTIVE at its
-- next heartbeat. Error BR003: no such host.
CREATE FUNCTION berth.undrain_host(p_host_id text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM berth.check_host_id(p_host_id);
  UPDATE berth.hosts SET drain_requested = false WHERE id = p_host_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'berth.undrain_host: no host "%"', p_host_id USING ERRCODE = 'BR003';
  END IF;
  PERFORM pg_notify(berth.host_channel(p_host_id), '');
END $$;

-- Marks LOST every host whose heartbeat is older than its host_timeout, and GONE the boxes it
-- held ("host lost"). Returns the hosts it marked. Any agent or a cron job may call it.
CREATE FUNCTION berth.reap_lost_hosts() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  v_lost text[];
BEGIN
  WITH lost AS (
    UPDATE berth.hosts SET status = 'LOST', lost_at = now()
    WHERE status <> 'LOST' AND (heartbeat_at IS NULL OR heartbeat_at < now() - host_timeout)
      AND started_at < now() - host_timeout
    RETURNING id)
  SELECT coalesce(array_agg(id), '{}') INTO v_lost FROM lost;
  UPDATE berth.boxes SET state = 'GONE', action = NULL, reason = 'host lost', ended_at = now(),
                         updated_at = now()
  WHERE host_id = ANY (v_lost) AND state NOT IN ('FAILED', 'GONE');
  RETURN QUERY SELECT unnest(v_lost);
END $$;

-- ---- The agent's calls (one statement each) ---------------------------------------------------

-- A host (re)starts: PRE_CONNECTION until its agent has mirrored its boxes (DRAINING when a
-- drain was asked for). Keeps drain_requested.
CREATE FUNCTION berth.register_host(p_id text, p_address text, p_zone text, p_version text,
                                    p_host_timeout interval)
RETURNS boolean LANGUAGE sql AS $$
  INSERT INTO berth.hosts (id, address, zone, version, host_timeout, status, started_at)
  VALUES (p_id, p_address, p_zone, p_version, p_host_timeout, 'PRE_CONNECTION', now())
  ON CONFLICT (id) DO UPDATE SET
    address = EXCLUDED.address, zone = EXCLUDED.zone, version = EXCLUDED.version,
    host_timeout = EXCLUDED.host_timeout, started_at = now(), lost_at = NULL,
    status = CASE WHEN berth.hosts.drain_requested THEN 'DRAINING' ELSE 'PRE_CONNECTION' END
  RETURNING drain_requested
$$;

-- A heartbeat with docker-svc's Host report. `p_synced`: the agent's mirror of the host's boxes
-- is complete. Sets the status the report and the drain request imply, reaps the fleet's lost
-- hosts (reap_lost_hosts: every live agent does it, so that no cron job is needed), and
-- returns the drain request and whether the agent applied it, how many of the host's rows wait
-- for an action (the sweep for lost NOTIFYs), and whether the host was LOST (its boxes were
-- ended: the agent mirrors them again). No row: the host is not registered.
CREATE FUNCTION berth.heartbeat(
    p_id text, p_drain_state text, p_synced boolean, p_apps text[],
    p_boxes_total integer, p_boxes_free integer, p_ttys_total integer, p_ttys_free integer,
    p_tcp_total integer, p_tcp_free integer, p_udp_total integer, p_udp_free integer,
    p_gpu_total integer, p_gpu_free integer,
    OUT drain_requested boolean, OUT drain_applied boolean, OUT status text,
    OUT pending_actions integer, OUT was_lost boolean)
RETURNS SETOF record LANGUAGE plpgsql AS $$
BEGIN
  SELECT h.status = 'LOST' INTO was_lost FROM berth.hosts h WHERE h.id = p_id;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  UPDATE berth.hosts h SET
    heartbeat_at = now(), lost_at = NULL, apps = p_apps,
    boxes_total = p_boxes_total, boxes_free = p_boxes_free,
    ttys_total = p_ttys_total, ttys_free = p_ttys_free,
    tcp_ports_total = p_tcp_total, tcp_ports_free = p_tcp_free,
    udp_ports_total = p_udp_total, udp_ports_free = p_udp_free,
    gpu_slots_total = p_gpu_total, gpu_slots_free = p_gpu_free,
    status = CASE
      WHEN h.drain_requested AND p_drain_state = 'DRAINED' THEN 'DRAINED'
      WHEN h.drain_requested THEN 'DRAINING'
      WHEN h.status = 'LOST' THEN 'PRE_CONNECTION'
      WHEN p_synced AND p_drain_state = 'SERVING' THEN 'ACTIVE'
      WHEN p_drain_state IN ('DRAINING', 'DRAINED') THEN 'DRAINING'
      ELSE 'PRE_CONNECTION' END
  WHERE h.id = p_id
  RETURNING h.drain_requested, h.drain_applied, h.status
  INTO drain_requested, drain_applied, status;
  SELECT count(*)::integer INTO pending_actions FROM berth.boxes b
  WHERE b.host_id = p_id AND b.action IS NOT NULL;
  PERFORM berth.reap_lost_hosts();
  RETURN NEXT;
END $$;

-- The agent drained (true) or undrained (false) docker-svc for the fleet.
CREATE FUNCTION berth.set_drain_applied(p_id text, p_applied boolean) RETURNS void
LANGUAGE sql AS $$
  UPDATE berth.hosts SET drain_applied = p_applied WHERE id = p_id
$$;

-- A box as docker-svc shows it (snapshot or change). A box's user never goes back to none in
-- docker-svc, so an event without one (a stale one: the watch and the agent's workers write
-- on connections of their own, in no fixed order) keeps the row's user and session, and a box
-- assigned by the fleet is never offered again. docker-svc is the truth about what exists: a
-- row ended by mistake comes back. A box id of another host's row changes nothing.
CREATE FUNCTION berth.mirror_box(p_host text, p_id text, p_app text, p_user_id text,
                                 p_session_id text, p_state text, p_ports jsonb, p_tty integer,
                                 p_gpu_index integer, p_created_at timestamptz,
                                 p_ready_at timestamptz, p_reason text)
RETURNS void LANGUAGE sql AS $$
  INSERT INTO berth.boxes AS b (id, host_id, app, user_id, session_id, state, ports, tty,
                                gpu_index, created_at, ready_at, reason)
  VALUES (p_id, p_host, p_app, p_user_id, p_session_id, p_state, p_ports, p_tty, p_gpu_index,
          coalesce(p_created_at, now()), p_ready_at, p_reason)
  ON CONFLICT (id) DO UPDATE SET
    app = EXCLUDED.app, state = EXCLUDED.state,
    user_id = CASE WHEN EXCLUDED.user_id = '' THEN b.user_id ELSE EXCLUDED.user_id END,
    session_id = CASE WHEN EXCLUDED.user_id = '' THEN b.session_id ELSE EXCLUDED.session_id END,
    ports = EXCLUDED.ports, tty = EXCLUDED.tty, gpu_index = EXCLUDED.gpu_index,
    ready_at = EXCLUDED.ready_at, reason = EXCLUDED.reason, ended_at = NULL,
    updated_at = now()
  WHERE b.host_id = EXCLUDED.host_id
$$;

-- A box left its host: FAILED when it ended failed, else GONE, with how it ended.
CREATE FUNCTION berth.box_gone(p_host text, p_id text, p_failed boolean, p_reason text,
                               p_exit_code integer, p_oom_killed boolean)
RETURNS void LANGUAGE sql AS $$
  UPDATE berth.boxes SET state = CASE WHEN p_failed THEN 'FAILED' ELSE 'GONE' END,
         action = NULL, reason = p_reason, exit_code = p_exit_code, oom_killed = p_oom_killed,
         ended_at = now(), updated_at = now()
  WHERE id = p_id AND host_id = p_host AND state NOT IN ('FAILED', 'GONE')
$$;

-- After a full snapshot of docker-svc's boxes (`p_live`): the host's rows of boxes it no longer
-- has are ended. Rows being made (CREATE, CREATING) are left to the agent: docker-svc's
-- snapshot leaves out boxes still being created.
CREATE FUNCTION berth.resync_host(p_host text, p_live text[]) RETURNS integer
LANGUAGE sql AS $$
  WITH ended AS (
    UPDATE berth.boxes SET state = 'GONE', reason = 'gone from its host', action = NULL,
                           ended_at = now(), updated_at = now()
    WHERE host_id = p_host AND state NOT IN ('FAILED', 'GONE')
      AND (action IS NULL OR action NOT IN ('CREATE', 'CREATING')) AND id <> ALL (p_live)
    RETURNING 1)
  SELECT count(*)::integer FROM ended
$$;

-- The rows of a host that wait for an action, oldest first, with their state and how long
-- since the row last changed.
CREATE FUNCTION berth.pending_actions(p_host text)
RETURNS TABLE (box_id text, action text, app text, user_id text, session_id text, state text,
               idle_seconds double precision)
LANGUAGE sql STABLE AS $$
  SELECT id, action, app, user_id, session_id, state,
         extract(epoch FROM now() - updated_at)::double precision
  FROM berth.boxes
  WHERE host_id = p_host AND action IS NOT NULL ORDER BY updated_at
$$;

-- The agent starts a create: CREATE -> CREATING. False when the row no longer asks for it.
CREATE FUNCTION berth.begin_create(p_host text, p_id text) RETURNS boolean LANGUAGE sql AS $$
  WITH begun AS (
    UPDATE berth.boxes SET action = 'CREATING', updated_at = now()
    WHERE id = p_id AND host_id = p_host AND action = 'CREATE' RETURNING 1)
  SELECT count(*) = 1 FROM begun
$$;

-- The agent did `p_action` (CREATING, ASSIGN or STOP): the row asks nothing more of it (unless
-- it asks for something else by now, e.g. a STOP during a create).
CREATE FUNCTION berth.action_done(p_host text, p_id text, p_action text) RETURNS void
LANGUAGE sql AS $$
  UPDATE berth.boxes SET action = NULL, updated_at = now()
  WHERE id = p_id AND host_id = p_host AND action = p_action
$$;

-- The host could not do `p_action`: the row is FAILED with the reason.
CREATE FUNCTION berth.action_failed(p_host text, p_id text, p_action text, p_reason text)
RETURNS void LANGUAGE sql AS $$
  UPDATE berth.boxes SET state = 'FAILED', action = NULL, reason = p_reason, ended_at = now(),
                         updated_at = now()
  WHERE id = p_id AND host_id = p_host AND action = p_action
$$;
