-- Crébitos tables. Every file in this folder is idempotent: the API applies them
-- on each start-up and the PostgreSQL image runs them as init scripts.

CREATE TABLE IF NOT EXISTS clientes (
  id     integer PRIMARY KEY,
  limite integer NOT NULL CHECK (limite >= 0),
  saldo  integer NOT NULL DEFAULT 0,
  -- The procedure never lets this fire; it is the last line of defence for
  -- anything that writes to the table by hand.
  CONSTRAINT saldo_respeita_limite CHECK (saldo >= -limite)
);

-- No primary key and no foreign key: every row is written by registrar_transacao
-- for the client it has just updated, and read by (cliente_id, id) only. Each
-- key cost PostgreSQL work at every insert (a second index; a trigger looking up
-- the client again), measured in docs/crebitos-efficiency.md.
CREATE TABLE IF NOT EXISTS transacoes (
  id           bigint GENERATED ALWAYS AS IDENTITY,
  cliente_id   integer NOT NULL,
  valor        integer NOT NULL CHECK (valor > 0),
  tipo         "char" NOT NULL CHECK (tipo IN ('c', 'd')),
  -- text, not varchar(10): PostgreSQL counts code points, the contract counts
  -- characters as a user sees them, so the API enforces the length.
  descricao    text NOT NULL,
  realizada_em timestamptz NOT NULL
);

-- The statement reads the newest rows of one client.
CREATE INDEX IF NOT EXISTS transacoes_por_cliente ON transacoes (cliente_id, id DESC);

-- A database created before the keys were dropped: dropped here, and only when
-- present (ALTER TABLE locks the table, and every API start applies this file).
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_constraint WHERE conrelid = 'transacoes'::regclass AND contype IN ('p', 'f')) THEN
    ALTER TABLE transacoes DROP CONSTRAINT IF EXISTS transacoes_pkey,
                           DROP CONSTRAINT IF EXISTS transacoes_cliente_id_fkey;
  END IF;
END
$$;
