-- ISO-8601 in UTC with microseconds and a trailing Z, the contract's format.
CREATE OR REPLACE FUNCTION iso_utc(momento timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT to_char(momento AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- One call, one round trip: applies a credit or debit atomically and records it.
-- resultado is 'ok' (saldo and limite set), 'cliente_inexistente', or
-- 'limite_excedido' (the debit would pass -limite, or the credit would overflow
-- the integer balance); nothing is written unless it is 'ok'.
CREATE OR REPLACE FUNCTION registrar_transacao(
  p_cliente_id integer, p_valor integer, p_tipo text, p_descricao text,
  OUT resultado text, OUT saldo integer, OUT limite integer
)
LANGUAGE plpgsql AS $$
DECLARE
  -- bigint so that the bounds check itself cannot overflow.
  delta bigint := CASE p_tipo WHEN 'c' THEN p_valor ELSE -p_valor::bigint END;
BEGIN
  -- The conditional UPDATE takes the row lock and re-checks the condition on the
  -- latest balance, so concurrent calls serialise per client without a read first.
  UPDATE clientes AS c
     SET saldo = c.saldo + delta
   WHERE c.id = p_cliente_id
     AND c.saldo + delta BETWEEN -c.limite AND 2147483647
  RETURNING 'ok', c.saldo, c.limite INTO resultado, saldo, limite;

  IF FOUND THEN
    -- clock_timestamp(), not now(): taken while holding the row lock, so per
    -- client realizada_em grows in the same order as id.
    INSERT INTO transacoes (cliente_id, valor, tipo, descricao, realizada_em)
    VALUES (p_cliente_id, p_valor, p_tipo::"char", p_descricao, clock_timestamp());
  ELSIF EXISTS (SELECT FROM clientes AS c WHERE c.id = p_cliente_id) THEN
    resultado := 'limite_excedido';
  ELSE
    resultado := 'cliente_inexistente';
  END IF;
END
$$;

-- Balance, limit, query time and the 10 newest transactions from ONE statement,
-- hence one snapshot. No row when the client does not exist.
CREATE OR REPLACE FUNCTION extrato(p_cliente_id integer)
RETURNS TABLE (total integer, limite integer, data_extrato text, ultimas_transacoes json)
LANGUAGE sql STABLE AS $$
  SELECT c.saldo,
         c.limite,
         iso_utc(now()),
         COALESCE(
           (SELECT json_agg(json_build_object(
                      'valor', t.valor,
                      'tipo', t.tipo,
                      'descricao', t.descricao,
                      'realizada_em', iso_utc(t.realizada_em)) ORDER BY t.id DESC)
              FROM (SELECT * FROM transacoes
                     WHERE cliente_id = c.id
                     ORDER BY id DESC
                     LIMIT 10) AS t),
           '[]'::json)
    FROM clientes AS c
   WHERE c.id = p_cliente_id
$$;

-- Whether the database can serve the contract: the five clients are there. The
-- API checks it every second and applies this folder again when it is false
-- (a crash of PostgreSQL empties unlogged tables; see src/Platform/Sql.ts).
CREATE OR REPLACE FUNCTION service_ready() RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT count(*) = 5 FROM clientes WHERE id BETWEEN 1 AND 5
$$;
