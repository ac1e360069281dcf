-- Every operation of the service is one call to one of these functions.

-- Payments their processors accepted (a JSON array of {correlationId,
-- processor, amountCents, requestedAt}), each once: a second record of the
-- same correlationId changes nothing. Their pending copies, if any, are done with.
CREATE OR REPLACE FUNCTION record_payments(p_payments jsonb) RETURNS void LANGUAGE sql AS $$
  WITH accepted AS (
    SELECT * FROM jsonb_to_recordset(p_payments)
      AS x ("correlationId" uuid, processor text, "amountCents" bigint, "requestedAt" timestamptz)
  ), done AS (
    DELETE FROM pending_payments p USING accepted a WHERE p.correlation_id = a."correlationId"
  )
  INSERT INTO payments (correlation_id, processor, amount_cents, requested_at)
  SELECT "correlationId", processor, "amountCents", "requestedAt" FROM accepted
  ON CONFLICT (correlation_id) DO NOTHING;
$$;

-- Totals per processor over [p_from, p_to] by requested_at, both inclusive;
-- NULL bounds are open. Both processors always appear. The total is in cents,
-- as float8: it holds every integer below 2^53 exactly, and it is the number
-- JavaScript reads it as (int8 would arrive as a bigint).
CREATE OR REPLACE FUNCTION payment_totals(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (processor text, total_requests integer, total_cents float8)
LANGUAGE sql STABLE AS $$
  SELECT p.name, count(x.correlation_id)::integer, COALESCE(sum(x.amount_cents), 0)::float8
    FROM (VALUES ('default'), ('fallback')) AS p (name)
    LEFT JOIN payments x
      ON x.processor = p.name
     AND x.requested_at >= COALESCE(p_from, '-infinity')
     AND x.requested_at <= COALESCE(p_to, 'infinity')
   GROUP BY p.name
   ORDER BY p.name;
$$;

-- Its predecessor answered decimals; the service now renders them itself.
DROP FUNCTION IF EXISTS payments_summary(timestamptz, timestamptz);

CREATE OR REPLACE FUNCTION purge_payments() RETURNS void LANGUAGE sql AS $$
  DELETE FROM payments;
$$;

-- With JOURNAL on: accepted payments (a JSON array of {owner, correlationId,
-- amountCents}) written before the 202, so that a killed instance loses none.
-- One already recorded is not journaled again.
CREATE OR REPLACE FUNCTION journal_payments(p_payments jsonb) RETURNS void LANGUAGE sql AS $$
  INSERT INTO pending_payments (correlation_id, owner, amount_cents)
  SELECT x."correlationId", x.owner, x."amountCents"
    FROM jsonb_to_recordset(p_payments) AS x (owner text, "correlationId" uuid, "amountCents" bigint)
   WHERE NOT EXISTS (SELECT 1 FROM payments p WHERE p.correlation_id = x."correlationId")
  ON CONFLICT (correlation_id) DO NOTHING;
$$;

-- A pending payment that turned out to be another's (its processor held the
-- correlationId before we ever sent it): nothing of ours to dispatch.
CREATE OR REPLACE FUNCTION forget_pending(p_correlation_id uuid) RETURNS void LANGUAGE sql AS $$
  DELETE FROM pending_payments WHERE correlation_id = p_correlation_id;
$$;

-- Keeps an instance's undispatched payments (a JSON array of
-- {correlation_id, amount_cents, sent_to, sent_at}) for its next start.
CREATE OR REPLACE FUNCTION save_pending(p_owner text, p_payments jsonb) RETURNS integer
LANGUAGE sql AS $$
  WITH saved AS (
    INSERT INTO pending_payments (correlation_id, owner, amount_cents, sent_to, sent_at)
    SELECT correlation_id, p_owner, amount_cents, sent_to, sent_at
      FROM jsonb_to_recordset(p_payments)
        AS x (correlation_id uuid, amount_cents bigint, sent_to text, sent_at timestamptz)
     -- One already recorded is done: a second dispatch would only be refused.
     WHERE NOT EXISTS (SELECT 1 FROM payments p WHERE p.correlation_id = x.correlation_id)
    ON CONFLICT (correlation_id) DO UPDATE
      SET owner = EXCLUDED.owner, sent_to = EXCLUDED.sent_to, sent_at = EXCLUDED.sent_at
    RETURNING 1
  )
  SELECT count(*)::integer FROM saved;
$$;

-- An instance's pending payments, as it left them. They stay in the table
-- until recorded, so a crash right after start-up still loses none.
CREATE OR REPLACE FUNCTION pending_of(p_owner text)
RETURNS TABLE (correlation_id text, amount_cents integer, sent_to text, sent_at text)
LANGUAGE sql STABLE AS $$
  SELECT correlation_id::text, amount_cents::integer, sent_to,
         to_char(sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    FROM pending_payments
   WHERE owner = p_owner
   ORDER BY sent_at NULLS LAST;
$$;

-- The shared view of a processor's health, and whether the caller is the one
-- to refresh it: at most one instance wins the claim per p_interval_ms, so
-- all instances together stay within the endpoint's rate limit.
CREATE OR REPLACE FUNCTION poll_processor_health(p_processor text, p_interval_ms integer)
RETURNS TABLE (failing boolean, min_response_time integer, age_ms integer, claimed boolean)
LANGUAGE plpgsql AS $$
DECLARE
  won boolean;
BEGIN
  UPDATE processor_health h
     SET claimed_at = clock_timestamp()
   WHERE h.processor = p_processor
     AND h.claimed_at < clock_timestamp() - make_interval(secs => p_interval_ms / 1000.0)
  RETURNING true INTO won;
  RETURN QUERY
    SELECT h.failing, h.min_response_time,
           LEAST(extract(epoch FROM clock_timestamp() - h.checked_at) * 1000, 2147483647)::integer,
           COALESCE(won, false)
      FROM processor_health h
     WHERE h.processor = p_processor;
END $$;

CREATE OR REPLACE FUNCTION report_processor_health(p_processor text, p_failing boolean, p_min_response_time integer)
RETURNS void LANGUAGE sql AS $$
  UPDATE processor_health
     SET failing = p_failing, min_response_time = p_min_response_time, checked_at = clock_timestamp()
   WHERE processor = p_processor;
$$;

-- Whether the database can serve the contract: both processors' health rows
-- are there. The API checks it every second and applies this folder again
-- when it is false (see src/Platform/Sql.ts).
CREATE OR REPLACE FUNCTION service_ready() RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT count(*) = 2 FROM processor_health
$$;
